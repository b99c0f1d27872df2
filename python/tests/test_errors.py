"""Bad arguments raise the right exception and name the argument: wrong dtype -> TypeError,
wrong shape or NaN -> ValueError, the library's own checks -> ValueError with the field,
exceptions of a Python callable propagate out of the solvers unchanged."""
import gengap
import numpy as np
import pytest


@pytest.fixture(scope="module")
def setup():
    return gengap.DsmSetup(gengap.Schedule("ou"))


def test_wrong_dtype_is_a_type_error_naming_the_argument(two_modes):
    with pytest.raises(TypeError, match="^x: expected real numbers, got dtype complex128"):
        two_modes.log_density(np.ones((3, 1), dtype=complex))
    with pytest.raises(TypeError, match="^x: "):
        two_modes.log_density(np.array([["a"], ["b"]]))
    with pytest.raises(TypeError, match="^x: .*None"):
        two_modes.score(None)


def test_wrong_shape_and_nan_are_value_errors_naming_the_argument(two_modes, setup):
    with pytest.raises(ValueError, match=r"^x: expected 1 columns, got shape \(4, 2\)"):
        two_modes.log_density(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="^x: expected a 2-D array"):
        two_modes.log_density(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"^x: non-finite value \(nan\) at flat index 1"):
        two_modes.log_density(np.array([[0.0], [np.nan]]))
    with pytest.raises(ValueError, match="^data: "):
        gengap.log_likelihood(gengap.mixture_score(two_modes, setup.schedule), np.zeros((0, 1)), setup.schedule)
    rf = gengap.draw_random_features(8, 1, gengap.linear_embedding(5.0), seed=1)
    with pytest.raises(ValueError, match=r"^A: expected 8 columns"):
        gengap.random_feature_score(rf, np.zeros((1, 9)), setup)
    with pytest.raises(ValueError, match="^t: expected 3 entries"):
        rf.features(np.zeros((3, 1)), np.zeros(2))


def test_integer_and_strided_input_is_converted_once(two_modes):
    x = np.arange(-3, 4)[:, None]                   # int64
    wide = np.zeros((7, 2)); wide[:, 0] = x[:, 0]   # a strided column view below
    expected = two_modes.log_density(x.astype(float))
    np.testing.assert_array_equal(two_modes.log_density(x), expected)
    np.testing.assert_array_equal(two_modes.log_density(wide[:, :1]), expected)
    np.testing.assert_array_equal(two_modes.log_density(x[:, 0].astype(float)), expected)  # 1-D = one column in d = 1


def test_library_checks_name_their_field(setup, two_modes):
    with pytest.raises(ValueError, match="^schedule: unknown"):
        gengap.Schedule("nope")
    with pytest.raises(ValueError, match="^activation: unknown activation 'relux'"):
        gengap.draw_random_features(8, 1, gengap.linear_embedding(5.0), activation="relux")
    with pytest.raises(ValueError, match="method"):
        gengap.sample_reverse_sde(gengap.mixture_score(two_modes, setup.schedule), 4, 1, setup.schedule, method="rk45")
    with pytest.raises(ValueError, match="method"):
        gengap.log_likelihood(gengap.mixture_score(two_modes, setup.schedule), np.zeros((2, 1)), setup.schedule,
                              method="rk45")
    with pytest.raises(ValueError, match="rtol"):
        gengap.log_likelihood(gengap.mixture_score(two_modes, setup.schedule), np.zeros((2, 1)), setup.schedule,
                              rtol=-1.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'rtoll'"):
        gengap.log_likelihood(gengap.mixture_score(two_modes, setup.schedule), np.zeros((2, 1)), setup.schedule,
                              rtoll=1e-3)
    with pytest.raises(ValueError, match="^optimizer: unknown optimizer 'lbfgs'"):
        rf = gengap.draw_random_features(8, 1, gengap.linear_embedding(5.0), seed=1)
        gengap.train_stochastic(rf, setup, np.zeros((4, 1)), optimizer="lbfgs")
    with pytest.raises(ValueError, match="score: the score model is 1-dimensional"):
        gengap.sample_reverse_sde(gengap.mixture_score(two_modes, setup.schedule), 4, 2, setup.schedule)
    with pytest.raises(TypeError, match="^score: expected a gengap.ScoreModel or a callable"):
        gengap.sample_reverse_sde(3.0, 4, 1, setup.schedule)


def test_an_exception_in_a_python_score_propagates(setup):
    class Boom(RuntimeError):
        pass

    def failing(x, t):
        raise Boom("from the score")

    with pytest.raises(Boom, match="from the score"):
        gengap.log_likelihood(failing, np.zeros((5, 1)), setup.schedule)
    with pytest.raises(Boom):
        gengap.sample_reverse_sde(failing, 5, 1, setup.schedule, steps=10)


def test_a_python_score_of_the_wrong_shape_is_a_value_error(setup):
    with pytest.raises(ValueError, match=r"score \(returned by the callable\): expected shape \(5, 1\)"):
        gengap.sample_reverse_sde(lambda x, t: np.zeros((x.shape[0], 2)), 5, 1, setup.schedule, steps=10)
    with pytest.raises(TypeError, match="must return \\(score, divergence\\)"):
        gengap.log_likelihood(lambda x, t: -x, np.zeros((5, 1)), setup.schedule, divergence="exact")


def test_a_nan_from_a_python_score_fails_that_trajectory_only(setup):
    def half_nan(x, t):
        s = -x.copy()
        s[x[:, 0] > 0] = np.nan
        return s

    r = gengap.sample_reverse_sde(half_nan, 50, 1, setup.schedule, steps=20, seed=3)
    assert not r["all_succeeded"]
    assert set(r["status"]) <= {"success", "non_finite"} and "non_finite" in set(r["status"])
    assert "trajectory" in r["failure_summary"]
