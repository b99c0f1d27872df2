#!/usr/bin/env python3
"""Peer for BM_SymmetricEigen (benchmarks/gradient_flow_benchmark.cpp):
SciPy's eigh with LAPACK's divide-and-conquer driver (dsyevd, the routine gengap
calls) on a Wishart matrix of the same sizes, on Debian's OpenBLAS.

Run with the same core type and thread count as the C++ benchmark:
  OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=2 /usr/bin/python3 benchmarks/peers/eigh_scipy.py
"""
import time

import numpy as np
import scipy.linalg as sl


def main() -> None:
    rng = np.random.default_rng(0)
    for m in (1024, 2048, 4096):
        features = rng.standard_normal((2 * m, m))
        gram = features.T @ features / (2 * m)
        best = float("inf")
        for _ in range(3 if m < 4096 else 1):
            start = time.perf_counter()
            sl.eigh(gram, driver="evd")
            best = min(best, time.perf_counter() - start)
        print(f"scipy eigh(driver=evd) m={m}: {best:.3f} s")


if __name__ == "__main__":
    main()
