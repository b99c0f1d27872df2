"""Numerical references shared by the tests (plain NumPy, independent of gengap)."""
import numpy as np


def finite_difference_gradient(f, x, h=1e-5):
    """Central differences of a row-wise scalar function f: (N, d) -> (N,), shape (N, d).
    Error O(h^2 f''') + O(eps |f| / h): ~1e-10 relative for h = 1e-5 on smooth O(1) functions."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, j] = h
        out[:, j] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def finite_difference_divergence(score, x, h=1e-5):
    """sum_j d s_j / d x_j by central differences of a row-wise field score: (N, d) -> (N, d)."""
    x = np.asarray(x, dtype=float)
    out = np.zeros(x.shape[0])
    for j in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, j] = h
        out += (score(x + e)[:, j] - score(x - e)[:, j]) / (2 * h)
    return out


def mixture_log_density(weights, means, covs, x):
    """log sum_k pi_k N(x; m_k, S_k) by SciPy's multivariate normal and logsumexp."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    x = np.asarray(x, dtype=float)
    terms = np.stack([np.log(w) + multivariate_normal(mean=m, cov=c).logpdf(x).reshape(x.shape[0])
                      for w, m, c in zip(weights, means, covs)])
    return logsumexp(terms, axis=0)


def activation(name, z):
    """act(z) and act'(z) for gengap's activations, from their textbook formulas."""
    from scipy.special import expit

    if name == "relu":
        return np.maximum(z, 0.0), (z > 0).astype(float)
    if name == "silu":
        s = expit(z)
        return z * s, s * (1 + z * (1 - s))
    if name == "softplus":
        return np.logaddexp(0.0, z), expit(z)
    if name == "tanh":
        return np.tanh(z), 1 - np.tanh(z) ** 2
    raise ValueError(name)


def embedding_reference(embedding, t):
    """e(t) from the TimeEmbedding docstring's formulas (N, dim)."""
    t = np.asarray(t, dtype=float)
    if embedding.kind in ("fourier", "sinusoidal"):
        angle = 2 * np.pi * np.outer(t, embedding.frequencies)
        return np.hstack([np.sin(angle), np.cos(angle)])
    if embedding.kind == "linear":
        return (t / embedding.horizon)[:, None]
    if embedding.kind == "polynomial":
        return (t[:, None] / embedding.horizon) ** np.arange(1, embedding.degree + 1)
    raise ValueError(embedding.kind)


def features_reference(rf, x, t):
    """phi = act(W x + U e(t) + b) (N, m) and z, in NumPy from the features' parameters."""
    x = np.asarray(x, dtype=float).reshape(-1, rf.dim)
    t = np.broadcast_to(np.asarray(t, dtype=float), (x.shape[0],))
    z = x @ rf.W.T + embedding_reference(rf.embedding, t) @ rf.U.T + rf.b
    phi, dphi = activation(rf.activation, z)
    return phi, dphi, z
