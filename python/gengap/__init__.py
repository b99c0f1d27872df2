"""gengap: exact training dynamics, likelihoods and generalization of random-feature diffusion models.

The C++ library from Python: NumPy float64 arrays in and out (points as rows, shape (N, d)),
computation with the GIL released and interruptible by Ctrl-C, results bitwise equal to the
C++ API and independent of the thread count (set_num_threads).

A typical session::

    import gengap, numpy as np
    target = gengap.GaussianMixture.two_modes(3.0)
    x = target.sample(1000, seed=1)
    setup = gengap.DsmSetup(gengap.Schedule("ou"))
    rf = gengap.draw_random_features(1024, 1, gengap.linear_embedding(5.0), seed=2)
    train = gengap.gram_matrices(rf, gengap.empirical_monte_carlo(x, 256, setup, seed=3))
    flow = gengap.GradientFlow(train)
    A = flow.weights(1e8)
    ll = gengap.log_likelihood(gengap.random_feature_score(rf, A, setup), x[:100], setup.schedule)
"""
import os as _os

# Debian's OpenBLAS 0.3.21 detects this class of CPU as "Prescott" and runs its
# SSE3 kernels (5x slower dgemm). It reads OPENBLAS_CORETYPE once, when it is
# loaded, so the best core this CPU supports is set here, before the extension
# (which links OpenBLAS) is imported; also over a slower inherited value, as the
# C++ programs do (kernels/blas_runtime.hpp), unless GENGAP_ALLOW_SLOW_BLAS=1.
# A process that loaded OpenBLAS earlier (NumPy imported first) keeps its
# kernels: build_info()["openblas_slow_kernels"] says so, and gengap warns.
def _prefer_fast_openblas():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = set()
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        return
    best = ("SkylakeX" if {"avx512f", "avx512dq", "avx512vl"} <= flags
            else "Haswell" if {"avx2", "fma"} <= flags else None)
    rank = {"SkylakeX": 2, "Haswell": 1}
    current = _os.environ.get("OPENBLAS_CORETYPE")
    if best and _os.environ.get("GENGAP_ALLOW_SLOW_BLAS") != "1" and rank.get(current, 0) < rank[best]:
        _os.environ["OPENBLAS_CORETYPE"] = best


_prefer_fast_openblas()

from ._gengap import *  # noqa: E402,F401,F403
from ._gengap import __version__, build_info  # noqa: E402,F401

if build_info()["openblas_slow_kernels"]:
    import warnings as _warnings

    _info = build_info()
    _warnings.warn(
        "gengap: OpenBLAS runs its slow {} kernels on a CPU that supports {}: set "
        "OPENBLAS_CORETYPE={} before starting Python (or import gengap before numpy)".format(
            _info["openblas_core"], _info["openblas_recommended_core"], _info["openblas_recommended_core"]),
        RuntimeWarning, stacklevel=2)
