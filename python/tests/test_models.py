"""Schedules, the DSM setup, Gaussian mixtures, time embeddings and random features
against closed forms, SciPy and finite differences."""
import gengap
import numpy as np
import pytest
from scipy import integrate, stats

from helpers import (activation, embedding_reference, features_reference, finite_difference_divergence,
                     finite_difference_gradient, mixture_log_density)

TIMES = np.array([1e-4, 1e-3, 0.05, 0.3, 0.5, 0.9, 1.0])


def closed_forms(s, t):
    """(mu_t, sigma_t^2, f, g^2) of the Schedule docstring, written out independently."""
    if s.kind == "ou":
        return np.exp(-t), 1 - np.exp(-2 * t), -np.ones_like(t), 2 * np.ones_like(t)
    if s.kind == "vp":
        beta = s.beta_min + t * (s.beta_max - s.beta_min)
        B = s.beta_min * t + 0.5 * t**2 * (s.beta_max - s.beta_min)
        return np.exp(-B / 2), -np.expm1(-B), -beta / 2, beta
    sig = s.sigma_max
    return np.ones_like(t), (sig ** (2 * t) - 1) / (2 * np.log(sig)), np.zeros_like(t), sig ** (2 * t)


@pytest.mark.parametrize("kind", ["ou", "vp", "ve"])
def test_schedule_closed_forms(kind):
    s = gengap.Schedule(kind)
    t = TIMES * s.T
    mu, var, f, g2 = closed_forms(s, t)
    # Both sides evaluate the same elementary functions in a few roundings; the
    # ve variance at small t subtracts 1 from sigma^{2t} in the reference (not
    # expm1), losing ~eps/(2 t ln sigma) relative: 1e-9 covers t = 1e-5.
    np.testing.assert_allclose(s.mean_scale(t), mu, rtol=1e-13)
    np.testing.assert_allclose(s.variance(t), var, rtol=1e-9)
    np.testing.assert_allclose(s.std_dev(t), np.sqrt(var), rtol=1e-9)
    np.testing.assert_allclose(s.drift(t), f, rtol=1e-13)
    np.testing.assert_allclose(s.diffusion_squared(t), g2, rtol=1e-13)
    # A float in, a float out (py::vectorize on a scalar).
    assert s.mean_scale(float(t[3])) == pytest.approx(mu[3], rel=1e-13)
    # Consistency of the SDE: d sigma^2/dt = 2 f sigma^2 + g^2 (the variance ODE),
    # by central differences (h = 1e-6 T: truncation ~1e-12, rounding ~1e-10 relative).
    h = 1e-6 * s.T
    tt = t[2:]
    dvar = (s.variance(tt + h) - s.variance(tt - h)) / (2 * h)
    np.testing.assert_allclose(dvar, 2 * s.drift(tt) * s.variance(tt) + s.diffusion_squared(tt), rtol=1e-6)


def test_schedule_defaults_and_overrides():
    assert (gengap.Schedule("ou").T, gengap.Schedule("ou").t_min) == (5.0, 1e-3)
    assert gengap.Schedule("vp").T == 1.0
    ve = gengap.Schedule("ve")
    assert (ve.T, ve.t_min, ve.sigma_max) == (1.0, 1e-5, 25.0)
    s = gengap.Schedule("vp", T=2.0, beta_max=10.0)
    assert (s.kind, s.T, s.beta_max) == ("vp", 2.0, 10.0)
    assert "vp" in repr(s)


@pytest.mark.parametrize("kind", ["ou", "vp", "ve"])
def test_log_prior_matches_scipy(kind):
    s = gengap.Schedule(kind)
    v = s.prior_variance()
    assert v == pytest.approx(1.0 if kind != "ve" else s.variance(s.T), rel=1e-15)
    x = np.random.default_rng(0).normal(size=(7, 3)) * np.sqrt(v)
    ref = stats.norm(scale=np.sqrt(v)).logpdf(x).sum(axis=1)
    # Same formula, different grouping of roundings: 1e-12 relative.
    np.testing.assert_allclose(s.log_prior(x), ref, rtol=1e-12)


@pytest.mark.parametrize("weighting", ["sigma2", "likelihood", "none"])
@pytest.mark.parametrize("output_scale", ["one", "inv_sigma"])
def test_dsm_setup_lambda_c_and_loss_constant(weighting, output_scale):
    s = gengap.Schedule("ou")
    setup = gengap.DsmSetup(s, weighting, output_scale)
    assert (setup.weighting, setup.output_scale) == (weighting, output_scale)
    t = np.array([0.01, 0.5, 3.0])
    lam = {"sigma2": s.variance(t), "likelihood": s.diffusion_squared(t), "none": np.ones(3)}[weighting]
    np.testing.assert_allclose(setup.lambda_(t), lam, rtol=1e-15)
    np.testing.assert_allclose(setup.c(t), np.ones(3) if output_scale == "one" else 1 / s.std_dev(t), rtol=1e-15)

    # L_0 = d/2 E_t[lambda/sigma^2], t ~ U[t_min, T], by SciPy's adaptive
    # quadrature (points= at small t where the 1/t-like integrand bends):
    # both are accurate to ~1e-10 relative.
    def integrand(u):
        return float(setup.lambda_(u)) / float(s.variance(u))

    ref, _ = integrate.quad(integrand, s.t_min, s.T, points=[0.01, 0.1], limit=200, epsabs=0, epsrel=1e-12)
    ref *= 3 / 2 / (s.T - s.t_min)
    assert setup.loss_constant(3) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("weighting", ["sigma2", "likelihood", "none"])
def test_denoiser_scale_and_loss_constant(weighting):
    # The denoiser: c = mu/sigma^2 and L_0 = |x_0|^2/2 E_t[lambda c^2] (SciPy's
    # quadrature as above); its data-free constant does not exist.
    s = gengap.Schedule("ou")
    setup = gengap.DsmSetup(s, weighting, "denoiser")
    t = np.array([0.01, 0.5, 3.0])
    np.testing.assert_allclose(setup.c(t), s.mean_scale(t) / s.variance(t), rtol=1e-14)

    def integrand(u):
        return float(setup.lambda_(u)) * float(setup.c(u)) ** 2

    ref, _ = integrate.quad(integrand, s.t_min, s.T, points=[0.01, 0.1], limit=200, epsabs=0, epsrel=1e-12)
    ref *= 2.5 / 2 / (s.T - s.t_min)
    assert setup.loss_constant(3, 2.5) == pytest.approx(ref, rel=1e-9)
    with pytest.raises(ValueError, match="output_scale"):
        setup.loss_constant(3)


def test_mixture_properties(mixture_2d):
    g = mixture_2d
    assert (g.dim, g.components) == (2, 2)
    np.testing.assert_array_equal(g.weights, [0.3, 0.7])
    np.testing.assert_array_equal(g.means, [[-1.0, 0.5], [1.5, -0.5]])
    assert g.covariances.shape == (2, 2, 2)
    # The mixture keeps Cholesky factors and rebuilds S = L L^T: a rounding or two (4 ulp).
    np.testing.assert_allclose(g.covariances[1], [[0.3, -0.1], [-0.1, 0.8]], rtol=1e-15, atol=1e-15)
    t = gengap.GaussianMixture.two_modes(2.0, 0.5)
    np.testing.assert_array_equal(t.means.ravel(), [-2.0, 2.0])
    np.testing.assert_allclose(t.covariances.ravel(), [0.5, 0.5], rtol=1e-15)  # sqrt(0.5)^2
    d = gengap.GaussianMixture.diagonal([0.5, 0.5], [[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(d.covariances[1], np.diag([3.0, 4.0]), rtol=1e-15)


def test_mixture_log_density_score_divergence(mixture_2d):
    g = mixture_2d
    x = np.random.default_rng(1).normal(size=(25, 2)) * 2
    ref = mixture_log_density(g.weights, g.means, g.covariances, x)
    # Cholesky + log-sum-exp on both sides: 1e-12 relative to max(1, |log p|).
    np.testing.assert_allclose(g.log_density(x), ref, rtol=1e-12, atol=1e-12)
    # Score vs central differences of log_density (h = 1e-5: truncation
    # h^2 |f'''| ~ 1e-10, rounding eps |log p| / h ~ 1e-10): 1e-7 is safe.
    np.testing.assert_allclose(g.score(x), finite_difference_gradient(g.log_density, x), rtol=1e-7, atol=1e-7)
    # Divergence vs central differences of the score (same error budget).
    np.testing.assert_allclose(g.score_divergence(x), finite_difference_divergence(g.score, x),
                               rtol=1e-7, atol=1e-7)


def test_mixture_sample_moments_and_determinism(mixture_2d):
    g = mixture_2d
    n = 20000
    x = g.sample(n, seed=7)
    assert x.shape == (n, 2)
    w, m, S = g.weights, g.means, g.covariances
    mean = w @ m
    second = sum(wk * (Sk + np.outer(mk, mk)) for wk, mk, Sk in zip(w, m, S))
    cov = second - np.outer(mean, mean)
    # Within 5 standard errors (a false alarm has probability ~6e-7 per check):
    # SE of the mean sqrt(var/n), of the variance the sample sd of (x - mean)^2 / sqrt(n).
    se_mean = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(x.mean(axis=0) - mean) < 5 * se_mean)
    dev2 = (x - mean) ** 2
    se_var = dev2.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(dev2.mean(axis=0) - np.diag(cov)) < 5 * se_var)
    # Counter-based: the same seed gives the same bits, row i depends on i only.
    np.testing.assert_array_equal(g.sample(100, seed=7), x[:100])
    assert not np.array_equal(g.sample(100, seed=8), x[:100])
    assert not np.array_equal(g.sample(100, seed=7, stream=1), x[:100])


def test_mixture_diffused(mixture_2d):
    g = mixture_2d
    mu, sigma = 0.6, 0.8
    h = g.diffused(mu, sigma)
    np.testing.assert_allclose(h.means, mu * g.means, rtol=1e-15)
    np.testing.assert_allclose(h.covariances, mu**2 * g.covariances + sigma**2 * np.eye(2), rtol=1e-15)
    np.testing.assert_array_equal(h.weights, g.weights)
    # Diffusing by hand: the law of mu x0 + sigma eps is the mixture with
    # components N(mu m_k, mu^2 S_k + sigma^2 I).
    x = np.random.default_rng(2).normal(size=(10, 2))
    covs = mu**2 * g.covariances + sigma**2 * np.eye(2)
    np.testing.assert_allclose(h.log_density(x), mixture_log_density(g.weights, mu * g.means, covs, x),
                               rtol=1e-12, atol=1e-12)

    # diffused_evaluate: floats shared by every row, or one (mu, sigma) per row.
    log_p, score, div = g.diffused_evaluate(x, mu, sigma)
    # Same formulas evaluated without building the mixture: 1e-12.
    np.testing.assert_allclose(log_p, h.log_density(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(score, h.score(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(div, h.score_divergence(x), rtol=1e-12, atol=1e-12)
    mus = np.linspace(0.2, 1.0, 10)
    sigmas = np.linspace(1.0, 0.1, 10)
    log_p, score, div = g.diffused_evaluate(x, mus, sigmas)
    for i in range(10):
        hi = g.diffused(mus[i], sigmas[i])
        np.testing.assert_allclose(log_p[i], hi.log_density(x[i:i + 1])[0], rtol=1e-12)
        np.testing.assert_allclose(score[i], hi.score(x[i:i + 1])[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(div[i], hi.score_divergence(x[i:i + 1])[0], rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: gengap.fourier_embedding(6, 3.0, seed=4),
    lambda: gengap.sinusoidal_embedding(4, 5.0),
    lambda: gengap.linear_embedding(5.0),
    lambda: gengap.polynomial_embedding(3, 2.0),
])
def test_time_embedding_formulas(make):
    e = make()
    t = np.array([0.0, 0.01, 0.7, 2.5, 5.0])
    out = e.evaluate(t)
    assert out.shape == (5, e.dim)
    # sin/cos of the same angle, t/T, (t/T)^k (repeated products vs power): 1e-14.
    np.testing.assert_allclose(out, embedding_reference(e, t), rtol=1e-13, atol=1e-14)


def test_embedding_frequencies():
    s = gengap.sinusoidal_embedding(6, 5.0)
    np.testing.assert_allclose(s.frequencies, np.arange(1, 4) / 10.0, rtol=1e-15)
    f = gengap.fourier_embedding(2000, 3.0, seed=1)
    assert f.dim == 2000
    np.testing.assert_array_equal(f.frequencies, gengap.fourier_embedding(2000, 3.0, seed=1).frequencies)
    # omega_k ~ N(0, 3^2): 1000 draws, sd within 5 SE (SE of the sd ~ 3/sqrt(2 * 1000)).
    assert abs(f.frequencies.std() - 3.0) < 5 * 3.0 / np.sqrt(2000)
    assert abs(f.frequencies.mean()) < 5 * 3.0 / np.sqrt(1000)
    assert gengap.polynomial_embedding(3, 2.0).degree == 3
    assert gengap.linear_embedding(4.0).horizon == 4.0


@pytest.mark.parametrize("act", ["relu", "silu", "softplus", "tanh"])
def test_random_features_vs_numpy(act):
    rng = np.random.default_rng(3)
    m, d = 12, 2
    emb = gengap.fourier_embedding(4, 1.0, seed=5)
    W, U, b = rng.normal(size=(m, d)), rng.normal(size=(m, emb.dim)), rng.normal(size=m)
    rf = gengap.RandomFeatures(W, U, b, emb, act)
    assert (rf.num_features, rf.dim, rf.activation) == (m, d, act)
    np.testing.assert_array_equal(rf.W, W)
    np.testing.assert_array_equal(rf.U, U)
    np.testing.assert_array_equal(rf.b, b)
    x = rng.normal(size=(30, d))
    t = rng.uniform(0.001, 5.0, size=30)
    ref, _, _ = features_reference(rf, x, t)
    # z by a dot product of d + d_e + 1 terms (vs BLAS-free packed fma in the
    # library) and SIMD activations (a few ulp): 1e-12 relative, 1e-13 absolute
    # where act(z) is ~0.
    np.testing.assert_allclose(rf.features(x, t), ref, rtol=1e-12, atol=1e-13)
    # A float time is shared by every row.
    np.testing.assert_allclose(rf.features(x, 0.5), features_reference(rf, x, 0.5)[0], rtol=1e-12, atol=1e-13)


def test_draw_random_features():
    emb = gengap.linear_embedding(5.0)
    rf = gengap.draw_random_features(50, 3, emb, seed=2)
    rows = np.hstack([rf.W, rf.U, rf.b[:, None]])
    # init='sphere': each (w_i, u_i, b_i) on the unit sphere (a normal vector / its norm).
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-14)
    again = gengap.draw_random_features(50, 3, emb, seed=2)
    np.testing.assert_array_equal(again.W, rf.W)
    gauss = gengap.draw_random_features(2000, 3, emb, activation="tanh", init="gaussian", seed=2)
    assert gauss.activation == "tanh"
    # Standard normal entries: 2000*5 of them, sd within 5 SE.
    entries = np.hstack([gauss.W, gauss.U, gauss.b[:, None]]).ravel()
    assert abs(entries.std() - 1) < 5 / np.sqrt(2 * entries.size)
    assert (rf.embedding.kind, rf.embedding.horizon) == ("linear", 5.0)
