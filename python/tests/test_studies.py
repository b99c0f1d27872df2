"""Studies and saved models from Python: run_early_stopping against `gengap run` on the
same config (bit for bit: the bindings call the same C++), the sweep and the
smoothing study at tiny sizes, and save_model / load_model round trips."""
import json
import subprocess

import gengap
import numpy as np
import pytest

# S1 at a size that runs in about a second: every phase, KL included.
TINY = {"n": 120, "model": {"m": 32}, "train_loss": {"draws_per_sample": 16},
        "population_loss": {"time_nodes": 64, "space_nodes": 16},
        "tau": {"points": 8, "saved": 3},
        "kl": {"test_points": 40, "ode_tau_stride": 4, "quadrature_max_nodes": 257},
        "bounds": {"enabled": False}}


@pytest.fixture(scope="module")
def tiny_run():
    return gengap.run_early_stopping(TINY)


def read_curves(path):
    """curves.csv as a dict of float arrays (the CLI prints 17 significant digits: exact doubles)."""
    lines = path.read_text().strip().splitlines()
    header = lines[0].split(",")
    rows = [[float(v) for v in line.split(",")] for line in lines[1:]]
    return {name: np.array([row[k] for row in rows]) for k, name in enumerate(header)}


def test_config_has_every_key_and_applies_overrides():
    c = gengap.early_stopping_config(TINY)
    assert c["model"]["m"] == 32 and c["n"] == 120
    assert c["schedule"]["kind"] == "ou" and c["kl"]["rtol"] == 1e-5  # defaults kept
    assert gengap.early_stopping_config()["model"]["m"] == 1024


def test_result_shapes_and_summary(tiny_run):
    r = tiny_run
    k = len(r["tau"])
    assert k == 8 and np.all(np.diff(r["tau"]) > 0)
    for key in ("loss_train", "loss_pop", "gap", "norm_growth", "kl_quadrature", "kl_ode", "mass"):
        assert r[key].shape == (k,), key
    np.testing.assert_array_equal(r["gap"], r["loss_pop"] - r["loss_train"])
    assert r["training_set"].shape == (120, 1)
    assert r["saved_weights"].shape == (3, 1, 32) and r["saved_indices"][0] == 0 and r["saved_indices"][-1] == k - 1
    assert r["eigenvalues"].shape == (32,) and np.all(np.diff(r["eigenvalues"]) >= 0)
    s = r["summary"]["kl"]
    assert np.isclose(s["kl_best"], np.nanmin(r["kl_quadrature"]))
    # The features come back as an object that evaluates the same model.
    rf = r["features"]
    assert rf.num_features == 32 and rf.dim == 1


def test_bitwise_equal_to_the_command_line(tiny_run, cli_binary, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY))
    out = tmp_path / "run"
    subprocess.run([str(cli_binary), "run", "--config", str(config), "--out", str(out), "--quiet"],
                   check=True, capture_output=True)
    r = tiny_run
    np.testing.assert_array_equal(np.load(out / "eigenvalues.npy"), r["eigenvalues"])
    np.testing.assert_array_equal(np.load(out / "train.npy"), r["training_set"])
    model = gengap.load_model(str(out / "model"))
    np.testing.assert_array_equal(model["weights"], r["saved_weights"])
    np.testing.assert_array_equal(model["features"].W, r["features"].W)
    curves = read_curves(out / "curves.csv")
    for column, key in (("tau", "tau"), ("loss_train", "loss_train"), ("loss_pop", "loss_pop"),
                        ("gap", "gap"), ("norm_growth", "norm_growth"), ("kl_quad", "kl_quadrature"),
                        ("kl_quad_error", "kl_quadrature_error"), ("kl_ode", "kl_ode"), ("kl_mass", "mass"),
                        ("kl_score_integral", "kl_score_integral"), ("kl_flags", "kl_flags")):
        np.testing.assert_array_equal(curves[column], r[key], err_msg=column)
    # The weight file itself, and the saved taus.
    np.testing.assert_array_equal(np.load(out / "model" / "A.npy").reshape(r["saved_weights"].shape),
                                  r["saved_weights"])
    np.testing.assert_array_equal(model["tau"], r["tau"][r["saved_indices"]])


def test_save_and_load_model_round_trip(tiny_run, tmp_path):
    r = tiny_run
    setup = gengap.DsmSetup(gengap.Schedule("ou"))
    tau = r["tau"][r["saved_indices"]]
    gengap.save_model(str(tmp_path / "m"), r["features"], setup, tau, r["saved_weights"])
    back = gengap.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(back["tau"], tau)
    np.testing.assert_array_equal(back["weights"], r["saved_weights"])
    for name in ("W", "U", "b"):
        np.testing.assert_array_equal(getattr(back["features"], name), getattr(r["features"], name))
    assert back["setup"].schedule.T == setup.schedule.T
    # The loaded model is the same score, bit for bit.
    x = np.linspace(-4, 4, 9)[:, None]
    a = gengap.random_feature_score(r["features"], r["saved_weights"][-1], setup)(x, 0.3)
    b = gengap.random_feature_score(back["features"], back["weights"][-1], back["setup"])(x, 0.3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_save_model_refuses_mismatched_weights(tiny_run, tmp_path):
    setup = gengap.DsmSetup(gengap.Schedule("ou"))
    with pytest.raises(ValueError, match="weights"):
        gengap.save_model(str(tmp_path / "m"), tiny_run["features"], setup, [1.0, 2.0], tiny_run["saved_weights"])
    with pytest.raises(ValueError):
        gengap.load_model(str(tmp_path / "does-not-exist"))


def test_capacity_sweep_rows_and_fits():
    # A sweep's config is S1's keys plus its "sweep" group; the tiny S1 without its
    # model.m (the swept key) and with a fixed tau inside both settings' grids.
    base = {k: v for k, v in TINY.items() if k != "model"}
    config = dict(base, sweep={"values": [16, 32], "max_parallel": 1, "fixed_tau": 1e4})
    full = gengap.study_config("capacity", config)
    assert full["sweep"]["values"] == [16.0, 32.0]
    r = gengap.run_study("capacity", config, include_settings=True)
    rows = r["rows"]
    np.testing.assert_array_equal(rows["value"], [16.0, 32.0])
    assert np.all(np.isfinite(rows["kl_best"])) and len(r["settings"]) == 2
    # Each setting's row summarises that setting's own S1 result.
    for k, setting in enumerate(r["settings"]):
        assert np.isclose(rows["kl_best"][k], np.nanmin(setting["kl_quadrature"]))
    assert "fits" in r["summary"]


def test_unknown_config_key_names_it():
    with pytest.raises(ValueError, match="model.mm"):
        gengap.run_early_stopping({"model": {"mm": 3}})
    with pytest.raises(ValueError, match="study"):
        gengap.run_study("no-such-study")
    with pytest.raises(TypeError, match="config"):
        gengap.run_early_stopping([1, 2])


def test_smoothing_study_tiny():
    # S6 at d = 1, one delta, one trained model, 200 samples: ~0.2 s.
    config = {"model": {"m": 32, "tau_positions": [1.0]}, "train_loss": {"draws_per_sample": 16}, "dims": [1],
              "sampler": {"samples": 200}, "smoothing": {"deltas": [0.25]}, "likelihood": {"heldout_points": 50}}
    r = gengap.run_smoothing_study(config)
    rows = r["rows"]
    assert len(r["labels"]) == 3 and [s.shape for s in r["samples"]] == [(200, 1)] * 3
    np.testing.assert_array_equal(rows["kind"], [0.0, 1.0, 2.0])  # empirical, smoothed, model
    # The rows' metrics are those of the returned samples against the training
    # segment (9 points on [-2, 2], 8 bins per spacing), recomputed here by the
    # metric functions: the same numbers up to the histogram's summation order.
    train = np.linspace(-2.0, 2.0, 9)[:, None]
    for k, samples in enumerate(r["samples"]):
        assert rows["memorized_fraction"][k] == gengap.memorization(samples, train)["memorized_fraction"]
        h = gengap.segment_histogram(samples, [-2.0], [2.0], bins=64)
        assert rows["tv_to_uniform"][k] == pytest.approx(h["total_variation_to_uniform"], rel=1e-12)
    # The empirical score memorises (measured 1.0); its held-out likelihood by the
    # ODE matches the exact log-density of the diffused training set within the
    # ODE tolerance (rtol = atol = 1e-5 over |log p| ~ 5: 1e-3; measured 2e-5).
    assert rows["memorized_fraction"][0] >= 0.95
    assert rows["heldout_log_likelihood"][0] == pytest.approx(rows["exact_heldout_log_likelihood"][0], abs=1e-3)
    # Deterministic: the same config, the same samples.
    again = gengap.run_smoothing_study(config)
    for a, b in zip(r["samples"], again["samples"]):
        np.testing.assert_array_equal(a, b)
