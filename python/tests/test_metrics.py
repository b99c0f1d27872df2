"""KL estimators and memorisation metrics against NumPy/SciPy and closed forms."""
import gengap
import numpy as np
import pytest
from scipy import stats


def test_kl_monte_carlo_vs_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=500) - 3
    b = a - rng.exponential(size=500)
    r = gengap.kl_monte_carlo(a, b)
    diff = a - b
    # Two-pass mean and centred squares vs NumPy's pairwise sums: 1e-13 relative.
    assert r["kl"] == pytest.approx(diff.mean(), rel=1e-13)
    assert r["standard_error"] == pytest.approx(diff.std(ddof=1) / np.sqrt(500), rel=1e-12)
    assert (r["used"], r["failed"]) == (500, 0)
    # Non-finite log p_theta values are left out and counted.
    b2 = b.copy()
    b2[[3, 10]] = [np.nan, -np.inf]
    r2 = gengap.kl_monte_carlo(a, b2)
    keep = np.isfinite(b2)
    assert (r2["used"], r2["failed"]) == (498, 2)
    assert r2["kl"] == pytest.approx((a - b2)[keep].mean(), rel=1e-13)
    assert r2["standard_error"] == pytest.approx((a - b2)[keep].std(ddof=1) / np.sqrt(498), rel=1e-12)
    # One point: no standard error.
    assert np.isnan(gengap.kl_monte_carlo([1.0], [0.5])["standard_error"])


@pytest.mark.parametrize("m2,s2", [(0.0, 1.0), (0.5, 1.5), (-1.0, 0.7)])
def test_kl_quadrature_two_gaussians(m2, s2):
    m1, s1 = 0.2, 1.0
    calls = []

    def log_p0(x):
        calls.append(len(x))
        return stats.norm(m1, s1).logpdf(x)

    r = gengap.kl_quadrature(log_p0, lambda x: stats.norm(m2, s2).logpdf(x), tolerance=1e-8)
    closed = np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    # Adaptive Simpson asked for 1e-8 on smooth integrands over [-10, 10]
    # (tails below e^-40): its error estimate and the truth agree to ~1e-9.
    assert r["converged"]
    assert r["kl"] == pytest.approx(closed, abs=1e-7)
    assert abs(r["kl"] - closed) <= max(10 * r["kl_error"], 1e-9)
    assert r["mass"] == pytest.approx(1.0, abs=1e-7)
    # One call per refinement round with every new node (not one per node).
    assert len(calls) == r["rounds"] and sum(calls) == len(r["x"])
    np.testing.assert_allclose(r["log_p0"], stats.norm(m1, s1).logpdf(r["x"]), rtol=1e-15)
    assert r["lower"] <= -10 and r["upper"] >= 10


def test_kl_quadrature_window_extension():
    # A density centred outside the initial window [-1, 1]: the window grows.
    r = gengap.kl_quadrature(lambda x: stats.norm(0, 1).logpdf(x), lambda x: stats.norm(0, 1).logpdf(x),
                             lower=-1.0, upper=1.0)
    assert r["kl"] == pytest.approx(0.0, abs=1e-8)
    assert r["lower"] < -1 and r["upper"] > 1


def test_nearest_training_points_vs_brute_force():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(40, 3))
    samples = rng.normal(size=(25, 3))
    r = gengap.nearest_training_points(samples, train)
    dist = np.linalg.norm(samples[:, None, :] - train[None, :, :], axis=2)
    order = np.argsort(dist, axis=1)
    np.testing.assert_array_equal(r["nearest_index"], order[:, 0])
    assert r["nearest_index"].dtype == np.int64
    # sqrt of a sum of three squares, in another order: 1e-14 relative.
    np.testing.assert_allclose(r["nearest"], dist[np.arange(25), order[:, 0]], rtol=1e-14)
    np.testing.assert_allclose(r["second_nearest"], dist[np.arange(25), order[:, 1]], rtol=1e-14)
    # A sample on a training point: distance 0.
    on = gengap.nearest_training_points(train[:2], train)
    np.testing.assert_array_equal(on["nearest"], 0.0)
    np.testing.assert_array_equal(on["nearest_index"], [0, 1])


def test_memorization_report_vs_numpy():
    rng = np.random.default_rng(2)
    train = rng.normal(size=(30, 2))
    samples = np.vstack([train[:10] + 1e-3 * rng.normal(size=(10, 2)), rng.normal(size=(20, 2))])
    r = gengap.memorization(samples, train)
    dist = np.sort(np.linalg.norm(samples[:, None, :] - train[None, :, :], axis=2), axis=1)
    ratio = dist[:, 0] / dist[:, 1]
    assert r["samples"] == 30
    assert r["memorized"] == int(np.sum(ratio < 1 / 3))
    assert r["memorized_fraction"] == pytest.approx(np.mean(ratio < 1 / 3), rel=1e-15)
    assert r["median_nearest"] == pytest.approx(np.median(dist[:, 0]), rel=1e-13)
    assert r["median_ratio"] == pytest.approx(np.median(ratio), rel=1e-13)
    assert gengap.memorization(samples, train, ratio_threshold=0.9)["memorized"] == int(np.sum(ratio < 0.9))


def test_memorization_of_empirical_score_samples():
    # The empirical score is the exact score of the training set diffused: sampled
    # down to t_min = 1e-4 (sigma = 0.014, against training points ~1 apart) the
    # reverse SDE returns (noisy copies of) the training points: memorised.
    train = np.random.default_rng(0).uniform(-3, 3, size=(10, 2))
    s = gengap.Schedule("ou", t_min=1e-4)
    r = gengap.sample_reverse_sde(gengap.empirical_score(train, s), 500, 2, s, method="adaptive", seed=1)
    report = gengap.memorization(r["samples"], train)
    # Measured 1.0 (adaptive, rtol = atol = 1e-2); Euler-Maruyama's coarse last
    # steps leave a few between points (0.94 at 500 steps): 0.95.
    assert report["memorized_fraction"] >= 0.95
    # Every training point is hit about equally (the empirical law weighs them 1/n):
    # counts of 500 draws over 10 points, a chi-square test at level 1e-4.
    counts = np.bincount(gengap.nearest_training_points(r["samples"], train)["nearest_index"], minlength=10)
    assert stats.chisquare(counts).pvalue > 1e-4
    # Fresh points from the law the training points came from are not memorised
    # (0.17 measured: the chance that a uniform point is 3x closer to one point).
    fresh = np.random.default_rng(1).uniform(-3, 3, size=(500, 2))
    assert gengap.memorization(fresh, train)["memorized_fraction"] < 0.3


def test_segment_histogram_vs_numpy():
    rng = np.random.default_rng(3)
    a, b = np.array([0.0, 1.0]), np.array([2.0, 2.0])
    u_true = rng.uniform(-0.2, 1.2, size=400)
    samples = a + u_true[:, None] * (b - a) + 0.05 * rng.normal(size=(400, 2))
    h = gengap.segment_histogram(samples, a, b, bins=10)
    u = (samples - a) @ (b - a) / np.sum((b - a) ** 2)
    inside = u[(u >= 0) & (u <= 1)]
    density, edges = np.histogram(inside, bins=10, range=(0, 1), density=True)
    np.testing.assert_allclose(h["edges"], edges, rtol=1e-15)
    # Same counts (no u falls within rounding of an edge for this seed), same normalisation.
    np.testing.assert_allclose(h["density"], density, rtol=1e-13)
    assert (h["inside"], h["outside"], h["bins"]) == (len(inside), 400 - len(inside), 10)
    off = np.linalg.norm(samples - (a + u[:, None] * (b - a)), axis=1)
    assert h["mean_distance_off_line"] == pytest.approx(off.mean(), rel=1e-12)
    assert h["total_variation_to_uniform"] == pytest.approx(0.5 * np.sum(np.abs(density * 0.1 - 0.1)), rel=1e-12)
    assert h["ks_to_uniform"] == pytest.approx(stats.kstest(inside, "uniform").statistic, rel=1e-12)
