// Memorisation and interpolation metrics (generalization/memorization.hpp):
// exact answers on constructed samples, the 1/3 criterion at its boundary,
// the uniform law's histogram and KS distance, and reverse-SDE samples of the
// empirical score (memorised) against samples spread along the segment.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gengap/generalization/memorization.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/score_field.hpp"
#include "gengap/solvers/probability_flow.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"

namespace gengap {
namespace {

// n evenly spaced points on the segment [-L, L] x {0}^(d-1).
Matrix segment_points(std::size_t n, std::size_t d, double L = 1.0) {
  Matrix X(n, d, 0.0);
  for (std::size_t i = 0; i < n; ++i) X(i, 0) = L * (-1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(n - 1));
  return X;
}

TEST(NearestTrainingPoints, ExactDistancesAndIndices) {
  const Matrix training = segment_points(5, 2);  // x = -1, -0.5, 0, 0.5, 1
  Matrix samples(3, 2, 0.0);
  samples(0, 0) = 0.5;                     // on point 3
  samples(1, 0) = 0.25;                    // midway between 2 and 3
  samples(2, 0) = 2.0, samples(2, 1) = 1;  // beyond point 4
  const NearestTrainingPoints r = nearest_training_points(samples, training);
  EXPECT_EQ(r.nearest[0], 0.0);
  EXPECT_EQ(r.second_nearest[0], 0.5);
  EXPECT_EQ(r.nearest_index[0], 3u);
  EXPECT_DOUBLE_EQ(r.nearest[1], 0.25);
  EXPECT_DOUBLE_EQ(r.second_nearest[1], 0.25);
  EXPECT_DOUBLE_EQ(r.nearest[2], std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(r.second_nearest[2], std::sqrt(1.5 * 1.5 + 1.0));
  EXPECT_EQ(r.nearest_index[2], 4u);
}

TEST(Memorization, CriterionAtItsBoundary) {
  NearestTrainingPoints d;
  d.nearest = {0.0, 0.1, 0.33, 0.34, 1.0, 0.0};
  d.second_nearest = {1.0, 1.0, 1.0, 1.0, 1.0, 0.0};  // the last: two coincident training points
  const MemorizationReport r = memorization(d);
  EXPECT_EQ(r.samples, 6u);
  EXPECT_EQ(r.memorized, 4u);  // ratios 0, 0.1, 0.33 and 0 (coincident); not 0.34, 1
  EXPECT_DOUBLE_EQ(r.memorized_fraction, 4.0 / 6.0);
  EXPECT_EQ(memorization(d, 0.05).memorized, 2u);
  EXPECT_THROW(memorization(d, 0.0), InvalidArgument);
  EXPECT_THROW(memorization(d, 1.5), InvalidArgument);
}

TEST(SegmentHistogram, UniformSamplesAreCloseToUniform) {
  // 10^4 uniform points on the segment (counter-based draws): KS ~ 1/sqrt(N) = 0.01.
  const std::size_t N = 10000;
  Matrix samples(N, 3, 0.0);
  const CounterRng rng(4, streams::test_data);
  for (std::size_t i = 0; i < N; ++i) {
    const double u = rng.uniform(i);
    samples(i, 0) = -1.0 + 2.0 * u;
    samples(i, 1) = 0.01;  // slightly off the line
  }
  const double a[] = {-1.0, 0.0, 0.0}, b[] = {1.0, 0.0, 0.0};
  const SegmentHistogram h = segment_histogram(samples, a, b, 20);
  EXPECT_EQ(h.inside, N);
  EXPECT_EQ(h.outside, 0u);
  EXPECT_NEAR(h.mean_distance_off_line, 0.01, 1e-12);
  EXPECT_LT(h.ks_to_uniform, 0.02);          // 2x the 1/sqrt(N) scale
  EXPECT_LT(h.total_variation_to_uniform, 0.05);
  double mass = 0.0;
  for (const double p : h.density) mass += p / 20.0;
  EXPECT_NEAR(mass, 1.0, 1e-12);
  // All samples in one spot: KS and TV near their maximum.
  Matrix spot(100, 3, 0.0);
  const SegmentHistogram s = segment_histogram(spot, a, b, 20);
  EXPECT_NEAR(s.ks_to_uniform, 0.5, 1e-12);
  EXPECT_NEAR(s.total_variation_to_uniform, 0.95, 1e-12);
}

TEST(SegmentHistogram, BadInputNamesTheField) {
  const Matrix samples(4, 2, 0.0);
  const double a[] = {0.0, 0.0}, b[] = {1.0, 0.0}, three[] = {0.0, 0.0, 0.0};
  EXPECT_THROW(segment_histogram(samples, three, b, 4), InvalidArgument);
  EXPECT_THROW(segment_histogram(samples, a, a, 4), InvalidArgument);
  EXPECT_THROW(segment_histogram(samples, a, b, 0), InvalidArgument);
  EXPECT_THROW(nearest_training_points(samples, Matrix(1, 2, 0.0)), InvalidArgument);
  EXPECT_THROW(nearest_training_points(samples, Matrix(3, 3, 0.0)), InvalidArgument);
  try {
    nearest_training_points(Matrix(0, 2), Matrix(3, 2, 0.0));
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("samples", 0), 0u) << e.what();
  }
}

// Reverse-SDE samples with the empirical score of 8 points on the segment
// [-4, 4] x {0} in d = 2 land on the training points (memorised fraction near 1); uniform
// samples along the segment are memorised only by chance (ratio < 1/3 <=>
// within h/4 of a training point, for spacing h: half of the segment) and
// look uniform; the samples' histogram (50 bins of 0.16, the points' mass in
// about 16 of them) is far from uniform (measured TV 0.79..0.81).
TEST(Memorization, EmpiricalScoreSamplesAreMemorisedUniformOnesAreNot) {
  const Matrix training = segment_points(8, 2, 4.0);
  Schedule schedule;  // ou, T = 5, t_min = 1e-3
  ReverseSdeOptions options;
  options.method = ReverseSdeMethod::euler_maruyama;
  options.steps = 1000;
  options.seed = 2;
  const SampleResult sde = sample_reverse_sde(schedule, score_only(empirical_score_field(training, schedule)), 400, 2, options);
  ASSERT_TRUE(sde.all_succeeded()) << sde.failure_summary();
  const MemorizationReport memorised = memorization(nearest_training_points(sde.samples, training));
  // sigma_{t_min} ~ 0.045 against a spacing of 8/7: the ratio is < 1/3 unless
  // a sample is caught between points (measured: 399 and 400 of 400 for
  // 500..2000 steps).
  EXPECT_GT(memorised.memorized_fraction, 0.95);

  Matrix uniform(4000, 2, 0.0);
  const CounterRng rng(9, streams::test_data);
  for (std::size_t i = 0; i < uniform.rows(); ++i) uniform(i, 0) = 4.0 * (-1.0 + 2.0 * rng.uniform(i));
  const MemorizationReport spread = memorization(nearest_training_points(uniform, training));
  // Exactly: within h/4 of a training point, i.e. 6 (h/2) + 2 (h/4) = 3.5 h of the 7 h
  // segment, a half; 4000 draws: standard error 0.008.
  EXPECT_NEAR(spread.memorized_fraction, 0.5, 0.03);
  const double a[] = {-4.0, 0.0}, b[] = {4.0, 0.0};
  EXPECT_LT(segment_histogram(uniform, a, b, 50).ks_to_uniform, 0.03);
  EXPECT_GT(segment_histogram(sde.samples, a, b, 50).total_variation_to_uniform, 0.5);
}

}  // namespace
}  // namespace gengap
