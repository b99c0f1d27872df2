#include "gengap/solvers/probability_flow.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/solvers/detail/finite_rows.hpp"

namespace gengap {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();


}  // namespace

constexpr EnumName<ProbeDistribution> probe_distribution_names[] = {{ProbeDistribution::rademacher, "rademacher"},
                                                                     {ProbeDistribution::gaussian, "gaussian"}};

ProbeDistribution parse_probe_distribution(std::string_view name) {
  return parse_enum_name(name, probe_distribution_names, "distribution", "probe distribution");
}

std::string_view to_string(ProbeDistribution distribution) {
  return enum_name(distribution, probe_distribution_names, "distribution", "ProbeDistribution");
}

void HutchinsonOptions::validate() const {
  require(probes >= 1, "probes", "must be at least 1, got 0");
  require(distribution == ProbeDistribution::rademacher || distribution == ProbeDistribution::gaussian,
          "distribution", "not a valid ProbeDistribution value");
  require(std::isfinite(difference_step) && difference_step >= 0.0, "difference_step",
          "must be finite and >= 0 (0: automatic), got " + std::to_string(difference_step));
}

double hutchinson_probe(const CounterRng& rng, ProbeDistribution distribution, std::uint64_t index) {
  if (distribution == ProbeDistribution::gaussian) return rng.normal(index);
  return rng.uniform(index) < 0.5 ? -1.0 : 1.0;
}

VectorField probability_flow_field(const Schedule& schedule, ScoreDivergenceField score, std::size_t d) {
  schedule.validate();
  require(static_cast<bool>(score), "score", "must be callable");
  require(d >= 1, "d", "must be at least 1");
  return [schedule, score = std::move(score), d](std::span<const double> t, MatrixView y, std::span<double> dy) {
    const std::size_t width = d + 1;
    // Gather the finite rows' x (the score sees only those); per call, not
    // thread-local: a score that runs nested TBB work may let this thread pick
    // up another chunk's evaluation before it returns.
    const std::vector<std::size_t> rows = detail::finite_rows(y, d);
    const std::size_t nf = rows.size();
    std::vector<double> buffer(nf * (2 * d + 2));
    double* x = buffer.data();
    double* ts = x + nf * d;
    double* s = ts + nf;
    double* div = s + nf * d;
    for (std::size_t p = 0; p < nf; ++p) {
      std::copy_n(y.row(rows[p]), d, x + p * d);
      ts[p] = t[rows[p]];
    }
    if (nf > 0) score({ts, nf}, MatrixView{x, nf, d}, {s, nf * d}, {div, nf});
    std::fill(dy.begin(), dy.end(), nan);
    const double dd = static_cast<double>(d);
    for (std::size_t p = 0; p < nf; ++p) {
      const double tp = ts[p];
      const double f = schedule.drift(tp), half_g2 = 0.5 * schedule.diffusion_squared(tp);
      double* out = dy.data() + rows[p] * width;
      const double* xp = x + p * d;
      const double* sp = s + p * d;
      for (std::size_t j = 0; j < d; ++j) out[j] = f * xp[j] - half_g2 * sp[j];
      out[d] = dd * f - half_g2 * div[p];
    }
  };
}

VectorField hutchinson_flow_field(const Schedule& schedule, ScoreField score, std::size_t d,
                                  const HutchinsonOptions& hutchinson) {
  schedule.validate();
  hutchinson.validate();
  require(static_cast<bool>(score), "score", "must be callable");
  require(d >= 1, "d", "must be at least 1");
  return [schedule, score = std::move(score), d, opt = hutchinson](std::span<const double> t, MatrixView y,
                                                                   std::span<double> dy) {
    const std::size_t k = opt.probes, width = d + k + 1, per_row = 1 + 2 * k;
    const CounterRng rng(opt.seed, streams::hutchinson_probes);
    const std::vector<std::size_t> rows = detail::finite_rows(y, d);
    const std::size_t nf = rows.size();
    // Per row: the points x, x + h eps_1, x - h eps_1, ..., x - h eps_k.
    const std::size_t points = nf * per_row;
    std::vector<double> X(points * d), ts(points), S(points * d), probes(nf * k * d), step(nf);
    for (std::size_t p = 0; p < nf; ++p) {
      const double* row = y.row(rows[p]);
      const double index = row[d + k];
      const auto i = static_cast<std::uint64_t>(index);
      double scale = 1.0;
      for (std::size_t j = 0; j < d; ++j) scale = std::max(scale, std::abs(row[j]));
      const double h = opt.difference_step > 0.0 ? opt.difference_step
                                                 : std::cbrt(std::numeric_limits<double>::epsilon()) * scale;
      step[p] = h;
      double* eps = probes.data() + p * k * d;
      for (std::size_t q = 0; q < k * d; ++q) eps[q] = hutchinson_probe(rng, opt.distribution, i * k * d + q);
      double* base = X.data() + p * per_row * d;
      std::copy_n(row, d, base);
      for (std::size_t q = 0; q < k; ++q) {
        double* plus = base + (1 + 2 * q) * d;
        double* minus = plus + d;
        for (std::size_t j = 0; j < d; ++j) {
          plus[j] = row[j] + h * eps[q * d + j];
          minus[j] = row[j] - h * eps[q * d + j];
        }
      }
      std::fill_n(ts.data() + p * per_row, per_row, t[rows[p]]);
    }
    if (nf > 0) score(ts, MatrixView{X.data(), points, d}, S);
    std::fill(dy.begin(), dy.end(), nan);
    const double dd = static_cast<double>(d);
    for (std::size_t p = 0; p < nf; ++p) {
      const double tp = t[rows[p]];
      const double f = schedule.drift(tp), half_g2 = 0.5 * schedule.diffusion_squared(tp);
      const double* row = y.row(rows[p]);
      const double* sp = S.data() + p * per_row * d;
      const double* eps = probes.data() + p * k * d;
      double* out = dy.data() + rows[p] * width;
      for (std::size_t j = 0; j < d; ++j) out[j] = f * row[j] - half_g2 * sp[j];
      const double inv_2h = 0.5 / step[p];
      for (std::size_t q = 0; q < k; ++q) {
        const double* plus = sp + (1 + 2 * q) * d;
        const double* minus = plus + d;
        double estimate = 0.0;
        for (std::size_t j = 0; j < d; ++j) estimate += eps[q * d + j] * (plus[j] - minus[j]);
        out[d + q] = dd * f - half_g2 * estimate * inv_2h;
      }
      out[d + k] = 0.0;
    }
  };
}

}  // namespace gengap
