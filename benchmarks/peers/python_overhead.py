#!/usr/bin/env python3
"""The Python call overhead: benchmarks/python_workload_benchmark.cpp's two workloads
through `import gengap` (same model, same calls and seeds, 2 threads), timed the way
Google Benchmark times them (best of repeated runs of >= 2 s).

  PYTHONPATH=build/python OPENBLAS_NUM_THREADS=2 /usr/bin/python3 benchmarks/peers/python_overhead.py
  build/benchmarks/python_workload_benchmark
"""
import time

import gengap  # first: OpenBLAS's fast kernels
import numpy as np


def timed(fn, min_time=2.0, repeats=3):
    """Mean seconds per call over >= min_time, best of `repeats` such runs."""
    best = float("inf")
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_time:
            fn()
            calls += 1
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main() -> None:
    gengap.set_num_threads(2)
    setup = gengap.DsmSetup(gengap.Schedule("ou"))
    target = gengap.GaussianMixture.two_modes(3.0)
    x = target.sample(1000, seed=1, stream=0)
    rf = gengap.draw_random_features(1024, 1, gengap.linear_embedding(5.0), "relu", "sphere", seed=2)
    flow = gengap.GradientFlow(gengap.gram_matrices(rf, gengap.empirical_monte_carlo(x, 64, setup, seed=3)))
    population = flow.project(gengap.gram_matrices(rf, gengap.population_quadrature(target, 256, 32, setup)))
    A = flow.weights(1e6)
    points = np.ascontiguousarray(x[:512])
    taus = np.array(gengap.log_spaced(1e2, 1e10, 64))
    score = gengap.random_feature_score(rf, A, setup)

    likelihood = timed(lambda: gengap.log_likelihood(score, points, setup.schedule))
    curves = timed(lambda: (flow.train_loss(taus), flow.losses(population, taus), flow.weights(taus)))
    r = gengap.log_likelihood(score, points, setup.schedule)
    print(f"python log_likelihood (512 points, m=1024): {likelihood * 1e3:.2f} ms "
          f"(evaluations {r['total_evaluations']}, mean log p {np.mean(r['log_p']):.6f})")
    print(f"python flow curves (64 taus: L_n, L, A(tau)): {curves * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
