// The augmented probability-flow term (docs/math.md §9): derivatives against the
// formula written out with the schedule's f and g^2 by hand, non-finite rows
// kept away from the score, Hutchinson probes addressed by (point, probe,
// coordinate) and the central difference exact on a linear score.
#include <gtest/gtest.h>

#include "test_support.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "gengap/kernels/random.hpp"
#include "gengap/solvers/probability_flow.hpp"

namespace gengap {
namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// f(t) and g(t)^2 from docs/math.md §1 directly (not through Schedule).
double drift_by_hand(const Schedule& s, double t) {
  return s.kind == ScheduleKind::ou ? -1.0 : -0.5 * (s.beta_min + t * (s.beta_max - s.beta_min));
}
double g2_by_hand(const Schedule& s, double t) {
  return s.kind == ScheduleKind::ou ? 2.0 : s.beta_min + t * (s.beta_max - s.beta_min);
}

// s(x) = -B x with a fixed non-symmetric B (d = 2): divergence -tr B.
constexpr double B[2][2] = {{1.5, 0.7}, {-0.4, 0.6}};
void linear_score(MatrixView x, std::span<double> out) {
  for (std::size_t r = 0; r < x.rows; ++r) {
    out[r * 2] = -(B[0][0] * x(r, 0) + B[0][1] * x(r, 1));
    out[r * 2 + 1] = -(B[1][0] * x(r, 0) + B[1][1] * x(r, 1));
  }
}

TEST(ProbabilityFlow, ExactFieldIsTheAugmentedVelocity) {
  for (const ScheduleKind kind : {ScheduleKind::ou, ScheduleKind::vp}) {
    const Schedule s = default_schedule(kind);
    std::size_t rows_seen = 0;
    const ScoreDivergenceField score = [&](std::span<const double>, MatrixView x, std::span<double> out,
                                           std::span<double> div) {
      rows_seen += x.rows;
      linear_score(x, out);
      for (std::size_t r = 0; r < x.rows; ++r) div[r] = -(B[0][0] + B[1][1]);
    };
    const VectorField field = probability_flow_field(s, score, 2);
    // Row 1 is non-finite (a diverging stage): NaN out, never shown to the score.
    const Matrix y(3, 3, std::vector<double>{0.3, -1.2, 7.0, nan, 1.0, 0.0, 2.0, 0.5, -3.0});
    const std::vector<double> t{0.01, 0.2, 0.9};
    std::vector<double> dy(9, 0.0);
    field(t, y, dy);
    EXPECT_EQ(rows_seen, 2u);
    for (const std::size_t r : {0u, 2u}) {
      const double f = drift_by_hand(s, t[r]), g2 = g2_by_hand(s, t[r]);
      const double x0 = y(r, 0), x1 = y(r, 1);
      const double s0 = -(B[0][0] * x0 + B[0][1] * x1), s1 = -(B[1][0] * x0 + B[1][1] * x1);
      EXPECT_NEAR(dy[r * 3], f * x0 - 0.5 * g2 * s0, 1e-13);
      EXPECT_NEAR(dy[r * 3 + 1], f * x1 - 0.5 * g2 * s1, 1e-13);
      // ell' = d f - g^2/2 div s (ell itself does not enter).
      EXPECT_NEAR(dy[r * 3 + 2], 2 * f + 0.5 * g2 * (B[0][0] + B[1][1]), 1e-13);
    }
    for (std::size_t j = 0; j < 3; ++j) EXPECT_TRUE(std::isnan(dy[3 + j]));
  }
}

TEST(ProbabilityFlow, HutchinsonFieldUsesIndexedProbesAndExactDifferences) {
  const Schedule s = default_schedule(ScheduleKind::vp);
  const ScoreField score = [](std::span<const double>, MatrixView x, std::span<double> out) { linear_score(x, out); };
  for (const ProbeDistribution dist : {ProbeDistribution::rademacher, ProbeDistribution::gaussian}) {
    HutchinsonOptions h;
    h.probes = 3;
    h.distribution = dist;
    h.seed = 77;
    const VectorField field = hutchinson_flow_field(s, score, 2, h);
    const std::size_t k = 3, width = 2 + k + 1;
    // Two rows that carry the point indices 5 and 0 (any order in a chunk).
    Matrix y(2, width, 0.0);
    y(0, 0) = 0.4, y(0, 1) = -2.0, y(0, width - 1) = 5.0;
    y(1, 0) = -1.0, y(1, 1) = 0.25, y(1, width - 1) = 0.0;
    const std::vector<double> t{0.3, 0.05};
    std::vector<double> dy(2 * width);
    field(t, y, dy);
    const CounterRng rng(77, streams::hutchinson_probes);
    for (std::size_t r = 0; r < 2; ++r) {
      const auto i = static_cast<std::uint64_t>(y(r, width - 1));
      const double f = drift_by_hand(s, t[r]), g2 = g2_by_hand(s, t[r]);
      for (std::size_t p = 0; p < k; ++p) {
        const double e0 = hutchinson_probe(rng, dist, (i * k + p) * 2), e1 = hutchinson_probe(rng, dist, (i * k + p) * 2 + 1);
        // eps^T J eps with J = -B; the central difference of a linear map is
        // exact up to rounding (~eps |x| / h ~ 1e-10 relative).
        const double quad = -(e0 * (B[0][0] * e0 + B[0][1] * e1) + e1 * (B[1][0] * e0 + B[1][1] * e1));
        EXPECT_NEAR(dy[r * width + 2 + p], 2 * f - 0.5 * g2 * quad, 1e-8 * (1.0 + std::abs(g2 * quad)))
            << to_string(dist) << " row " << r << " probe " << p;
      }
      EXPECT_EQ(dy[r * width + width - 1], 0.0);  // the index is constant
      const double x0 = y(r, 0), x1 = y(r, 1);
      EXPECT_NEAR(dy[r * width], f * x0 + 0.5 * g2 * (B[0][0] * x0 + B[0][1] * x1), 1e-12);
    }
    // The same point alone in a call: bitwise the same derivatives.
    std::vector<double> alone(width);
    field(std::span<const double>(&t[0], 1), MatrixView{y.row(0).data(), 1, width}, alone);
    for (std::size_t j = 0; j < width; ++j) EXPECT_EQ(alone[j], dy[j]);
  }
}

TEST(ProbabilityFlow, ProbesHaveTheirDistribution) {
  // 1e5 draws: mean within 5 SE (SE 1/sqrt(n) = 0.0032), Rademacher +-1 only,
  // Gaussian variance within 5 SE (SE sqrt(2/n) = 0.0045).
  const CounterRng rng(3, streams::hutchinson_probes);
  const std::size_t n = 100000;
  double sum_r = 0.0, sum_g = 0.0, sum_g2 = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double r = hutchinson_probe(rng, ProbeDistribution::rademacher, i);
    ASSERT_TRUE(r == 1.0 || r == -1.0);
    sum_r += r;
    const double g = hutchinson_probe(rng, ProbeDistribution::gaussian, i);
    sum_g += g;
    sum_g2 += g * g;
  }
  EXPECT_LT(std::abs(sum_r / n), 5.0 / std::sqrt(static_cast<double>(n)));
  EXPECT_LT(std::abs(sum_g / n), 5.0 / std::sqrt(static_cast<double>(n)));
  EXPECT_LT(std::abs(sum_g2 / n - 1.0), 5.0 * std::sqrt(2.0 / static_cast<double>(n)));
}

TEST(ProbabilityFlow, ScoreOnlyDropsTheDivergence) {
  const ScoreDivergenceField field = [](std::span<const double>, MatrixView x, std::span<double> out,
                                        std::span<double> div) {
    linear_score(x, out);
    for (double& v : div) v = 123.0;
  };
  const ScoreField score = score_only(field);
  const Matrix x(2, 2, std::vector<double>{1.0, 2.0, -3.0, 0.5});
  const std::vector<double> t{0.1, 0.2};
  std::vector<double> out(4), ref(4);
  score(t, x, out);
  linear_score(x, ref);
  EXPECT_EQ(out, ref);
}

TEST(ProbabilityFlow, RejectsMisuseNamingTheField) {
  const Schedule s = default_schedule(ScheduleKind::ou);
  const ScoreField score = [](std::span<const double>, MatrixView, std::span<double>) {};
  expect_invalid([&] { probability_flow_field(s, ScoreDivergenceField{}, 2); }, "score");
  expect_invalid([] { score_only(ScoreDivergenceField{}); }, "field");
  HutchinsonOptions h;
  expect_invalid([&] { hutchinson_flow_field(s, score, 0, h); }, "d");
  h.probes = 0;
  expect_invalid([&] { hutchinson_flow_field(s, score, 2, h); }, "probes");
  h.probes = 1;
  h.difference_step = nan;
  expect_invalid([&] { hutchinson_flow_field(s, score, 2, h); }, "difference_step");
  Schedule bad = s;
  bad.T = -1.0;
  expect_invalid([&] { hutchinson_flow_field(bad, score, 2, HutchinsonOptions{}); }, "T");
}

}  // namespace
}  // namespace gengap
