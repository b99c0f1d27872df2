// Student's t distribution function and quantile (declared in rate_fit.hpp),
// without a special-function library: the regularized incomplete beta
// function by its continued fraction (modified Lentz), the log-beta prefactor
// by Stirling's series for large arguments, and the quantile by safeguarded
// Newton iteration in log-log coordinates.
#include <cmath>
#include <limits>
#include <string>

#include "gengap/generalization/rate_fit.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

constexpr double kLogSqrt2Pi = 0.918938533204672741780329736406;  // ln sqrt(2 pi)

// ln Gamma(x) - [(x - 1/2) ln x - x + ln sqrt(2 pi)] for x >= 10: Stirling's
// series sum_k B_2k / (2k (2k-1) x^(2k-1)). At x = 10 the first omitted term is
// 3617/122400 * 1e-15 ~ 3e-17: exact to rounding.
double stirling_correction(double x) {
  const double r = 1.0 / x, r2 = r * r;
  return r * (1.0 / 12 + r2 * (-1.0 / 360 + r2 * (1.0 / 1260 + r2 * (-1.0 / 1680 +
              r2 * (1.0 / 1188 + r2 * (-691.0 / 360360 + r2 * (1.0 / 156)))))));
}

// ln B(a, b) = ln Gamma(a) + ln Gamma(b) - ln Gamma(a + b). For large
// arguments the three ln Gamma are huge and nearly cancel (a = 5e5: ~6e6 each,
// losing 1e-9 absolutely); the Stirling form cancels the large parts
// analytically instead (the same arrangement as R's lbeta).
double log_beta(double a, double b) {
  const double p = std::fmin(a, b), q = std::fmax(a, b);
  if (p >= 10.0) {
    const double corr = stirling_correction(p) + stirling_correction(q) - stirling_correction(p + q);
    return -0.5 * std::log(q) + kLogSqrt2Pi + corr + (p - 0.5) * std::log(p / (p + q)) +
           q * std::log1p(-p / (p + q));
  }
  if (q >= 10.0) {
    const double corr = stirling_correction(q) - stirling_correction(p + q);
    // tgamma, unlike lgamma, writes no global (signgam): safe from many threads.
    return std::log(std::tgamma(p)) + corr + p - p * std::log(p + q) + (q - 0.5) * std::log1p(-p / (p + q));
  }
  return std::log(std::tgamma(p) * std::tgamma(q) / std::tgamma(p + q));
}

// Continued fraction of I_x(a, b) (Numerical Recipes' betacf, modified Lentz):
// I_x(a, b) = x^a y^b / (a B(a, b)) * cf. Converges fast for x < (a+1)/(a+b+2);
// the number of terms grows like sqrt(max(a, b)).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300;
  constexpr double eps = 1e-16;
  constexpr int max_terms = 1000000;
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0, d = 1.0 - qab * x / qap;
  if (std::fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= max_terms; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) <= eps) return h;
  }
  throw NumericalError("incomplete beta: continued fraction did not converge (a = " + std::to_string(a) +
                       ", b = " + std::to_string(b) + ", x = " + std::to_string(x) + ")");
}

// ln I_x(a, b) and ln(1 - I_x(a, b)), from ln x and ln y (y = 1 - x), each
// accurate where it is the small one: the continued fraction gives whichever
// side converges, the other is log1p(-that).
struct LogIncompleteBeta {
  double log_value;
  double log_complement;
};

LogIncompleteBeta log_incomplete_beta(double a, double b, double log_x, double log_y) {
  const double x = std::exp(log_x), y = std::exp(log_y);
  const double log_front = a * log_x + b * log_y - log_beta(a, b);
  if (x < (a + 1.0) / (a + b + 2.0)) {
    const double log_value = log_front + std::log(beta_continued_fraction(a, b, x) / a);
    return {log_value, std::log1p(-std::exp(log_value))};
  }
  const double log_complement = log_front + std::log(beta_continued_fraction(b, a, y) / b);
  return {std::log1p(-std::exp(log_complement)), log_complement};
}

// At t = e^u > 0: ln of the two-sided tail F = P(|T| > t) = I_{nu/(nu+t^2)}(nu/2, 1/2),
// ln of its complement 1 - F = P(|T| <= t), and ln of the density f(t).
struct TailAt {
  double log_two_sided;
  double log_central;
  double log_density;
};

TailAt tail_at(double u, double nu) {
  // x = nu/(nu+t^2) = 1/(1+r^2), y = r^2/(1+r^2), r = t/sqrt(nu), all in logs:
  // neither r nor r^2 is formed where it could overflow (t ~ 1e300, nu < 1).
  const double log_r = u - 0.5 * std::log(nu);
  double log_x, log_y;
  if (log_r <= 0.0) {
    const double r = std::exp(log_r);
    log_x = -std::log1p(r * r);
    log_y = 2.0 * log_r + log_x;
  } else {
    const double inverse = std::exp(-log_r);
    log_y = -std::log1p(inverse * inverse);
    log_x = -2.0 * log_r + log_y;
  }
  const double a = 0.5 * nu, b = 0.5;
  const LogIncompleteBeta ib = log_incomplete_beta(a, b, log_x, log_y);
  // f(t) = (1 + t^2/nu)^(-(nu+1)/2) / (sqrt(nu) B(nu/2, 1/2)), and 1 + t^2/nu = 1/x.
  const double log_density = (a + 0.5) * log_x - 0.5 * std::log(nu) - log_beta(a, b);
  return {ib.log_value, ib.log_complement, log_density};
}

void require_dof(double nu) {
  if (!(nu > 0.0) || !std::isfinite(nu)) {
    throw InvalidArgument("degrees_of_freedom", "must be positive and finite, got " + std::to_string(nu));
  }
}

}  // namespace

double student_t_cdf(double t, double degrees_of_freedom) {
  require_dof(degrees_of_freedom);
  if (std::isnan(t)) throw InvalidArgument("t", "must not be NaN");
  if (t == 0.0) return 0.5;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  const double upper = 0.5 * std::exp(tail_at(std::log(std::fabs(t)), degrees_of_freedom).log_two_sided);
  return t > 0 ? 1.0 - upper : upper;
}

double student_t_quantile(double probability, double degrees_of_freedom) {
  require_dof(degrees_of_freedom);
  if (!(probability > 0.0 && probability < 1.0)) {
    throw InvalidArgument("probability", "must be in (0, 1), got " + std::to_string(probability));
  }
  if (probability == 0.5) return 0.0;
  const double nu = degrees_of_freedom;
  const bool upper = probability > 0.5;
  // Two-sided tail alpha = P(|T| > t) and central 1 - alpha, both exact in
  // floating point (Sterbenz: 1 - p for p >= 1/2, 2p - 1 for p in [1/4, 1]).
  const double alpha = upper ? 2.0 * (1.0 - probability) : 2.0 * probability;
  const double central = upper ? 2.0 * probability - 1.0 : 1.0 - 2.0 * probability;
  // Solve in whichever of ln F(t) = ln alpha, ln(1 - F(t)) = ln(1 - alpha) has
  // the smaller target: near the centre 1 - F ~ 2 f(0) t is nearly linear in
  // t on a log-log scale, in the tails ln F ~ -nu ln t (heavy) or ~ -t^2/2;
  // both are well conditioned, while ln F = ln alpha near alpha = 1 would
  // lose the digits of 1 - alpha.
  const bool tail = alpha <= 0.5;
  const double log_target = std::log(tail ? alpha : central);
  // g(u), increasing in u = ln t: ln(1 - F) - ln(1 - alpha) at the centre,
  // ln alpha - ln F in the tails; `slope` is its derivative in u.
  auto g = [&](double u, double& slope) {
    const TailAt at = tail_at(u, nu);
    // d ln F / d ln t = -2 t f(t) / F; d ln(1-F) / d ln t = 2 t f(t) / (1 - F).
    const double log_two_t_f = std::log(2.0) + u + at.log_density;
    if (tail) {
      slope = std::exp(log_two_t_f - at.log_two_sided);
      return log_target - at.log_two_sided;
    }
    slope = std::exp(log_two_t_f - at.log_central);
    return at.log_central - log_target;
  };
  // Bracket [lo, hi] with g(lo) < 0 < g(hi), by steps doubling away from u = 0
  // (t = 1): ~10 steps reach any double. A quantile beyond the largest double
  // (p = 1e-300 with dof < 1) is returned as infinity.
  double u_max = std::log(std::numeric_limits<double>::max());
  while (!std::isfinite(std::exp(u_max))) u_max = std::nextafter(u_max, 0.0);  // exp must not round to inf
  double lo = 0.0, hi = 0.0, slope = 0.0;
  double u = 0.0, gu = g(u, slope);
  if (gu == 0.0) return upper ? 1.0 : -1.0;
  if (gu < 0.0) {
    for (double step = 1.0; gu < 0.0; step *= 2.0) {
      if (u == u_max) return upper ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
      lo = u;
      u = std::fmin(u + step, u_max);
      gu = g(u, slope);
    }
    hi = u;
  } else {
    // t >= ~1e-17 here: p - 1/2 is at least one ulp of 1/2 and f(0) < 0.4.
    for (double step = 1.0; gu > 0.0; step *= 2.0) {
      hi = u;
      u -= step;
      gu = g(u, slope);
    }
    lo = u;
  }
  // Newton from the last bracket end; a step leaving (lo, hi) is replaced by
  // bisection, and every evaluation shrinks the bracket.
  for (int iteration = 0; iteration < 200; ++iteration) {
    if (gu == 0.0) break;
    if (gu < 0.0) lo = u;
    else hi = u;
    double next = u - gu / slope;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    const double step = std::fabs(next - u);
    u = next;
    gu = g(u, slope);
    // A step at the last bits of u (relative 1e-15 of t) ends the iteration;
    // so does a bracket that no longer holds a double strictly inside.
    if (step <= 1e-15 * std::fmax(1.0, std::fabs(u)) || hi - lo <= 4e-16 * std::fmax(1.0, std::fabs(u))) break;
  }
  const double t = std::exp(u);
  return upper ? t : -t;
}

}  // namespace gengap
