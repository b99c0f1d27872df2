#!/usr/bin/env python3
"""Feature-design sweep at the S1 setting (issue 11): which time embedding,
feature distribution and activation let the frozen random-feature model learn
the two-mode target, stop early and then memorise.

Runs `gengap run` once per design into OUT/<design>/ (a complete S1 results
folder each) and writes OUT/table.md and OUT/table.csv with, per design:
min KL and tau*, whether the minimum is interior, KL at the last tau, the
largest KL after tau* over min KL (the later rise), the learned density's
shape at tau* (both modes? valley ratio, mass left of 0) and at the last tau
(peaks, max p_theta / max p_0: memorisation), the eigenvalues kept, and the
seconds. Everything but the listed keys is S1's default; to keep the sweep
near 40 minutes on two cores every design runs with the quadrature KL at
every 2nd tau (always including tau*-candidates at the saved and the last tau),
no Monte Carlo KL and no bound terms, which do not enter the table.

Usage: scripts/feature_sweep.py [OUT] [--only FOLDER ...]   (default OUT: results/feature_sweep)
  --only FOLDER ...  run only these designs (folder names); with none, run
                     nothing and rebuild the tables from the folders there
Standard library only; the build is scripts/build.sh's.
"""
import csv
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("GENGAP_BUILD_DIR", os.path.join(ROOT, "build"))
COMMON = ["kl.test_points=0", "bounds.enabled=false", "kl.tau_stride=2"]
# Every design starts from the paper's features (the old default), spelled
# out so that the table does not change with gengap's defaults.
BASE = ["model.activation=relu", "model.feature_init=sphere", "model.embedding=fourier", "model.embedding_dim=16",
        "model.embedding_scale=30", "model.w_scale=1", "model.u_scale=1", "model.b_scale=1"]

# name -> the --set overrides of that design on BASE
DESIGNS = [
    ("fourier-30 (old default)", []),
    ("fourier-10", ["model.embedding_scale=10"]),
    ("fourier-3", ["model.embedding_scale=3"]),
    ("fourier-1", ["model.embedding_scale=1"]),
    ("fourier-0.3", ["model.embedding_scale=0.3"]),
    ("fourier-0.1", ["model.embedding_scale=0.1"]),
    ("sinusoidal-4", ["model.embedding=sinusoidal", "model.embedding_dim=4"]),
    ("polynomial-3", ["model.embedding=polynomial", "model.embedding_dim=3"]),
    ("linear", ["model.embedding=linear"]),
    ("linear, gaussian", ["model.embedding=linear", "model.feature_init=gaussian"]),
    ("linear, u x 3", ["model.embedding=linear", "model.u_scale=3"]),
    ("linear, u x 0.3", ["model.embedding=linear", "model.u_scale=0.3"]),
    ("linear, b x 3", ["model.embedding=linear", "model.b_scale=3"]),
    ("linear, b x 0.3", ["model.embedding=linear", "model.b_scale=0.3"]),
    ("silu, linear", ["model.activation=silu", "model.embedding=linear"]),
    ("silu, linear, gaussian", ["model.activation=silu", "model.embedding=linear", "model.feature_init=gaussian"]),
    ("silu, linear, all x 3", ["model.activation=silu", "model.embedding=linear", "model.w_scale=3",
                               "model.u_scale=3", "model.b_scale=3"]),
    ("silu, linear, all x 10", ["model.activation=silu", "model.embedding=linear", "model.w_scale=10",
                                "model.u_scale=10", "model.b_scale=10"]),
    ("silu, sinusoidal-4", ["model.activation=silu", "model.embedding=sinusoidal", "model.embedding_dim=4"]),
    ("silu, fourier-1", ["model.activation=silu", "model.embedding_scale=1"]),
]

COLUMNS = ["design", "sets", "eigen_kept", "kl_min", "tau_star", "interior", "kl_last", "rise_after_min",
           "modes_at_tau_star", "valley_at_tau_star", "left_mass_at_tau_star", "peaks_last", "peak_ratio_last",
           "kl_flagged", "quad_evaluations", "seconds"]


def folder_name(name):
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name.split(" (")[0])


def row_of(name, sets, folder):
    record = json.load(open(os.path.join(folder, "config.json")))
    s = record["summary"]
    kl = s["kl"]
    kls = []
    evaluations = 0.0  # ODE right-hand sides behind the quadrature KL: the cost, whatever the load
    with open(os.path.join(folder, "curves.csv")) as f:
        for r in csv.DictReader(f):
            if r["kl_quad"] != "nan":
                kls.append((float(r["tau"]), float(r["kl_quad"])))
                evaluations += float(r["kl_quad_evaluations"]) * float(r["kl_quad_nodes"])
    after = [v for t, v in kls if t > kl["tau_best"]]
    best = kl.get("density_at_tau_best", {})
    last = kl.get("density_at_last_tau", {})
    return {
        "design": name, "sets": " ".join(sets), "eigen_kept": s["eigen"]["kept"],
        "kl_min": kl["kl_best"], "tau_star": kl["tau_best"], "interior": kl["interior_minimum"],
        "kl_last": kl["kl_last"], "rise_after_min": (max(after) / kl["kl_best"]) if after else float("nan"),
        "modes_at_tau_star": best.get("resolves_modes"), "valley_at_tau_star": best.get("valley_ratio"),
        "left_mass_at_tau_star": best.get("left_mass"), "peaks_last": last.get("peaks"),
        "peak_ratio_last": last.get("peak_ratio"), "kl_flagged": kl["flagged"],
        "quad_evaluations": evaluations, "seconds": record["timings"]["total"],
    }


def fmt(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}"
    return "" if v is None else str(v)


def main(argv):
    out = os.path.join(ROOT, "results", "feature_sweep")
    only = None
    args = list(argv)
    if "--only" in args:
        k = args.index("--only")
        only = set(args[k + 1:])
        args = args[:k]
    if args:
        out = os.path.abspath(args[0])
    os.makedirs(out, exist_ok=True)
    gengap = os.path.join(BUILD, "cli", "gengap")
    rows = []
    for k, (name, sets) in enumerate(DESIGNS):
        folder = os.path.join(out, folder_name(name))
        if only is None or folder_name(name) in only:
            command = [gengap, "run", "--out", folder, "--quiet"]
            for s in COMMON + BASE + sets:
                command += ["--set", s]
            start = time.time()
            print(f"[{k + 1}/{len(DESIGNS)}] {name}: {' '.join(sets) or '(defaults)'}", file=sys.stderr, flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            print(f"    {time.time() - start:.0f} s", file=sys.stderr, flush=True)
        if os.path.exists(os.path.join(folder, "config.json")):
            rows.append(row_of(name, sets, folder))
    with open(os.path.join(out, "table.csv.tmp"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    os.replace(os.path.join(out, "table.csv.tmp"), os.path.join(out, "table.csv"))
    header = ["design", "kept", "min KL", "tau*", "interior", "KL last", "rise", "modes at tau*", "valley",
              "peaks last", "max p/p0 last", "KL ODE evaluations", "s"]
    keys = ["design", "eigen_kept", "kl_min", "tau_star", "interior", "kl_last", "rise_after_min",
            "modes_at_tau_star", "valley_at_tau_star", "peaks_last", "peak_ratio_last", "quad_evaluations", "seconds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in rows]
    with open(os.path.join(out, "table.md.tmp"), "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(os.path.join(out, "table.md.tmp"), os.path.join(out, "table.md"))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
