#!/usr/bin/python3
"""Independent NumPy check of `gengap run` (study S1, training dynamics).

Runs the program at a small size, then reads ONLY its results folder
(config.json, curves.csv, train.npy, model/*.npy, model/model.json) and
re-implements, from model.json's description alone,

    s_A(x, t) = c(t)/m * A act(W x + U e(t) + b)                (docs/math.md §3)
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

KL columns (docs/math.md §9, §10): their structure (a KL exactly at the taus the
config asks for, nan elsewhere; kl_flags bit 1 exactly when |kl_mass - 1| >
1e-3; the summary's tau* the argmin of kl_quad), and one value re-derived
independently at the saved tau with the smallest KL: the augmented
probability-flow ODE

    dx/dt = f(t) x - g(t)^2/2 s_A(x, t),   dl/dt = d f(t) - g(t)^2/2 div_x s_A,
    log p_theta(x) = log pi(x(T)) + l(T)

integrated with SciPy's solve_ivp (RK45, rtol = atol = 1e-7, every node of
a uniform grid at once), the divergence written out from act', then
KL = int p_0 (log p_0 - log p_theta) and int p_theta by Simpson's rule on 801
nodes. Tolerances: the program's log p_theta (rtol 1e-5) errs by up to ~1e-2
late in training, so its density snapshot must match these log p_theta within
0.05 (relative beyond |log p| = 1) at 40 of its nodes; the quadrature KL must
match within 0.01 + |mass - 1| (the ODE's error shows in the mass), relative
beyond KL = 1, far below the change a wrong divergence or prior would make
(O(0.1) or more).
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
    # KL by quadrature at every 3rd tau, by the ODE over 500 test points at every 5th (+ saved, last).
    "--set", "kl.test_points=500",
    "--set", "kl.tau_stride=3",
    "--set", "kl.ode_tau_stride=5",
]
# The defaults (relu, the default embedding, ou, c = 1, lambda = sigma^2), then
# every other branch of model.json that the reconstruction reads: each
# embedding kind, each activation, output scale and schedule, two weightings.
RUNS = {
    "defaults": SMALL,
    "vp_silu_sinusoidal_inv_sigma": SMALL + [
        "--set", "schedule.kind=vp",
        "--set", "model.activation=silu",
        "--set", "model.embedding=sinusoidal",
        "--set", "model.embedding_dim=4",
        "--set", "model.output_scale=inv_sigma",
        "--set", "model.feature_init=gaussian",
    ],
    "ve_tanh_fourier": SMALL + [
        "--set", "schedule.kind=ve",
        "--set", "model.activation=tanh",
        "--set", "model.embedding=fourier",
        "--set", "model.embedding_scale=2",
    ],
    # lambda = g^2 weighs the loss by 1/sigma_t^2 near t = 0 (heavy tails):
    # a larger t_min keeps the standard errors small enough to be a test.
    "softplus_polynomial_likelihood": SMALL + [
        "--set", "model.activation=softplus",
        "--set", "model.embedding=polynomial",
        "--set", "model.embedding_dim=3",
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
    """mu_t, sigma_t^2 and g(t)^2 of the forward SDE named in model.json (docs/math.md §1)."""

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


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "silu": lambda z: z * _sigmoid(z),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "tanh": np.tanh,
}


DERIVATIVES = {
    "relu": lambda z: (z > 0.0).astype(float),
    "silu": lambda z: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z))),
    "softplus": _sigmoid,
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
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
        if embedding["kind"] in ("fourier", "sinusoidal"):
            self.frequencies = load(embedding["frequencies"])
        else:
            self.horizon = embedding["horizon"]
            self.degree = embedding.get("degree", 1)
        self.embedding_kind = embedding["kind"]
        self.act = ACTIVATIONS[self.spec["activation"]]
        self.act_prime = DERIVATIVES[self.spec["activation"]]
        self.schedule = Schedule(self.spec["schedule"])
        self.t_min, self.T = self.spec["t_min"], self.spec["T"]

    def embed(self, t):
        if self.embedding_kind in ("fourier", "sinusoidal"):
            angle = 2.0 * np.pi * np.outer(t, self.frequencies)
            return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)
        if self.embedding_kind == "polynomial":
            return (t / self.horizon)[:, None] ** np.arange(1, self.degree + 1)[None, :]
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

    def drift_f(self, t):
        if self.schedule.kind == "ou":
            return -1.0
        if self.schedule.kind == "vp":
            return -0.5 * (self.schedule.beta_min + t * (self.schedule.beta_max - self.schedule.beta_min))
        return 0.0

    def prior_variance(self):
        if self.schedule.kind == "ve":
            return float(self.schedule.mean_and_variance(np.array([self.T]))[1][0])
        return 1.0

    def log_likelihood(self, x, k, t_min):
        """log p_theta(x) at t_min of saved A[k] (d = 1): the augmented probability-flow ODE by SciPy."""
        from scipy.integrate import solve_ivp
        A = self.A[k]
        kappa = A[0] * self.W[:, 0]                      # a_i . w_i (d = 1)
        n = len(x)

        def rhs(t, y):
            xs, tt = y[:n], np.full(n, t)
            sigma = np.sqrt(self.schedule.mean_and_variance(tt)[1])
            z = np.outer(xs, self.W[:, 0]) + self.embed(tt) @ self.U.T + self.b
            c = self.c(tt, sigma) / self.m
            score = c * (self.act(z) @ A[0])
            divergence = c * (self.act_prime(z) @ kappa)
            g2 = self.schedule.g2(np.array([t]))[0]
            f = self.drift_f(t)
            return np.concatenate([f * xs - 0.5 * g2 * score, f - 0.5 * g2 * divergence])

        solution = solve_ivp(rhs, (t_min, self.T), np.concatenate([x, np.zeros(n)]), method="RK45",
                             rtol=1e-7, atol=1e-7)
        if not solution.success:
            fail(f"solve_ivp failed: {solution.message}")
        end = solution.y[:, -1]
        v = self.prior_variance()
        return -0.5 * end[:n] ** 2 / v - 0.5 * math.log(2.0 * math.pi * v) + end[n:]

    def score(self, x, k, t):
        """s_A(x, t) of saved A[k] at one time t (d = 1)."""
        tt = np.full(len(x), t)
        sigma = np.sqrt(self.schedule.mean_and_variance(tt)[1])
        z = np.outer(x, self.W[:, 0]) + self.embed(tt) @ self.U.T + self.b
        return self.c(tt, sigma) / self.m * (self.act(z) @ self.A[k][0])

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


def mixture_log_p0(x, mu, variance):
    a = -0.5 * (x - mu) ** 2 / variance
    b = -0.5 * (x + mu) ** 2 / variance
    return np.logaddexp(a, b) + math.log(0.5) - 0.5 * math.log(2.0 * math.pi * variance)


def strided_with_saved(points, stride, saved_rows):
    rows = set(range(0, points, stride)) | set(saved_rows) | {points - 1}
    return sorted(rows)


def check_kl(out, config, curves, model, rows):
    """Structure of the KL columns, and the KL at the last saved tau re-derived with SciPy."""
    kl = config["kl"]
    with open(os.path.join(out, "config.json")) as f:
        summary = json.load(f)["summary"]
    for column in ("kl_ode", "kl_ode_se", "kl_quad", "kl_quad_error", "kl_mass", "kl_flags",
                   "kl_ode_evaluations", "kl_quad_evaluations", "kl_ode_failed", "kl_quad_nodes",
                   "kl_score_integral"):
        if column not in curves:
            fail(f"curves.csv lacks column {column!r}")
    points = len(curves["tau"])
    quad_rows = strided_with_saved(points, kl["tau_stride"], rows) if kl["quadrature"] else []
    ode_rows = strided_with_saved(points, kl["ode_tau_stride"], rows) if kl["test_points"] > 0 else []
    for i in range(points):
        if np.isfinite(curves["kl_quad"][i]) != (i in quad_rows):
            fail(f"kl_quad at row {i}: present={np.isfinite(curves['kl_quad'][i])}, expected {i in quad_rows}")
        if np.isfinite(curves["kl_score_integral"][i]) != (i in quad_rows and kl["score_integral"]):
            fail(f"kl_score_integral at row {i}: present={np.isfinite(curves['kl_score_integral'][i])}")
        if np.isfinite(curves["kl_ode"][i]) != (i in ode_rows):
            fail(f"kl_ode at row {i}: present={np.isfinite(curves['kl_ode'][i])}, expected {i in ode_rows}")
        if i in quad_rows or i in ode_rows:
            flags = int(curves["kl_flags"][i])
            if flags != curves["kl_flags"][i] or not 0 <= flags < 32:
                fail(f"kl_flags at row {i} is {curves['kl_flags'][i]}")
            if i in quad_rows and bool(flags & 1) != (abs(curves["kl_mass"][i] - 1.0) > 1e-3):
                fail(f"row {i}: mass {curves['kl_mass'][i]} but flags {flags}")
            if i in ode_rows and (curves["kl_ode_se"][i] <= 0 or curves["kl_ode_evaluations"][i] < 1):
                fail(f"row {i}: kl_ode_se or kl_ode_evaluations not positive")
    quad = np.where(np.isfinite(curves["kl_quad"]), curves["kl_quad"], np.inf)
    best = int(np.argmin(quad))
    if summary["kl"]["best_index"] != best or summary["kl"]["kl_best"] != curves["kl_quad"][best]:
        fail(f"summary.kl points at row {summary['kl']['best_index']}, argmin of kl_quad is {best}")

    # One KL re-derived: at the saved tau with the smallest quadrature KL (late
    # in training a memorising model's p_theta can underflow almost everywhere).
    k = int(np.argmin([curves["kl_quad"][r] for r in rows]))
    row = rows[k]
    mu, variance = config["target"]["mu"], config["target"]["variance"]
    t_min = kl["t_min"] if kl["t_min"] is not None else model.t_min
    sd = math.sqrt(variance)
    train = np.load(os.path.join(out, "train.npy"))[:, 0]
    lo = min(-mu - 10 * sd, train.min() - sd)
    hi = max(mu + 10 * sd, train.max() + sd)
    x = np.linspace(lo, hi, 801)
    log_p_theta = model.log_likelihood(x, k, t_min)
    log_p0 = mixture_log_p0(x, mu, variance)
    h = x[1] - x[0]
    simpson = np.ones(801)
    simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
    simpson *= h / 3.0
    kl_numpy = float(np.sum(simpson * np.exp(log_p0) * (log_p0 - log_p_theta)))
    mass_numpy = float(np.sum(simpson * np.exp(log_p_theta)))
    mass = curves["kl_mass"][row]
    # Relative beyond KL = 1: a memorising model (n = 20, c = 1/sigma) can reach KL ~ 1e78.
    tolerance = (0.01 + abs(mass - 1.0)) * max(1.0, abs(kl_numpy))
    print(f"  KL at tau={model.tau[k]:.5g}: program {curves['kl_quad'][row]:.5f} (mass {mass:.5f}), "
          f"SciPy {kl_numpy:.5f} (mass on [{lo:.3g}, {hi:.3g}] {mass_numpy:.5f}); Monte Carlo "
          f"{curves['kl_ode'][row]:.5f} +- {curves['kl_ode_se'][row]:.5f}")
    ok = abs(curves["kl_quad"][row] - kl_numpy) <= tolerance

    if kl["score_integral"]:
        # The paper's density (11): the score at t_min integrated in x on a fine
        # grid (cumulative trapezoid, h = 2.5e-4: error ~h^2 |s'| ~ 1e-6 per unit
        # length), normalised on the window; then the same Simpson KL.
        fine = np.linspace(lo, hi, 100 * 800 + 1)
        s_fine = model.score(fine, k, t_min)
        F = np.concatenate([[0.0], np.cumsum(0.5 * (s_fine[1:] + s_fine[:-1]) * np.diff(fine))])
        F_nodes = F[::100]
        log_z = np.log(np.sum(simpson * np.exp(F_nodes - F_nodes.max()))) + F_nodes.max()
        kl_paper = float(np.sum(simpson * np.exp(log_p0) * (log_p0 - (F_nodes - log_z))))
        program = curves["kl_score_integral"][row]
        print(f"  KL with the paper's score-integral density: program {program:.5f}, NumPy {kl_paper:.5f}")
        ok &= abs(program - kl_paper) <= 0.01 * max(1.0, abs(kl_paper))

    snapshot = np.load(os.path.join(out, "densities", f"snapshot_{k}.npy"))
    if snapshot.ndim != 2 or snapshot.shape[1] != 3 or np.any(np.diff(snapshot[:, 0]) <= 0):
        fail(f"densities/snapshot_{k}.npy: expected ascending x in an N x 3 array, got shape {snapshot.shape}")
    if not np.allclose(snapshot[:, 1], np.exp(mixture_log_p0(snapshot[:, 0], mu, variance)), rtol=1e-12, atol=1e-300):
        fail(f"densities/snapshot_{k}.npy: p0 column is not the target density")
    pick = snapshot[np.linspace(0, len(snapshot) - 1, 40).astype(int)]
    pick = pick[pick[:, 2] > 1e-300]  # where p_theta does not underflow
    reference = model.log_likelihood(pick[:, 0], k, t_min)
    worst = float(np.max(np.abs(np.log(pick[:, 2]) - reference) / np.maximum(1.0, np.abs(reference))))
    print(f"  density snapshot {k}: max |log p_theta - SciPy| / max(1, |log p_theta|) over {len(pick)} nodes "
          f"= {worst:.2e}")
    return ok and len(pick) >= 10 and worst <= 0.05


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
    kl_ok = check_kl(out, config, curves, model, rows)
    if not kl_ok:
        print("check_s1_results: the KL differs from the SciPy re-derivation")
    return ok and kl_ok


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
             "4 standard errors, or a KL from the SciPy re-derivation")
    print("check_s1_results: OK")


if __name__ == "__main__":
    main()
