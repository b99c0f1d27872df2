"""The samplers (reverse SDE, predictor-corrector, probability flow) on the exact score
of a two-mode mixture: moments against the target, determinism, thread independence."""
import gengap
import numpy as np
import pytest

N = 2000
TARGET_MEAN, TARGET_VAR = 0.0, 10.0  # 1/2 N(-3, 1) + 1/2 N(3, 1)
# E(x^4) of the mixture: mu^4 + 6 mu^2 + 3 = 81 + 54 + 3.
TARGET_M4 = 138.0


@pytest.fixture(scope="module")
def setting():
    target = gengap.GaussianMixture.two_modes(3.0)
    s = gengap.Schedule("ou")
    return target, s, gengap.mixture_score(target, s)


def check_moments(x, bias_allowance=0.0):
    """Sample mean and variance within 5 standard errors of the target's (plus an
    allowance for the discretisation's O(h) bias where a fixed-step method is used).
    SE of the mean sqrt(var/N) = 0.07, of the variance sqrt((m4 - var^2)/N) = 0.13;
    5 SE: a false alarm with probability ~6e-7 per check."""
    x = x[:, 0]
    se_mean = np.sqrt(TARGET_VAR / N)
    se_var = np.sqrt((TARGET_M4 - TARGET_VAR**2) / N)
    assert abs(x.mean() - TARGET_MEAN) < 5 * se_mean
    assert abs(x.var() - TARGET_VAR) < 5 * se_var + bias_allowance
    # Both modes are populated about equally (the valley at 0 separates them).
    left = np.mean(x < 0)
    assert abs(left - 0.5) < 5 * np.sqrt(0.25 / N)


@pytest.mark.parametrize("method,steps,bias", [
    # Euler-Maruyama on [1e-3, 5] with h = 5e-3: weak order 1, measured variance
    # bias -0.2 at h = 0.025, so ~-0.04 here: allowance 0.1.
    ("euler_maruyama", 1000, 0.1),
    ("stochastic_heun", 200, 0.1),
    ("adaptive", 1, 0.1),  # rtol = atol = 1e-2 (the defaults): same allowance
])
def test_reverse_sde_moments(setting, method, steps, bias):
    target, s, score = setting
    r = gengap.sample_reverse_sde(score, N, 1, s, method=method, steps=steps, seed=1)
    assert r["samples"].shape == (N, 1) and r["all_succeeded"]
    check_moments(r["samples"], bias)
    again = gengap.sample_reverse_sde(score, N, 1, s, method=method, steps=steps, seed=1)
    np.testing.assert_array_equal(again["samples"], r["samples"])
    other = gengap.sample_reverse_sde(score, 50, 1, s, method=method, steps=steps, seed=2)
    assert not np.array_equal(other["samples"], r["samples"][:50])


def test_predictor_corrector_moments(setting):
    _, s, score = setting
    for predictor in ("reverse_diffusion", "euler_maruyama"):
        r = gengap.sample_predictor_corrector(score, N, 1, s, predictor=predictor, steps=300, seed=1)
        # 300 predictor steps + one Langevin corrector each: bias as EM at h = 0.017
        # (variance ~ -0.1 at most): allowance 0.2.
        check_moments(r["samples"], 0.2)
        again = gengap.sample_predictor_corrector(score, N, 1, s, predictor=predictor, steps=300, seed=1)
        np.testing.assert_array_equal(again["samples"], r["samples"])


def test_probability_flow_moments_and_latents(setting):
    _, s, score = setting
    r = gengap.sample_probability_flow(score, N, 1, s, seed=1)
    # dopri5 at rtol = atol = 1e-5: the ODE error is negligible against the SE.
    check_moments(r["samples"])
    # The sampler starts from prior_sample(seed): given those latents it is the
    # same computation, bitwise.
    latents = gengap.prior_sample(s, N, 1, seed=1)
    given = gengap.sample_probability_flow(score, N, 1, s, latents=latents)
    np.testing.assert_array_equal(given["samples"], r["samples"])
    # Deterministic map of the latents: the same latents, the same samples.
    again = gengap.sample_probability_flow(score, 0, 1, s, latents=latents[:100], seed=99)
    np.testing.assert_array_equal(again["samples"], r["samples"][:100])


@pytest.mark.parametrize("kind", ["ou", "ve"])
def test_prior_sample_moments(kind):
    s = gengap.Schedule(kind)
    n = 20000
    x = gengap.prior_sample(s, n, 2, seed=3)
    assert x.shape == (n, 2)
    v = s.prior_variance()
    # 5 SE on mean (sqrt(v/n)) and variance (sqrt(2 v^2 / n) for a Gaussian).
    assert np.all(np.abs(x.mean(axis=0)) < 5 * np.sqrt(v / n))
    assert np.all(np.abs(x.var(axis=0) - v) < 5 * v * np.sqrt(2 / n))
    np.testing.assert_array_equal(gengap.prior_sample(s, 10, 2, seed=3), x[:10])


def test_callable_score_same_bits_as_model(setting):
    target, s, score = setting
    calls = []

    def f(x, t):
        calls.append(len(x))
        return target.diffused_evaluate(x, s.mean_scale(t), s.std_dev(t))[1]

    # Fixed-step samplers treat each row on its own: a Python callable computing
    # the same score (the mixture's own kernel) gives the model's bits.
    a = gengap.sample_reverse_sde(score, 200, 1, s, steps=100, seed=4)
    b = gengap.sample_reverse_sde(f, 200, 1, s, steps=100, seed=4)
    np.testing.assert_array_equal(a["samples"], b["samples"])
    # One call per step for the whole batch.
    assert len(calls) == 100 and max(calls) == 200
    c = gengap.sample_predictor_corrector(score, 200, 1, s, steps=50, seed=4)
    d = gengap.sample_predictor_corrector(f, 200, 1, s, steps=50, seed=4)
    np.testing.assert_array_equal(c["samples"], d["samples"])


@pytest.mark.parametrize("sampler", ["reverse_sde", "adaptive", "predictor_corrector", "probability_flow"])
def test_thread_count_independence(setting, sampler, restore_threads):
    _, s, score = setting

    def run():
        if sampler == "reverse_sde":
            return gengap.sample_reverse_sde(score, 600, 1, s, steps=100, seed=5)["samples"]
        if sampler == "adaptive":
            return gengap.sample_reverse_sde(score, 600, 1, s, method="adaptive", seed=5)["samples"]
        if sampler == "predictor_corrector":
            return gengap.sample_predictor_corrector(score, 600, 1, s, steps=50, seed=5)["samples"]
        return gengap.sample_probability_flow(score, 600, 1, s, seed=5)["samples"]

    gengap.set_num_threads(1)
    assert gengap.get_num_threads() == 1
    one = run()
    gengap.set_num_threads(2)
    two = run()
    gengap.set_num_threads(0)
    default = run()
    # Documented: bitwise independent of the thread count.
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, default)


def test_sampler_statistics(setting):
    _, s, score = setting
    r = gengap.sample_reverse_sde(score, 100, 1, s, steps=50, seed=1)
    # Euler-Maruyama: one score evaluation per step (the last step, landing on
    # t_min, omits its noise: denoise_last_step).
    np.testing.assert_array_equal(r["evaluations"], 50)
    assert r["total_evaluations"] == 100 * 50
    nodenoise = gengap.sample_reverse_sde(score, 100, 1, s, steps=50, seed=1, denoise_last_step=False)
    assert not np.array_equal(nodenoise["samples"], r["samples"])
    assert np.all(r["status"] == "success")
