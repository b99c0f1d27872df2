"""S1 at a small size from Python: the exact flow's KL along training time and the density at tau*.

Usage: early_stopping.py [OUT.png]  (PYTHONPATH=build/python; run by ctest as Example_EarlyStoppingPy)
"""
import sys

import gengap  # before numpy: gengap picks OpenBLAS's fast kernels
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

config = {"n": 400, "model": {"m": 256}, "train_loss": {"draws_per_sample": 64},
          "tau": {"points": 24, "saved": 3}, "kl": {"test_points": 200, "ode_tau_stride": 6},
          "bounds": {"enabled": False}}
r = gengap.run_early_stopping(config)
s = r["summary"]["kl"]
print(f"min KL = {s['kl_best']:.4f} at tau* = {s['tau_best']:.3g}; last KL = {s['kl_last']:.3g}")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
ok = np.isfinite(r["kl_quadrature"])
left.loglog(r["tau"][ok], r["kl_quadrature"][ok], "o-")
left.axvline(s["tau_best"], ls="--", c="k")
left.set(xlabel="training time tau", ylabel="KL(p0 || p_theta)", title="early stopping")
best = r["best_density"]
right.plot(best["x"], best["p0"], label="target p0")
right.plot(best["x"], best["p_theta"], label="learned at tau*")
right.hist(r["training_set"][:, 0], bins=60, density=True, alpha=0.3, label="training set")
right.set(xlabel="x", title="density at tau*")
right.legend()
fig.tight_layout()
fig.savefig(sys.argv[1] if len(sys.argv) > 1 else "early_stopping.png", dpi=100)
# The example's own check: an interior minimum, far below the memorising end.
sys.exit(0 if s["interior_minimum"] and s["kl_best"] < 0.5 * s["kl_last"] else 1)
