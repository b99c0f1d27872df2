"""DSM designs, Gram matrices, the quadratic loss, the exact gradient flow and stochastic
training, against NumPy/SciPy (expm, eigh, pinv) and explicit iterations."""
import gengap
import numpy as np
import pytest
from scipy.linalg import expm

from helpers import features_reference


@pytest.fixture(scope="module")
def problem():
    """A small d = 1 problem: n = 60 training points, m = 16 relu features, L_{n,K} with K = 8."""
    target = gengap.GaussianMixture.two_modes(3.0)
    x = target.sample(60, seed=1)
    setup = gengap.DsmSetup(gengap.Schedule("ou"))
    rf = gengap.draw_random_features(16, 1, gengap.linear_embedding(5.0), seed=2)
    design = gengap.empirical_monte_carlo(x, 8, setup, seed=3)
    train = gengap.gram_matrices(rf, design)
    return dict(target=target, x=x, setup=setup, rf=rf, design=design, train=train)


def gram_reference(rf, design):
    p = design.points()
    phi, _, _ = features_reference(rf, p["x"], p["t"])
    w = p["weight"]
    return (phi * w[:, None]).T @ phi, (phi * w[:, None]).T @ p["y"], p["loss0"].sum(), p


def test_design_points_monte_carlo(problem):
    design, setup, x = problem["design"], problem["setup"], problem["x"]
    assert (design.size, design.dim) == (60 * 8, 1)
    p = design.points()
    s = setup.schedule
    assert np.all((p["t"] >= s.t_min) & (p["t"] <= s.T))
    # q = 1/(nK), weight = q lambda(t) c(t)^2 = q sigma_t^2 (sigma2 weighting, c = 1).
    np.testing.assert_allclose(p["weight"], s.variance(p["t"]) / 480, rtol=1e-14)
    # loss0 = q L_0.
    np.testing.assert_allclose(p["loss0"], setup.loss_constant(1) / 480, rtol=1e-14)
    # x_t = mu_t x_0 + sigma_t eps with y = -eps / sigma_t: x_0 of point i K + k is x[i].
    eps = -p["y"][:, 0] * s.std_dev(p["t"])
    x0 = np.repeat(x[:, 0], 8)
    np.testing.assert_allclose(p["x"][:, 0], s.mean_scale(p["t"]) * x0 + s.std_dev(p["t"]) * eps,
                               rtol=1e-12, atol=1e-12)
    # A slice is the same points (a pure function of the index).
    part = design.points(100, 110)
    np.testing.assert_array_equal(part["x"], p["x"][100:110])
    np.testing.assert_array_equal(part["t"], p["t"][100:110])


def test_design_quadratures_mass():
    setup = gengap.DsmSetup(gengap.Schedule("ou"), weighting="none")
    x = np.array([[0.5], [-1.0]])
    d = gengap.empirical_quadrature(x, 8, 5, setup)
    assert d.size == 2 * 8 * 5
    # weighting none, c = 1: the weights are the probabilities q, summing to 1
    # (Gauss-Legendre and Gauss-Hermite weights are exact for constants).
    assert d.points()["weight"].sum() == pytest.approx(1.0, rel=1e-13)
    g = gengap.GaussianMixture.two_modes(2.0)
    pq = gengap.population_quadrature(g, 8, 6, setup)
    assert pq.points()["weight"].sum() == pytest.approx(1.0, rel=1e-13)
    pm = gengap.population_monte_carlo(g, 100, setup, seed=1)
    assert pm.size == 100
    assert pm.points()["weight"].sum() == pytest.approx(1.0, rel=1e-13)


@pytest.mark.parametrize("source", ["monte_carlo", "quadrature", "population"])
def test_gram_matrices_vs_numpy(problem, source):
    rf, setup, x = problem["rf"], problem["setup"], problem["x"]
    design = {"monte_carlo": problem["design"],
              "quadrature": gengap.empirical_quadrature(x[:10], 6, 4, setup),
              "population": gengap.population_quadrature(problem["target"], 12, 8, setup)}[source]
    loss = gengap.gram_matrices(rf, design, tile_rows=37)  # several tiles, a ragged last one
    G, C, L0, _ = gram_reference(rf, design)
    # Weighted sums of a few hundred products of O(1) terms, summed in a
    # different order (tiles, syrk): ~1e-15 * count relative to the largest entries.
    scale_G, scale_C = np.abs(G).max(), np.abs(C).max()
    np.testing.assert_allclose(loss.G, G, rtol=0, atol=1e-12 * scale_G)
    np.testing.assert_allclose(loss.C, C, rtol=0, atol=1e-12 * scale_C)
    assert loss.L0 == pytest.approx(L0, rel=1e-12)
    assert (loss.num_features, loss.dim) == (16, 1)
    # G is symmetric exactly (the library fills both triangles from one).
    np.testing.assert_array_equal(loss.G, loss.G.T)
    # Another tile size groups the sums differently (not bitwise): ~1e-16 relative.
    other = gengap.gram_matrices(rf, design)
    np.testing.assert_allclose(other.G, loss.G, rtol=0, atol=1e-14 * scale_G)
    # The thread count does not change a bit (documented).
    try:
        gengap.set_num_threads(1)
        one = gengap.gram_matrices(rf, design, tile_rows=37)
    finally:
        gengap.set_num_threads(0)
    np.testing.assert_array_equal(one.G, loss.G)
    np.testing.assert_array_equal(one.C, loss.C)


def test_quadratic_loss_value_and_gradient(problem):
    train = problem["train"]
    rng = np.random.default_rng(0)
    m = train.num_features
    A = rng.normal(size=(1, m)) * 50
    G, C, L0 = train.G, train.C, train.L0
    ref = np.trace(A @ G @ A.T) / (2 * m**2) - np.trace(A @ C) / m + L0
    # A handful of BLAS-sized sums: 1e-12 relative.
    assert train.value(A) == pytest.approx(ref, rel=1e-12)
    # The loss equals the design's weighted squared residuals (+ the exact constant
    # L0 in place of the sampled 1/2 sum weight |y|^2): a second method.
    _, _, _, p = gram_reference(problem["rf"], problem["design"])
    phi, _, _ = features_reference(problem["rf"], p["x"], p["t"])
    resid = phi @ A.T / m - p["y"]
    direct = 0.5 * np.sum(p["weight"][:, None] * resid**2) - 0.5 * np.sum(p["weight"][:, None] * p["y"]**2) + L0
    assert train.value(A) == pytest.approx(direct, rel=1e-10)
    grad = train.gradient(A)
    np.testing.assert_allclose(grad, A @ G / m**2 - C.T / m, rtol=1e-12, atol=1e-15)
    # Central differences of the quadratic are exact up to rounding (the cubic
    # term vanishes): h = 1e-3 on |A| ~ 50, rounding ~eps |L| / h ~ 1e-13.
    h = 1e-3
    fd = np.array([(train.value(A + h * e) - train.value(A - h * e)) / (2 * h) for e in np.eye(m)[:, None, :]])
    np.testing.assert_allclose(grad[0], fd, rtol=1e-6, atol=1e-9)
    # A loss built by hand from the same matrices.
    same = gengap.QuadraticLoss(G, C, L0)
    assert same.value(A) == train.value(A)


def flow_reference(G, C, A0, tau):
    """A(tau) of dA/dtau = -(A G/m^2 - C^T/m) by scipy.linalg.expm of the augmented
    generator [[-K, C/m], [0, 0]] acting on [A^T; I] (K = G/m^2; fine for singular K)."""
    m, d = C.shape
    M = np.zeros((m + d, m + d))
    M[:m, :m] = -G / m**2
    M[:m, m:] = C / m
    E = expm(M * tau)
    return (E[:m, :m] @ A0.T + E[:m, m:]).T


def test_gradient_flow_vs_expm(problem):
    train = problem["train"]
    G, C = train.G, train.C
    m = train.num_features
    A0 = np.random.default_rng(1).normal(size=(1, m))
    flow = gengap.GradientFlow(train, A0)
    assert (flow.num_features, flow.dim) == (m, 1)
    # Eigenvalues of G vs numpy's eigh (both LAPACK-grade: 1e-12 of lambda_max).
    lam = np.linalg.eigvalsh(G)
    np.testing.assert_allclose(flow.eigenvalues, lam, rtol=0, atol=1e-12 * lam.max())
    np.testing.assert_allclose(flow.rates, np.clip(flow.eigenvalues, 0, None) / m**2, rtol=1e-15)
    short, long_ = flow.timescale_range()
    above = lam[lam > 1e-10 * lam.max()]
    assert short == pytest.approx(m**2 / above.max(), rel=1e-10)
    assert long_ == pytest.approx(m**2 / above.min(), rel=1e-8)
    taus = np.array([0.0, 0.3 * short, short, 30 * short, 1e3 * short])
    stacked = flow.weights(taus)
    assert stacked.shape == (len(taus), 1, m)
    for k, tau in enumerate(taus):
        ref = flow_reference(G, C, A0, tau)
        # expm (Pade, scaling and squaring) and the eigenbasis phi1 formula are
        # both backward stable; with kappa tau up to ~1e3 the error is ~1e-12
        # relative to |A|, times cond-like growth of the long directions: 1e-8.
        np.testing.assert_allclose(stacked[k], ref, rtol=0, atol=1e-8 * max(1.0, np.abs(ref).max()))
        np.testing.assert_array_equal(flow.weights(float(tau)), stacked[k])
        # train_loss along the flow equals the loss evaluated at A(tau) (two
        # formulas for the same number; cancellation in L ~ 1e-13 |terms|).
        assert flow.train_loss(float(tau)) == pytest.approx(train.value(stacked[k]), rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(flow.train_loss(taus), [train.value(a) for a in stacked], rtol=1e-9)
    np.testing.assert_allclose(flow.distance_from_start(taus), [np.linalg.norm(a - A0) for a in stacked],
                               rtol=1e-9, atol=1e-12)
    # A(0) = (A0 Q) Q^T through the eigenbasis: a few roundings.
    np.testing.assert_allclose(flow.weights(0.0), A0, rtol=0, atol=1e-14 * np.abs(A0).max() * m)

    # Eigen-based reference too (a second method): A^T(tau) = Q [e^{-k tau} Q^T A0^T + tau phi1 Q^T C / m].
    lam_, Q = np.linalg.eigh(G)
    kap = np.clip(lam_, 0, None) / m**2
    tau = 10 * short
    z = kap * tau
    phi1 = np.where(z > 0, -np.expm1(-z) / np.where(z > 0, z, 1), 1.0)
    B = np.exp(-z)[:, None] * (Q.T @ A0.T) + tau * phi1[:, None] * (Q.T @ C / m)
    np.testing.assert_allclose(flow.weights(tau), (Q @ B).T, rtol=0, atol=1e-8 * np.abs(B).max())


def test_gradient_flow_limits_and_descent(problem):
    train = problem["train"]
    G, C = train.G, train.C
    m = train.num_features
    flow = gengap.GradientFlow(train)  # A0 = 0
    # A* = m C^T G^+ (pinv with the flow's floor 1e-10 lambda_max as rcond).
    A_star = m * C.T @ np.linalg.pinv(G, rcond=1e-10, hermitian=True)
    got = flow.minimum_norm_minimizer()
    np.testing.assert_allclose(got, A_star, rtol=0, atol=1e-8 * np.abs(A_star).max())
    # ||A0 - A*||^2 with A0 = 0.
    assert flow.distance_to_minimizer_squared() == pytest.approx(np.sum(A_star**2), rel=1e-8)
    # The gap L_n(A(tau)) - L_n(A*) and its bound ||A0 - A*||^2 / (2 tau).
    short, _ = flow.timescale_range()
    taus = np.array([short, 10 * short, 100 * short])
    gaps = flow.optimality_gap(taus)
    ref_gaps = flow.train_loss(taus) - train.value(got)
    # The library's form has no cancellation; the reference has ~1e-15 |L| / gap.
    np.testing.assert_allclose(gaps, ref_gaps, rtol=1e-5, atol=1e-13)
    assert np.all(gaps <= flow.distance_to_minimizer_squared() / (2 * taus))

    # gradient_descent(eta, k) vs k explicit NumPy steps.
    eta = 0.5 * short  # eta kappa_max = 0.5: stable
    A = np.zeros((1, m))
    for _ in range(40):
        A = A - eta * (A @ G / m**2 - C.T / m)
    # 40 steps accumulate ~40 eps relative in each; the closed form sums a
    # geometric series in the eigenbasis: 1e-10 of |A|.
    np.testing.assert_allclose(flow.gradient_descent(eta, 40), A, rtol=0, atol=1e-10 * np.abs(A).max())
    # and GD approaches the flow as eta -> 0 (first order in eta): at tau = eta k
    # the relative gap halves when eta halves.
    tau = 50 * short
    errs = [np.linalg.norm(flow.gradient_descent(tau / k, k) - flow.weights(tau)) for k in (200, 400)]
    assert errs[1] == pytest.approx(errs[0] / 2, rel=0.05)


def test_projected_losses(problem):
    train, rf, setup = problem["train"], problem["rf"], problem["setup"]
    pop = gengap.gram_matrices(rf, gengap.population_quadrature(problem["target"], 16, 8, setup))
    A0 = np.random.default_rng(2).normal(size=(1, train.num_features))
    flow = gengap.GradientFlow(train, A0)
    projected = flow.project(pop)
    assert projected.L0 == pop.L0
    short, _ = flow.timescale_range()
    taus = np.array([0.0, short, 10 * short, 1e3 * short])
    got = flow.losses(projected, taus)
    # The projected quadratic form in the eigenbasis vs the loss at A(tau):
    # the same number by two routes (Q^T G Q vs G): 1e-10 relative.
    np.testing.assert_allclose(got, [pop.value(flow.weights(float(t))) for t in taus], rtol=1e-10)


def test_train_stochastic(problem):
    rf, setup, x = problem["rf"], problem["setup"], problem["x"]
    kw = dict(learning_rate=10.0, steps=1000, batch_size=64, seed=5, record_steps=[10, 500])
    r = gengap.train_stochastic(rf, setup, x, **kw)
    assert r["final_weights"].shape == (1, 16)
    assert r["batch_losses"].shape == (1000,)
    np.testing.assert_array_equal(r["recorded_steps"], [10, 500])
    assert r["recorded_weights"].shape == (2, 1, 16)
    # Counter-based draws: the same seed gives the same bits; another seed does not.
    again = gengap.train_stochastic(rf, setup, x, **kw)
    np.testing.assert_array_equal(again["final_weights"], r["final_weights"])
    np.testing.assert_array_equal(again["batch_losses"], r["batch_losses"])
    other = gengap.train_stochastic(rf, setup, x, **{**kw, "seed": 6})
    assert not np.array_equal(other["final_weights"], r["final_weights"])
    # The loss decreases: the last 100 minibatch losses average below the first 100
    # (from A = 0: the first losses are ~L_0 = 0.37, the trained ones ~0.16).
    losses = r["batch_losses"]
    assert losses[-100:].mean() < 0.7 * losses[:100].mean()

    # SGD with rate eta for k steps is explicit Euler on the flow of L_n (fresh
    # (t, eps) every step: the flow of the noise-integrated L_n, here by
    # quadrature, 32 Gauss-Legendre times x 16 Gauss-Hermite nodes) at tau = eta k.
    # With eta kappa_max ~ 0.08 the Euler bias is small; the minibatch noise
    # leaves ~1% relative deviation in A (measured 1.2% for this seed), so
    # 5% relative in ||A|| and 1% in the training loss.
    exact = gengap.gram_matrices(rf, gengap.empirical_quadrature(x, 32, 16, setup))
    flow = gengap.GradientFlow(exact)
    A_flow = flow.weights(10.0 * 1000)
    A_sgd = r["final_weights"]
    assert np.linalg.norm(A_sgd - A_flow) < 0.05 * np.linalg.norm(A_flow)
    assert exact.value(A_sgd) == pytest.approx(exact.value(A_flow), rel=0.01)

    # Adam runs, is deterministic and also decreases the loss.
    adam = gengap.train_stochastic(rf, setup, x, optimizer="adam", learning_rate=5.0, steps=300, seed=1)
    adam2 = gengap.train_stochastic(rf, setup, x, optimizer="adam", learning_rate=5.0, steps=300, seed=1)
    np.testing.assert_array_equal(adam["final_weights"], adam2["final_weights"])
    assert adam["batch_losses"][-50:].mean() < adam["batch_losses"][:50].mean()


def test_train_stochastic_from_A0(problem):
    rf, setup, x = problem["rf"], problem["setup"], problem["x"]
    A0 = np.full((1, 16), 3.0)
    r = gengap.train_stochastic(rf, setup, x, A0, learning_rate=1.0, steps=1, batch_size=8, seed=2)
    # One SGD step from A0: A1 = A0 - eta grad l(A0); with eta -> small steps
    # the result moves from A0 by eta |grad| (here just check it moved, finitely).
    assert np.all(np.isfinite(r["final_weights"]))
    assert not np.array_equal(r["final_weights"], A0)
    zero = gengap.train_stochastic(rf, setup, x, learning_rate=1.0, steps=1, batch_size=8, seed=2)
    assert not np.array_equal(zero["final_weights"], r["final_weights"])


def test_log_spaced():
    v = gengap.log_spaced(1e-2, 1e3, 6)
    np.testing.assert_allclose(v, np.geomspace(1e-2, 1e3, 6), rtol=1e-14)
    assert v[0] == 1e-2 and v[-1] == 1e3
