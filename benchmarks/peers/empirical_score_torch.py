#!/usr/bin/env python3
"""Peer for BM_EmpiricalScore (benchmarks/empirical_score_benchmark.cpp): the
empirical score s_n(x, t) of n training points (docs/math.md section 8), its
log-density log p_t^n(x) and its divergence, the way a careful PyTorch user
writes it: float64, torch.inference_mode(), queries in chunks so that one
chunk x n block of squared distances stays within --chunk-mib, and per chunk

    D2  = torch.cdist(x, mu X).square_()        (cdist's matmul path for large sizes)
    L   = D2.mul_(-1 / (2 sigma^2))              (log-weights, in place)
    lse = torch.logsumexp(L, 1)
    W   = L.sub_(lse[:, None]).exp_()            (softmax weights, in place)
    M   = W @ X;  E2 = W @ |X|^2                 (E_w x_i, E_w |x_i|^2)
    score      = (mu M - x) / sigma^2
    log p      = lse - log n - d/2 log(2 pi sigma^2)
    divergence = mu^2 (E2 - |M|^2) / sigma^4 - d / sigma^2.

Same workload as the C++ benchmark (sizes, distribution, time): training
points X ~ N(0, I_d), queries x = mu_t z0 + sigma_t z with z0, z ~ N(0, I_d)
(test points diffused to t under the ou schedule: mu_t = e^-t,
sigma_t^2 = 1 - e^-2t); different random numbers than the C++ side (the cost
of every operation here is independent of the values). --fraction runs the
first fraction of the queries and scales the time to all of them (say so in
the report). Peak memory: run under /usr/bin/time -v ("Maximum resident set
size"); --print-model prints the block sizes this script allocates.

--chunk-mib: 256 (the default) was the fastest of 64, 256 and 1024 for both
d = 2 and d = 64 on the 2-core test machine (64: ~1.5x, 1024: ~1.2x slower;
smaller chunks fall off cdist's matmul path and are far slower).

Same threads as the C++ side (torch.set_num_threads, OpenBLAS/OpenMP threads
set before torch loads). Debian's torch calls the system BLAS (libblas.so.3,
OpenBLAS here), so time it with the fast core type:
  OPENBLAS_CORETYPE=SkylakeX /usr/bin/time -v /usr/bin/python3 \
      benchmarks/peers/empirical_score_torch.py --dim 64 --threads 2 --fraction 0.05
(5% of the queries: 7.7 s, scaled to 154 s at d = 64 on the 2-core test
machine, idle apart from this run; the time does not depend on --time.)
"""
import argparse
import math
import os
import time


def parse_arguments():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dim", type=int, default=2, help="data dimension d (default: %(default)s)")
    p.add_argument("--train", type=int, default=100000, help="training points n (default: %(default)s)")
    p.add_argument("--queries", type=int, default=100000, help="queries q (default: %(default)s)")
    p.add_argument("--fraction", type=float, default=1.0,
                   help="run this fraction of the queries and scale the time (default: %(default)s)")
    p.add_argument("--time", type=float, default=0.1, help="diffusion time t, ou schedule (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="torch/OpenMP/OpenBLAS threads (default: %(default)s)")
    p.add_argument("--chunk-mib", type=float, default=256.0,
                   help="size of one chunk x n distance block in MiB (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=1, help="timed repetitions, best reported (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


ARGS = parse_arguments()
for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = str(ARGS.threads)

import torch  # noqa: E402  (after the thread settings)


def empirical_score(x, X, X_sq, mu, s2, chunk):
    """score (q x d), log p (q), divergence (q) of queries x against training points X."""
    q, d = x.shape
    n = X.shape[0]
    muX = mu * X
    score = torch.empty_like(x)
    log_p = torch.empty(q, dtype=x.dtype)
    divergence = torch.empty(q, dtype=x.dtype)
    constant = -math.log(n) - 0.5 * d * math.log(2 * math.pi * s2)
    for start in range(0, q, chunk):
        xc = x[start:start + chunk]
        L = torch.cdist(xc, muX).square_().mul_(-0.5 / s2)
        lse = torch.logsumexp(L, 1)
        W = L.sub_(lse[:, None]).exp_()
        M = W @ X
        E2 = W @ X_sq
        score[start:start + chunk] = (mu * M - xc) / s2
        log_p[start:start + chunk] = lse + constant
        divergence[start:start + chunk] = mu * mu * (E2 - (M * M).sum(1)) / (s2 * s2) - d / s2
    return score, log_p, divergence


def main():
    torch.set_num_threads(ARGS.threads)
    generator = torch.Generator().manual_seed(ARGS.seed)
    d, n = ARGS.dim, ARGS.train
    q = max(1, int(round(ARGS.queries * ARGS.fraction)))
    mu = math.exp(-ARGS.time)
    s2 = -math.expm1(-2 * ARGS.time)
    X = torch.randn(n, d, dtype=torch.float64, generator=generator)
    x = mu * torch.randn(q, d, dtype=torch.float64, generator=generator) + math.sqrt(s2) * torch.randn(
        q, d, dtype=torch.float64, generator=generator)
    X_sq = (X * X).sum(1)
    chunk = max(1, int(ARGS.chunk_mib * 2**20 / (8 * n)))
    best = float("inf")
    with torch.inference_mode():
        for _ in range(ARGS.repeats):
            begin = time.perf_counter()
            score, log_p, divergence = empirical_score(x, X, X_sq, mu, s2, chunk)
            best = min(best, time.perf_counter() - begin)
    scale = ARGS.queries / q
    total = best * scale
    pairs = float(ARGS.queries) * n
    # FLOP-equivalent per pair as counted on the C++ side: the distance and the
    # two weighted sums, 2 flops per coordinate each (6 d).
    flops = 6.0 * d * pairs
    print(f"torch {torch.__version__} threads={torch.get_num_threads()} d={d} n={n} queries={ARGS.queries} "
          f"(ran {q}, chunk {chunk} rows = {chunk * n * 8 / 2**20:.0f} MiB per block) t={ARGS.time}")
    print(f"time {total:.3f} s{' (scaled from ' + format(best, '.3f') + ' s)' if scale != 1 else ''}  "
          f"pairs/s {pairs / total:.4g}  GFLOP/s-equivalent {flops / total / 1e9:.3g}")
    print(f"check: mean log p {log_p.mean().item():.6f}  mean |score| {score.norm(dim=1).mean().item():.6f}  "
          f"mean divergence {divergence.mean().item():.6f}")


if __name__ == "__main__":
    main()
