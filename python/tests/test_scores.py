"""Score fields (ScoreModel): random features, the exact mixture score, the empirical
score and its smoothed version, against NumPy formulas, SciPy and finite differences."""
import gengap
import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss
from scipy.special import logsumexp, softmax

from helpers import features_reference, finite_difference_divergence, finite_difference_gradient


def empirical_reference(train, x, mu, sigma):
    """log p, grad log p of p(x) = 1/n sum_i N(x; mu x_i, sigma^2 I), in NumPy (log-sum-exp softmax)."""
    n, d = train.shape
    r = x[:, None, :] - mu * train[None, :, :]            # (N, n, d)
    logits = -np.sum(r**2, axis=2) / (2 * sigma**2)       # (N, n)
    log_p = logsumexp(logits, axis=1) - np.log(n) - d / 2 * np.log(2 * np.pi * sigma**2)
    w = softmax(logits, axis=1)
    score = -np.einsum("ki,kij->kj", w, r) / sigma**2
    return log_p, score


@pytest.mark.parametrize("act", ["relu", "silu", "softplus", "tanh"])
@pytest.mark.parametrize("output_scale", ["one", "inv_sigma"])
def test_random_feature_score_vs_numpy(act, output_scale):
    rng = np.random.default_rng(10)
    m, d = 40, 2
    rf = gengap.draw_random_features(m, d, gengap.sinusoidal_embedding(4, 5.0), activation=act, seed=1)
    setup = gengap.DsmSetup(gengap.Schedule("ou"), output_scale=output_scale)
    A = rng.normal(size=(d, m)) * 5
    model = gengap.random_feature_score(rf, A, setup)
    assert model.dim == d and "m=40" in model.description
    x = rng.normal(size=(33, d))
    t = rng.uniform(0.01, 5.0, size=33)
    score, div = model(x, t)
    phi, dphi, _ = features_reference(rf, x, t)
    c = setup.c(t)
    ref_score = (c / m)[:, None] * (phi @ A.T)
    kappa = np.sum(A.T * rf.W, axis=1)                       # a_j . w_j
    ref_div = c / m * (dphi @ kappa)
    # Sums of m = 40 products of O(1) terms in a different order (SIMD, packed
    # rows): ~1e-14 relative to the sum of |terms|; 1e-11 absolute on O(1-10) values.
    np.testing.assert_allclose(score, ref_score, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(div, ref_div, rtol=1e-11, atol=1e-11)
    if act != "relu":
        # For smooth activations the divergence is also the trace of the
        # Jacobian: central differences (h = 1e-5, error ~1e-9 on O(1) values).
        fd = finite_difference_divergence(lambda y: model(y, t)[0], x)
        np.testing.assert_allclose(div, fd, rtol=1e-6, atol=1e-6)


def test_random_feature_score_rows_independent_of_batch():
    rf = gengap.draw_random_features(64, 1, gengap.linear_embedding(5.0), seed=3)
    A = np.random.default_rng(0).normal(size=(1, 64))
    model = gengap.random_feature_score(rf, A, gengap.DsmSetup())
    x = np.linspace(-3, 3, 200)[:, None]
    t = np.linspace(0.01, 5, 200)
    s_all, d_all = model(x, t)
    s_part, d_part = model(x[50:57], t[50:57])
    # The docstring promises bitwise independence of the batch.
    np.testing.assert_array_equal(s_all[50:57], s_part)
    np.testing.assert_array_equal(d_all[50:57], d_part)


@pytest.mark.parametrize("kind", ["ou", "vp", "ve"])
def test_mixture_score_vs_diffused(mixture_2d, kind):
    s = gengap.Schedule(kind)
    model = gengap.mixture_score(mixture_2d, s)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(12, 2)) * 2
    t = np.linspace(s.t_min, s.T, 12)
    score, div = model(x, t)
    for i in range(12):
        h = mixture_2d.diffused(float(s.mean_scale(t[i])), float(s.std_dev(t[i])))
        # The same mixture algebra, built per row here and per batch there: 1e-12.
        np.testing.assert_allclose(score[i], h.score(x[i:i + 1])[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(div[i], h.score_divergence(x[i:i + 1])[0], rtol=1e-12, atol=1e-12)


def test_empirical_score_vs_numpy():
    rng = np.random.default_rng(5)
    train = rng.normal(size=(30, 3))
    s = gengap.Schedule("ou")
    model = gengap.empirical_score(train, s)
    assert model.dim == 3 and "n=30" in model.description
    x = rng.normal(size=(20, 3))
    t = np.geomspace(0.02, 4.0, 20)
    score, div = model(x, t)
    for i in range(20):
        mu, sigma = float(s.mean_scale(t[i])), float(s.std_dev(t[i]))
        _, ref = empirical_reference(train, x[i:i + 1], mu, sigma)
        # Softmax-weighted means of 30 points: 1e-12 relative to |s| + 1/sigma
        # (the library works from differences between training points).
        np.testing.assert_allclose(score[i], ref[0], rtol=1e-11, atol=1e-11 / sigma)
    # The divergence is the trace of the score's Jacobian: central differences
    # at h = 1e-5 on a field with curvature scale sigma >= 0.14 (error ~1e-7 relative).
    fd = finite_difference_divergence(lambda y: model(y, t)[0], x)
    np.testing.assert_allclose(div, fd, rtol=1e-6, atol=1e-5)


def test_empirical_score_kernel_evaluate():
    rng = np.random.default_rng(6)
    train = rng.normal(size=(50, 2))
    e = gengap.EmpiricalScore(train)
    assert (e.dim, e.size) == (2, 50)
    x = rng.normal(size=(15, 2))
    mu, sigma = 0.7, 0.3
    score, log_p, div = e.evaluate(x, mu, sigma)
    ref_log_p, ref_score = empirical_reference(train, x, mu, sigma)
    # log-sum-exp on both sides: 1e-12 relative to max(1, |log p|).
    np.testing.assert_allclose(log_p, ref_log_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(score, ref_score, rtol=1e-11, atol=1e-10)
    # Score = grad log p by central differences of log p (h = 1e-5: ~1e-8 at sigma = 0.3).
    fd = finite_difference_gradient(lambda y: e.evaluate(y, mu, sigma)[1], x)
    np.testing.assert_allclose(score, fd, rtol=1e-6, atol=1e-6)
    fd_div = finite_difference_divergence(lambda y: e.evaluate(y, mu, sigma)[0], x)
    np.testing.assert_allclose(div, fd_div, rtol=1e-6, atol=1e-5)
    # Per-row (mu, sigma) equal the shared ones row by row, bitwise (queries are independent).
    mus, sigmas = np.linspace(0.5, 1.0, 15), np.linspace(0.2, 1.0, 15)
    s_rows, l_rows, d_rows = e.evaluate(x, mus, sigmas)
    for i in (0, 7, 14):
        s_i, l_i, d_i = e.evaluate(x[i:i + 1], mus[i], sigmas[i])
        np.testing.assert_array_equal(s_rows[i], s_i[0])
        np.testing.assert_array_equal(l_rows[i], l_i[0])
        np.testing.assert_array_equal(d_rows[i], d_i[0])


def test_smoothed_score_delta_zero_is_empirical():
    rng = np.random.default_rng(7)
    train = rng.normal(size=(25, 2))
    s = gengap.Schedule("ou")
    x, t = rng.normal(size=(10, 2)), np.linspace(0.01, 2.0, 10)
    emp = gengap.empirical_score(train, s)(x, t)
    smooth = gengap.smoothed_score(train, s, 0.0)(x, t)
    # delta = 0 is s_n itself, the same call (documented bitwise).
    np.testing.assert_array_equal(smooth[0], emp[0])
    np.testing.assert_array_equal(smooth[1], emp[1])


def box_average_reference(train, x, mu, sigma, delta, panels=64, nodes=20):
    """1/(2 delta) int_{-delta}^{delta} s_n(x + u) du and the same for div s_n in d = 1,
    by composite Gauss-Legendre in NumPy (64 panels of 20 nodes)."""
    g, w = leggauss(nodes)
    edges = np.linspace(-delta, delta, panels + 1)
    half = (edges[1] - edges[0]) / 2
    u = ((edges[:-1] + half)[:, None] + half * g[None, :]).ravel()
    wu = np.tile(w * half, panels) / (2 * delta)
    e = gengap.EmpiricalScore(train)
    score = np.empty(len(x))
    div = np.empty(len(x))
    for i, xi in enumerate(x):
        s_u, _, d_u = e.evaluate((xi + u)[:, None], mu, sigma)
        score[i], div[i] = wu @ s_u[:, 0], wu @ d_u
    return score, div


@pytest.mark.parametrize("closed_form", [True, False])
def test_smoothed_box_d1_vs_numpy_average(closed_form):
    train = np.array([[-1.0], [0.2], [1.5]])
    s = gengap.Schedule("ou")
    t = 0.1
    mu, sigma = float(s.mean_scale(t)), float(s.std_dev(t))
    delta = 0.4
    x = np.linspace(-2, 2, 9)
    model = gengap.smoothed_score(train, s, delta, closed_form=closed_form)
    score, div = model(x[:, None], t)
    ref_score, ref_div = box_average_reference(train, x, mu, sigma, delta)
    # The reference resolves the softmax's transitions (width sigma^2 / (mu |x_i - x_j|)
    # ~ 0.1) with 1280 nodes: converged to ~1e-13. The closed form is a difference of
    # two log-densities over 2 delta (rounding ~eps |log p| / delta ~ 1e-15); the
    # library's quadrature (8 panels x 16 nodes) converges to ~1e-10 here: 1e-8.
    np.testing.assert_allclose(score[:, 0], ref_score, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(div, ref_div, rtol=1e-8, atol=1e-8)


def test_smoothed_gaussian_kernel_d1_vs_hermite():
    train = np.array([[-1.0], [0.5]])
    s = gengap.Schedule("ou")
    t = 0.5
    mu, sigma = float(s.mean_scale(t)), float(s.std_dev(t))
    delta = 0.2
    x = np.linspace(-1.5, 1.5, 7)
    score, div = gengap.smoothed_score(train, s, delta, kernel="gaussian", hermite_nodes=64)(x[:, None], t)
    # E_{u ~ N(0, delta^2)} by probabilists' Gauss-Hermite with 200 nodes: the
    # kernel (delta = 0.2) is much narrower than the softmax transitions here
    # (sigma^2 / (mu |x_i - x_j|) ~ 0.8), so both converge to ~1e-14; 1e-10.
    g, w = hermegauss(200)
    w = w / w.sum()
    e = gengap.EmpiricalScore(train)
    for i, xi in enumerate(x):
        s_u, _, d_u = e.evaluate((xi + delta * g)[:, None], mu, sigma)
        assert score[i, 0] == pytest.approx(w @ s_u[:, 0], rel=1e-10, abs=1e-10)
        assert div[i] == pytest.approx(w @ d_u, rel=1e-10, abs=1e-10)


def test_smoothed_box_along_line_closed_form_vs_quadrature():
    # Data on a line embedded in R^2: the closed form (two evaluations) and the
    # quadrature along the same direction are two methods for the same average.
    e = np.array([0.6, 0.8])
    c = np.array([0.3, -0.2])
    train = c + np.array([-1.0, 0.0, 0.7, 1.6])[:, None] * e
    s = gengap.Schedule("ou")
    x = np.random.default_rng(8).normal(size=(8, 2))
    t = np.full(8, 0.2)
    closed = gengap.smoothed_score(train, s, 0.3, direction=e)(x, t)
    quad = gengap.smoothed_score(train, s, 0.3, direction=e, closed_form=False, panels=32)(x, t)
    # 32 panels x 16 Gauss-Legendre nodes on a softmax of transition width ~0.1
    # converge to ~1e-12; the closed form's rounding is ~1e-15 / delta.
    np.testing.assert_allclose(closed[0], quad[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(closed[1], quad[1], rtol=1e-9, atol=1e-9)
