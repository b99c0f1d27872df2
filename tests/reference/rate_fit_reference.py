#!/usr/bin/python3
"""SciPy reference values for tests/rate_fit_test.cpp (generalization/rate_fit.hpp).

Run with the system interpreter (python3-scipy, scripts/bootstrap.sh):
    /usr/bin/python3 tests/reference/rate_fit_reference.py
and paste its output into tests/rate_fit_test.cpp where marked. It prints
C++ initializer rows {argument, dof, value}:

  * t_ppf: scipy.stats.t.ppf(p, dof) over a grid of probabilities (deep
    tails, the centre, both sides) and degrees of freedom (non-integer, small,
    large). SciPy 1.10 evaluates it with cdflib's cdft (special.stdtrit),
    whose root search stops early: against 40-digit mpmath its relative error
    over this grid reaches 4.6e-9 (e.g. p = 0.95, dof = 30). So these rows
    check agreement to SciPy's own accuracy only.
  * t_quantile_incbi: the same quantiles, dof <= 100, through the inverse of
    the regularized incomplete beta function, special.btdtri (Cephes incbi),
    each side where it is the small quantity:
        alpha = P(|T| > t) <= 1/2:  x = btdtri(dof/2, 1/2, alpha),   t = sqrt(dof (1-x)/x)
        otherwise:                   y = btdtri(1/2, dof/2, 1-alpha), t = sqrt(dof y/(1-y))
    Against 40-digit mpmath these are within 7e-13 relative over the grid
    (incbi loses accuracy for dof >~ 1e4, hence the cut).
  * t_cdf: scipy.stats.t.cdf(t, dof) (Cephes stdtr through incbet: within
    5e-15 of mpmath on these rows).
  * the power-law fit of one fixed data set by scipy.stats.linregress on
    (ln x, ln y), with the 95% interval slope -+ q * stderr, q the 0.975
    quantile with N - 2 = 5 degrees of freedom by the incbi route.
"""
import numpy as np
import scipy
from scipy import special, stats


def t_quantile_incbi(p, nu):
    upper = p > 0.5
    alpha = 2 * (1 - p) if upper else 2 * p
    central = 2 * p - 1 if upper else 1 - 2 * p
    if alpha <= 0.5:
        x = special.btdtri(nu / 2, 0.5, alpha)
        t = np.sqrt(nu * (1 - x) / x)
    else:
        y = special.btdtri(0.5, nu / 2, central)
        t = np.sqrt(nu * y / (1 - y))
    return float(t if upper else -t)


print(f"// scipy {scipy.__version__}, numpy {np.__version__}")

probabilities = [1e-12, 1e-6, 0.001, 0.025, 0.3, 0.4999, 0.5000001, 0.6, 0.75, 0.9,
                 0.95, 0.975, 0.99, 0.995, 0.9999, 1 - 1e-9]
dofs = [0.5, 1, 1.5, 2, 3, 5, 7.5, 10, 30, 100, 1e4, 1e6]
print("// t_ppf: {p, dof, scipy.stats.t.ppf(p, dof)}")
for p in probabilities:
    for nu in dofs:
        print(f"{{{p!r}, {nu!r}, {float(stats.t.ppf(p, nu))!r}}},")

print("// t_quantile_incbi: {p, dof, quantile through special.btdtri}")
for p in probabilities:
    for nu in dofs:
        if nu <= 100:
            print(f"{{{p!r}, {nu!r}, {t_quantile_incbi(p, nu)!r}}},")

print("// t_cdf: {t, dof, scipy.stats.t.cdf(t, dof)}")
for t in [-40.0, -3.0, -0.5, 1e-8, 0.2, 1.0, 2.5, 7.0, 1e3]:
    for nu in [0.5, 1, 4, 25.5, 1e5]:
        print(f"{{{t!r}, {nu!r}, {float(stats.t.cdf(t, nu))!r}}},")

x = np.array([125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0])
y = np.array([0.412, 0.318, 0.2405, 0.1779, 0.1391, 0.1012, 0.0797])
fit = stats.linregress(np.log(x), np.log(y))
q = t_quantile_incbi(0.975, len(x) - 2)
print("// linregress(ln x, ln y) on x =", list(x), "y =", list(y))
print(f"slope = {fit.slope!r}; slope_se = {fit.stderr!r};")
print(f"log_prefactor = {fit.intercept!r}; log_prefactor_se = {fit.intercept_stderr!r};")
print(f"r_squared = {fit.rvalue**2!r}; t_975_5 = {q!r};")
print(f"slope_low = {fit.slope - q * fit.stderr!r}; slope_high = {fit.slope + q * fit.stderr!r};")
