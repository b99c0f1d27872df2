#!/usr/bin/env python3
"""Peer for BM_LogLikelihood (benchmarks/likelihood_benchmark.cpp): the
log-likelihood of the same points under the same saved model, the way a Python
user does it (score_sde's likelihood.py): SciPy solve_ivp(RK45) on the
augmented probability-flow ODE (docs/math.md section 9)

    dx/dt   = f(t) x - 1/2 g(t)^2 s(x, t)
    dell/dt = d f(t) - 1/2 g(t)^2 div_x s(x, t),        from t_min to T,
    log p(x) = log pi(x(T)) + ell(T),

with the random-feature score s = c(t)/m A act(W x + U e(t) + b) and its exact
divergence c(t)/m sum_i act'(z_i) (a_i . w_i) in NumPy.

Modes:
  batch      score_sde's way: the whole batch as one flattened ODE, one step
             size for all points (SciPy's error norm is the RMS over every
             component of every point), timed on all points;
  per-point  one solve_ivp per point (each with its own steps, like gengap),
             timed on --per-point points and extrapolated to all.
Each prints time, nfev (right-hand-side calls; for batch one call evaluates
all points) and the agreement with gengap's log p (max and mean |difference|).
Work-precision: the benchmark writes reference.npy, a tight gengap solve
(dopri5, rtol = atol = 1e-10, per-point steps) of the first points; every run
reports its max and mean |log p - reference| on those points (so runs at
several --rtol can be compared with gengap at matched accuracy).
--reference K re-solves the first K points with SciPy DOP853 at 1e-10 one by
one, to check that reference independently.

Reads what the benchmark writes (run it first) into --dir (default
$GENGAP_LIKELIHOOD_PEER_DIR, else $TMPDIR/gengap_likelihood_peer):
  <dir>/d<d>/model/   saved model (model.json, W, U, b, frequencies, A, tau)
  <dir>/d<d>/x.npy    points, N x d
  <dir>/d<d>/logp.npy gengap's log p;  <dir>/d<d>/evaluations.npy  its evaluations per point

Same thread count as the C++ side (OpenBLAS threads are set before NumPy loads):
  build/benchmarks/likelihood_benchmark
  OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 benchmarks/peers/likelihood_scipy.py --threads 1   # and --threads 2
"""
import argparse
import json
import os
import sys
import tempfile
import time


def parse_arguments():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", default=os.environ.get("GENGAP_LIKELIHOOD_PEER_DIR",
                                                  os.path.join(tempfile.gettempdir(), "gengap_likelihood_peer")),
                   help="folder the benchmark wrote (default: $GENGAP_LIKELIHOOD_PEER_DIR or %(default)s)")
    p.add_argument("--dims", default="1,2", help="comma-separated d to run (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="OpenBLAS/OpenMP threads (default: %(default)s)")
    p.add_argument("--rtol", default="1e-5",
                   help="comma-separated tolerances, each run with atol = rtol unless --atol (default: %(default)s)")
    p.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (0: equal to each rtol)")
    p.add_argument("--batch-points", type=int, default=0, help="points in the batch solve (0: all)")
    p.add_argument("--per-point", type=int, default=20, help="points solved one by one (0: skip)")
    p.add_argument("--reference", type=int, default=0,
                   help="points solved one by one with DOP853 at 1e-10, checked against gengap's reference.npy (0: skip)")
    return p.parse_args()


ARGS = parse_arguments()
for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)
from scipy.integrate import solve_ivp  # noqa: E402


class Schedule:
    """f(t), g(t)^2, sigma_t and the prior variance of model.json's schedule (solvers/schedule.hpp)."""

    def __init__(self, spec):
        self.kind = spec["kind"]
        self.T = spec["T"]
        self.beta_min = spec["beta_min"]
        self.beta_max = spec["beta_max"]
        self.sigma = spec["sigma_max"]

    def beta(self, t):
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def drift(self, t):
        return {"ou": -1.0, "vp": -0.5 * self.beta(t), "ve": 0.0}[self.kind]

    def diffusion_squared(self, t):
        return {"ou": 2.0, "vp": self.beta(t), "ve": self.sigma ** (2 * t)}[self.kind]

    def std_dev(self, t):
        if self.kind == "ou":
            return np.sqrt(-np.expm1(-2 * t))
        if self.kind == "vp":
            return np.sqrt(-np.expm1(-(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t)))
        return np.sqrt((self.sigma ** (2 * t) - 1) / (2 * np.log(self.sigma)))

    def prior_variance(self):
        return float(self.std_dev(self.T) ** 2) if self.kind == "ve" else 1.0


ACTIVATIONS = {  # act(z), act'(z)
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(z.dtype)),
    "silu": (lambda z: z / (1 + np.exp(-z)),
             lambda z: (1 + np.exp(-z) + z * np.exp(-z)) / (1 + np.exp(-z)) ** 2),
    "softplus": (lambda z: np.logaddexp(0.0, z), lambda z: 1 / (1 + np.exp(-z))),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
}


class Model:
    """The saved model at its last tau, evaluated with NumPy only."""

    def __init__(self, folder):
        spec = json.load(open(os.path.join(folder, "model.json")))
        load = lambda name: np.load(os.path.join(folder, name))  # noqa: E731
        self.W, self.U, self.b = load("W.npy"), load("U.npy"), load("b.npy")
        self.A = load("A.npy")[-1]  # d x m
        self.m, self.d = self.W.shape
        self.kappa = np.einsum("ji,ij->i", self.A, self.W)  # a_i . w_i
        self.act, self.act_prime = ACTIVATIONS[spec["activation"]]
        embedding = spec["embedding"]
        if embedding["kind"] == "fourier":
            omega = load("frequencies.npy")
            self.embed = lambda t: np.concatenate([np.sin(2 * np.pi * omega * t), np.cos(2 * np.pi * omega * t)])
        else:
            horizon = embedding["horizon"]
            self.embed = lambda t: np.array([t / horizon])
        self.schedule = Schedule(spec["schedule"])
        self.t_min, self.T = spec["t_min"], spec["T"]
        scale = spec["output_scale"]
        self.c = (lambda t: 1.0) if scale == "one" else (lambda t: 1.0 / self.schedule.std_dev(t))

    def velocity_and_divergence(self, x, t):
        """x: N x d at one time t -> dx/dt (N x d), dell/dt (N)."""
        z = x @ self.W.T + (self.U @ self.embed(t) + self.b)
        scale = self.c(t) / self.m
        score = scale * (self.act(z) @ self.A.T)
        divergence = scale * (self.act_prime(z) @ self.kappa)
        f, g2 = self.schedule.drift(t), self.schedule.diffusion_squared(t)
        return f * x - 0.5 * g2 * score, self.d * f - 0.5 * g2 * divergence

    def log_prior(self, x):
        v = self.schedule.prior_variance()
        return -0.5 * np.sum(x * x, axis=1) / v - 0.5 * self.d * np.log(2 * np.pi * v)


def solve(model, x, method, rtol, atol):
    """One solve_ivp over the flattened batch x (N x d): (log p, nfev, success)."""
    n, d = x.shape

    def rhs(t, y):
        dx, dell = model.velocity_and_divergence(y[: n * d].reshape(n, d), t)
        return np.concatenate([dx.ravel(), dell])

    y0 = np.concatenate([x.ravel(), np.zeros(n)])
    sol = solve_ivp(rhs, (model.t_min, model.T), y0, method=method, rtol=rtol, atol=atol)
    end = sol.y[:, -1]
    log_p = model.log_prior(end[: n * d].reshape(n, d)) + end[n * d:]
    return log_p, sol.nfev, sol.success


def agreement(ours, theirs):
    difference = np.abs(ours - theirs)
    return f"max |diff| {difference.max():.3g}, mean |diff| {difference.mean():.3g}"


def main():
    print(f"SciPy solve_ivp likelihood peer: numpy {np.__version__}, {ARGS.threads} thread(s), "
          f"rtol={ARGS.rtol} atol={ARGS.atol or 'rtol'}")
    for d in (int(v) for v in ARGS.dims.split(",")):
        folder = os.path.join(ARGS.dir, f"d{d}")
        if not os.path.isdir(folder):
            sys.exit(f"{folder}: missing; run build/benchmarks/likelihood_benchmark first")
        model = Model(os.path.join(folder, "model"))
        x = np.load(os.path.join(folder, "x.npy")).reshape(-1, d)
        gengap = np.load(os.path.join(folder, "logp.npy"))
        gengap_evaluations = np.load(os.path.join(folder, "evaluations.npy"))
        n = len(x)
        print(f"d={d}: {n} points, m={model.m}; gengap: mean log p {np.nanmean(gengap):.6f}, "
              f"{gengap_evaluations.mean():.0f} evaluations per point")

        reference_path = os.path.join(folder, "reference.npy")
        reference = np.load(reference_path) if os.path.exists(reference_path) else None

        def versus_reference(values):
            if reference is None:
                return ""
            k = min(len(reference), len(values))
            return f"; vs reference ({k} points): {agreement(values[:k], reference[:k])}"

        nb = ARGS.batch_points or n
        for rtol in (float(v) for v in ARGS.rtol.split(",")):
            atol = ARGS.atol or rtol
            start, cpu = time.perf_counter(), time.process_time()
            log_p, nfev, ok = solve(model, x[:nb], "RK45", rtol, atol)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(f"  batch RK45 rtol={rtol:g} atol={atol:g} ({nb} points as one ODE): {seconds:.2f} s "
                  f"(CPU {cpu:.2f} s), nfev {nfev} (each call evaluates all {nb} points: {nfev} evaluations "
                  f"per point), success {ok}; vs gengap: {agreement(log_p, gengap[:nb])}{versus_reference(log_p)}; "
                  f"mean log p {log_p.mean():.6f}", flush=True)
        rtol = float(ARGS.rtol.split(",")[-1])
        atol = ARGS.atol or rtol

        per_point = {}
        if ARGS.per_point > 0:
            k = min(ARGS.per_point, n)
            start, cpu = time.perf_counter(), time.process_time()
            results = [solve(model, x[i: i + 1], "RK45", rtol, atol) for i in range(k)]
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            per_point = {i: r[0][0] for i, r in enumerate(results)}
            nfev = np.array([r[1] for r in results])
            values = np.array([per_point[i] for i in range(k)])
            print(f"  per-point RK45 ({k} points): {seconds:.2f} s (CPU {cpu:.2f} s) = "
                  f"{seconds / k * 1e3:.1f} ms per point "
                  f"(extrapolated to {n} points: {seconds / k * n:.0f} s), nfev per point {nfev.mean():.0f} "
                  f"(gengap on the same points: {gengap_evaluations[:k].mean():.0f}); "
                  f"vs gengap: {agreement(values, gengap[:k])}{versus_reference(values)}", flush=True)

        if ARGS.reference > 0:
            k = min(ARGS.reference, n)
            start = time.perf_counter()
            dop853 = np.array([solve(model, x[i: i + 1], "DOP853", 1e-10, 1e-10)[0][0] for i in range(k)])
            seconds = time.perf_counter() - start
            print(f"  DOP853 1e-10 one by one ({k} points, {seconds:.1f} s) vs gengap's reference: "
                  f"{agreement(dop853, reference[:k]) if reference is not None else 'no reference.npy'}", flush=True)


if __name__ == "__main__":
    main()
