"""Shared setup of gengap's Python tests.

`import gengap` comes from the build tree (GENGAP_PYTHON_DIR, else
<repo>/build/python) and happens before NumPy is imported: gengap's __init__
sets OPENBLAS_CORETYPE, which OpenBLAS reads once, when NumPy (or the
extension) first loads it.
"""
import os
import sys
from pathlib import Path

_python_dir = os.environ.get("GENGAP_PYTHON_DIR") or str(Path(__file__).resolve().parents[2] / "build" / "python")
if _python_dir not in sys.path:
    sys.path.insert(0, _python_dir)

import gengap  # noqa: E402  (before numpy, see above)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PYTHON_DIR = _python_dir


@pytest.fixture(scope="session")
def cli_binary():
    """The command-line program of the same build (skips the test if it was not built)."""
    path = Path(os.environ.get("GENGAP_CLI", Path(PYTHON_DIR).parent / "cli" / "gengap"))
    if not path.is_file():
        pytest.skip(f"the gengap command-line program is not built ({path})")
    return path


@pytest.fixture
def restore_threads():
    """Tests that change gengap's thread limit put the default back."""
    yield
    gengap.set_num_threads(0)


@pytest.fixture(scope="session")
def two_modes():
    return gengap.GaussianMixture.two_modes(3.0)


@pytest.fixture(scope="session")
def mixture_2d():
    """A two-component mixture in d = 2 with full (correlated) covariances."""
    weights = np.array([0.3, 0.7])
    means = np.array([[-1.0, 0.5], [1.5, -0.5]])
    covs = np.array([[[0.6, 0.2], [0.2, 0.4]], [[0.3, -0.1], [-0.1, 0.8]]])
    return gengap.GaussianMixture(weights, means, covs)

