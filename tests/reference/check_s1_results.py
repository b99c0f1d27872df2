#!/usr/bin/python3
"""Independent NumPy check of `gengap run` (study S1, training dynamics).

Runs the program at a small size, then reads ONLY its results folder
(config.json, curves.csv, train.npy, model/*.npy, model/model.json) and
re-implements, from model.json's description alone,

    s_A(x, t) = c(t)/m * A act(W x + U e(t) + b)                (MATH.md §3)
    loss(A)   = E_t E_x0 E_eps [ lambda(t)/2 |s_A(x_t, t) + eps/sigma_t|^2 ]   (§4)

with x_t = mu_t x_0 + sigma_t eps, t ~ U[t_min, T], eps ~ N(0, I). At every
saved A (model/A.npy at model/tau.npy), a Monte Carlo estimate with fresh
draws must match curves.csv:

* loss_train: x_0 uniform over train.npy. The program's loss_train is itself
  a Monte Carlo estimate L_{n,K} with K draws per sample, and A was fitted to
  those very draws. So the two estimates differ by both Monte Carlo errors,
  sd/sqrt(nK) (program) and sd/sqrt(N) (here), with sd the per-draw standard
  deviation measured here; the fitting optimism is of order
  (d m)/(n K) * 2 loss ~ 1e-5 at the sizes below, far inside the tolerance.
  Tolerance: 4 combined standard errors.
* loss_pop: x_0 from the two-mode mixture given in config.json. The program
  computes L by quadrature (Tweedie's identity + Gauss rules), which should be
  exact to far below this estimate's standard error: tolerance 4 standard
  errors of this estimate alone (a quadrature too coarse fails here).

4 standard errors make a false alarm a ~6e-5 event per comparison (12
comparisons per run: ~1e-3), while a wrong formula (activation, embedding
order, c(t), lambda(t), schedule) moves the loss by far more than 4 standard
errors (~1e-3 relative at these sizes; swapping sin and cos in e(t), or a 1%
error in lambda(t), gives |z| of 5 to 10). Four runs cover every activation,
both embeddings, both output scales, all schedules and two weightings. The draws here use a fixed NumPy seed, so
the check is reproducible.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np

SMALL = [
    "--set", "n=20",
    "--set", "model.m=64",
    # nK = 2e6 draws: the program's own Monte Carlo error is ~2e-4.
    "--set", "train_loss.draws_per_sample=100000",
    "--set", "tau.points=30",
]
# The defaults (relu, fourier, ou, c = 1, lambda = sigma^2), then every other
# branch of model.json that the reconstruction reads.
RUNS = {
    "defaults": SMALL,
    "vp_silu_linear_inv_sigma": SMALL + [
        "--set", "schedule.kind=vp",
        "--set", "model.activation=silu",
        "--set", "model.embedding=linear",
        "--set", "model.output_scale=inv_sigma",
        "--set", "model.feature_init=gaussian",
    ],
    "ve_tanh": SMALL + [
        "--set", "schedule.kind=ve",
        "--set", "model.activation=tanh",
        "--set", "model.embedding_scale=2",
    ],
    # lambda = g^2 weighs the loss by 1/sigma_t^2 near t = 0 (heavy tails):
    # a larger t_min keeps the standard errors small enough to be a test.
    "softplus_likelihood": SMALL + [
        "--set", "model.activation=softplus",
        "--set", "weighting=likelihood",
        "--set", "schedule.t_min=0.1",
    ],
}
DRAWS = 2_000_000   # fresh draws per loss here
CHUNK = 100_000


def fail(message):
    print("check_s1_results: FAIL: " + message)
    sys.exit(1)


def read_curves(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    for column in ("tau", "loss_train", "loss_pop", "gap", "norm_growth"):
        if column not in header:
            fail(f"curves.csv lacks column {column!r} (header {header})")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {name: data[:, i] for i, name in enumerate(header)}


class Schedule:
    """mu_t, sigma_t^2 and g(t)^2 of the forward SDE named in model.json (MATH.md §1)."""

    def __init__(self, spec):
        self.kind = spec["kind"]
        self.beta_min = spec["beta_min"]
        self.beta_max = spec["beta_max"]
        self.sigma_max = spec["sigma_max"]
        if self.kind not in ("ou", "vp", "ve"):
            fail(f"unknown schedule {self.kind!r}")

    def mean_and_variance(self, t):
        if self.kind == "ou":
            return np.exp(-t), -np.expm1(-2.0 * t)
        if self.kind == "vp":
            integral = self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t
            return np.exp(-0.5 * integral), -np.expm1(-integral)
        log_sigma = math.log(self.sigma_max)
        return np.ones_like(t), np.expm1(2.0 * t * log_sigma) / (2.0 * log_sigma)

    def g2(self, t):
        if self.kind == "ou":
            return np.full_like(t, 2.0)
        if self.kind == "vp":
            return self.beta_min + t * (self.beta_max - self.beta_min)
        return self.sigma_max ** (2.0 * t)


ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "silu": lambda z: z / (1.0 + np.exp(-z)),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "tanh": np.tanh,
}


class Model:
    """The saved score model, from model/ alone."""

    def __init__(self, folder):
        with open(os.path.join(folder, "model.json")) as f:
            self.spec = json.load(f)
        load = lambda name: np.load(os.path.join(folder, name))
        self.W, self.U, self.b = load("W.npy"), load("U.npy"), load("b.npy")
        self.A, self.tau = load("A.npy"), load("tau.npy")
        self.m, self.d = self.W.shape
        if self.A.shape != (len(self.tau), self.d, self.m):
            fail(f"A.npy has shape {self.A.shape}, expected {(len(self.tau), self.d, self.m)}")
        embedding = self.spec["embedding"]
        if embedding["kind"] == "fourier":
            self.frequencies = load(embedding["frequencies"])
        else:
            self.horizon = embedding["horizon"]
        self.embedding_kind = embedding["kind"]
        self.act = ACTIVATIONS[self.spec["activation"]]
        self.schedule = Schedule(self.spec["schedule"])
        self.t_min, self.T = self.spec["t_min"], self.spec["T"]

    def embed(self, t):
        if self.embedding_kind == "fourier":
            angle = 2.0 * np.pi * np.outer(t, self.frequencies)
            return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)
        return (t / self.horizon)[:, None]

    def c(self, t, sigma):
        return np.ones_like(t) if self.spec["output_scale"] == "one" else 1.0 / sigma

    def weight(self, t, sigma2):
        w = self.spec["weighting"]
        if w == "sigma2":
            return sigma2
        if w == "likelihood":
            return self.schedule.g2(t)
        return np.ones_like(t)

    def point_losses(self, x0, t, eps):
        """lambda(t)/2 |s_A(x_t, t) + eps/sigma_t|^2 for every saved A: (k, N)."""
        mu, sigma2 = self.schedule.mean_and_variance(t)
        sigma = np.sqrt(sigma2)
        xt = mu[:, None] * x0 + sigma[:, None] * eps
        phi = self.act(xt @ self.W.T + self.embed(t) @ self.U.T + self.b)      # N x m
        scores = np.einsum("nm,kdm->knd", phi, self.A) * (self.c(t, sigma) / self.m)[None, :, None]
        residual = scores + (eps / sigma[:, None])[None]
        return 0.5 * self.weight(t, sigma2)[None, :] * np.sum(residual ** 2, axis=2)


def monte_carlo(model, draw_x0, rng):
    """Mean and standard error of the loss at each saved A, and the per-draw sd."""
    total = np.zeros(len(model.tau))
    total_sq = np.zeros(len(model.tau))
    for start in range(0, DRAWS, CHUNK):
        count = min(CHUNK, DRAWS - start)
        x0 = draw_x0(start, count)
        t = rng.uniform(model.t_min, model.T, size=count)
        eps = rng.standard_normal((count, model.d))
        losses = model.point_losses(x0, t, eps)
        total += losses.sum(axis=1)
        total_sq += (losses ** 2).sum(axis=1)
    mean = total / DRAWS
    sd = np.sqrt(np.maximum(total_sq / DRAWS - mean ** 2, 0.0))
    return mean, sd / math.sqrt(DRAWS), sd


def check(cli, out, settings):
    """Runs the program into `out` with `settings`; returns whether every loss matched."""
    command = [cli, "run", "--quiet", "--out", out] + settings
    run = subprocess.run(command, capture_output=True, text=True)
    print(run.stdout, end="")
    if run.returncode != 0:
        fail(f"{' '.join(command)} exited {run.returncode}: {run.stderr.strip()}")

    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)["config"]
    curves = read_curves(os.path.join(out, "curves.csv"))
    train = np.load(os.path.join(out, "train.npy"))
    model = Model(os.path.join(out, "model"))
    n, K = train.shape[0], config["train_loss"]["draws_per_sample"]
    if config["train_loss"]["method"] != "monte_carlo" or config["target"]["kind"] != "two_modes":
        fail("this check expects the Monte Carlo training loss and the two-mode target")
    if not np.array_equal(curves["gap"], curves["loss_pop"] - curves["loss_train"]):
        fail("gap != loss_pop - loss_train in curves.csv")

    rows = [int(np.flatnonzero(curves["tau"] == tau)[0]) if np.any(curves["tau"] == tau) else -1
            for tau in model.tau]
    if -1 in rows:
        fail("a saved tau is not a row of curves.csv")
    if rows[0] != 0 or rows[-1] != len(curves["tau"]) - 1:
        fail("saved taus must include the first and the last")

    rng = np.random.default_rng(20240501)
    # Equal allocation over the training samples, as the program's K draws per sample.
    draw_train = lambda start, count: train[(start + np.arange(count)) % n]
    train_mean, train_se, train_sd = monte_carlo(model, draw_train, rng)

    mu, variance = config["target"]["mu"], config["target"]["variance"]
    def draw_population(start, count):
        sign = np.where(rng.uniform(size=count) < 0.5, -1.0, 1.0)
        return (sign * mu + math.sqrt(variance) * rng.standard_normal(count))[:, None]
    pop_mean, pop_se, _ = monte_carlo(model, draw_population, rng)

    ok = True
    print(f"{'tau':>12} {'loss_train':>12} {'numpy':>12} {'z':>6}   {'loss_pop':>12} {'numpy':>12} {'z':>6}")
    for k, row in enumerate(rows):
        program_se = train_sd[k] / math.sqrt(n * K)
        z_train = (curves["loss_train"][row] - train_mean[k]) / math.hypot(train_se[k], program_se)
        z_pop = (curves["loss_pop"][row] - pop_mean[k]) / pop_se[k]
        print(f"{model.tau[k]:12.5g} {curves['loss_train'][row]:12.6f} {train_mean[k]:12.6f} {z_train:6.2f}   "
              f"{curves['loss_pop'][row]:12.6f} {pop_mean[k]:12.6f} {z_pop:6.2f}")
        ok &= abs(z_train) <= 4.0 and abs(z_pop) <= 4.0
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", required=True, help="path of the gengap program")
    parser.add_argument("--work-dir", required=True, help="scratch folder (replaced)")
    args = parser.parse_args()

    shutil.rmtree(args.work_dir, ignore_errors=True)
    failed = [name for name, settings in RUNS.items()
              if not check(args.cli, os.path.join(args.work_dir, name), settings)]
    if failed:
        fail(f"{', '.join(failed)}: a loss in curves.csv differs from the NumPy estimate by more than "
             "4 standard errors")
    print("check_s1_results: OK")


if __name__ == "__main__":
    main()
