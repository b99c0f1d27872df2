// Gaussian mixtures (docs/math.md §7): densities against explicit formulas, scores
// against finite differences and closed forms, far-away points (no underflow),
// sampling and the forward-process diffusion against Monte Carlo moments,
// thread-count determinism and argument checks naming the field.
#include <gtest/gtest.h>

#include "test_support.hpp"

#include <oneapi/tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <numbers>
#include <string>
#include <vector>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/random.hpp"

namespace gengap {
namespace {

constexpr double pi = std::numbers::pi;

Matrix mat(std::size_t r, std::size_t c, std::vector<double> v) { return Matrix(r, c, std::move(v)); }

// A correlated 3-d covariance (SPD: eigenvalues all positive, checked by the
// positive leading minors 2, 2*1.5-0.36, det below).
Matrix cov3() { return mat(3, 3, {2.0, 0.6, -0.3, 0.6, 1.5, 0.4, -0.3, 0.4, 1.0}); }

// Explicit multivariate normal log density in 3-d, via cofactor inverse and
// the rule of Sarrus: shares no code with the Cholesky path.
double mvn3_log_density(const double* x, const double* m, const Matrix& S) {
  const double a = S(0, 0), b = S(0, 1), c = S(0, 2), d = S(1, 1), e = S(1, 2), f = S(2, 2);
  const double det = a * (d * f - e * e) - b * (b * f - e * c) + c * (b * e - d * c);
  // Symmetric adjugate.
  const double i00 = d * f - e * e, i01 = c * e - b * f, i02 = b * e - c * d;
  const double i11 = a * f - c * c, i12 = b * c - a * e, i22 = a * d - b * b;
  const double y0 = x[0] - m[0], y1 = x[1] - m[1], y2 = x[2] - m[2];
  const double q = (i00 * y0 * y0 + i11 * y1 * y1 + i22 * y2 * y2 + 2.0 * (i01 * y0 * y1 + i02 * y0 * y2 + i12 * y1 * y2)) / det;
  return -0.5 * q - 0.5 * std::log(std::pow(2.0 * pi, 3) * det);
}

double normal_pdf(double x, double m, double v) { return std::exp(-(x - m) * (x - m) / (2.0 * v)) / std::sqrt(2.0 * pi * v); }

TEST(GaussianMixture, LogDensityMatchesExplicitMultivariateNormal) {
  const std::vector<double> mean{0.5, -1.0, 2.0};
  const GaussianMixture g({3.7}, mat(1, 3, mean), {cov3()});
  EXPECT_EQ(g.weights()[0], 1.0);  // normalised
  const Matrix X = mat(4, 3, {0.0, 0.0, 0.0, 0.5, -1.0, 2.0, 3.0, 1.0, -2.0, -4.0, 2.5, 0.1});
  const std::vector<double> lp = g.log_density(X);
  for (std::size_t i = 0; i < X.rows(); ++i) {
    const double ref = mvn3_log_density(X.row(i).data(), mean.data(), cov3());
    // Both are O(10) values from O(1)-conditioned 3x3 algebra: rounding is
    // ~10 eps * cond(S) ~ 1e-14 relative; 1e-12 leaves margin.
    EXPECT_NEAR(lp[i], ref, 1e-12 * std::max(1.0, std::abs(ref))) << "row " << i;
  }
  // The stored covariance round-trips through its Cholesky factor.
  const Matrix S = g.covariance(0);
  for (std::size_t i = 0; i < 9; ++i) EXPECT_NEAR(S.data()[i], cov3().data()[i], 4e-16 * 2.0);
}

TEST(GaussianMixture, LogDensityMatchesHandFormula1d) {
  // Weights 1 : 3 -> 0.25, 0.75; N(-1, 0.5) and N(2, 2).
  const GaussianMixture g = GaussianMixture::diagonal({1.0, 3.0}, mat(2, 1, {-1.0, 2.0}), mat(2, 1, {0.5, 2.0}));
  EXPECT_DOUBLE_EQ(g.weights()[1], 0.75);
  const GaussianMixture full({1.0, 3.0}, mat(2, 1, {-1.0, 2.0}), {mat(1, 1, {0.5}), mat(1, 1, {2.0})});
  const Matrix X = mat(6, 1, {-3.0, -1.0, 0.0, 0.7, 2.0, 5.0});
  const std::vector<double> lp = g.log_density(X);
  const std::vector<double> lp_full = full.log_density(X);
  for (std::size_t i = 0; i < X.rows(); ++i) {
    const double x = X(i, 0);
    const double ref = std::log(0.25 * normal_pdf(x, -1.0, 0.5) + 0.75 * normal_pdf(x, 2.0, 2.0));
    // Densities here are >= 1e-5: direct exp/log loses nothing; rounding only.
    EXPECT_NEAR(lp[i], ref, 1e-14 * std::max(1.0, std::abs(ref))) << "x = " << x;
    // Full and diagonal storage of the same mixture are the same numbers up to rounding.
    EXPECT_NEAR(lp_full[i], lp[i], 1e-14 * std::max(1.0, std::abs(ref)));
  }
}

struct Case {
  std::string name;
  GaussianMixture g;
};

std::vector<Case> score_cases() {
  std::vector<Case> cases;
  cases.push_back({"d1_diag", GaussianMixture::diagonal({0.3, 0.7}, mat(2, 1, {-1.0, 1.5}), mat(2, 1, {0.4, 1.3}))});
  cases.push_back({"d1_full", GaussianMixture({0.3, 0.7}, mat(2, 1, {-1.0, 1.5}), {mat(1, 1, {0.4}), mat(1, 1, {1.3})})});
  cases.push_back({"d2_diag", GaussianMixture::diagonal({0.5, 0.2, 0.3}, mat(3, 2, {0.0, 0.0, 1.0, -1.0, -1.5, 0.5}),
                                                        mat(3, 2, {1.0, 0.5, 0.3, 2.0, 0.8, 0.8}))});
  cases.push_back({"d2_full", GaussianMixture({0.4, 0.6}, mat(2, 2, {-1.5, 0.5, 1.0, -0.5}),
                                              {mat(2, 2, {1.0, 0.5, 0.5, 2.0}), mat(2, 2, {0.5, -0.2, -0.2, 0.8})})});
  cases.push_back({"d3_diag", GaussianMixture::diagonal({1.0, 1.0}, mat(2, 3, {0.0, 1.0, 0.0, 1.0, -1.0, 0.5}),
                                                        mat(2, 3, {1.0, 0.6, 1.4, 0.7, 0.9, 1.1}))});
  cases.push_back({"d3_full", GaussianMixture({0.25, 0.75}, mat(2, 3, {0.5, -1.0, 2.0, -0.5, 0.0, 1.0}),
                                              {cov3(), mat(3, 3, {1.0, -0.2, 0.1, -0.2, 0.8, 0.0, 0.1, 0.0, 0.6})})});
  return cases;
}

TEST(GaussianMixture, ScoreMatchesFiniteDifferencesOfLogDensity) {
  for (const Case& c : score_cases()) {
    const std::size_t d = c.g.dim();
    // Points spread over and between the modes.
    Matrix X(40, d);
    CounterRng(17, streams::test_data).fill_normal(X.flat());
    for (double& v : X.flat()) v *= 1.5;
    const Matrix S = c.g.score(X);
    const double h = 1e-5;
    for (std::size_t i = 0; i < X.rows(); ++i) {
      for (std::size_t j = 0; j < d; ++j) {
        Matrix P(2, d);
        for (std::size_t a = 0; a < d; ++a) P(0, a) = P(1, a) = X(i, a);
        P(0, j) += h;
        P(1, j) -= h;
        const std::vector<double> lp = c.g.log_density(P);
        const double fd = (lp[0] - lp[1]) / (2.0 * h);
        // Central difference: truncation h^2/6 |d^3 log p| <= 1e-10 * O(1/var_min^2 ~ 10)
        // plus rounding eps |log p| / h <= 2e-16 * 20 / 1e-5 = 4e-10: 1e-7 absolute
        // (scores are O(1)-O(10)) bounds both with margin.
        EXPECT_NEAR(S(i, j), fd, 1e-7 * std::max(1.0, std::abs(fd))) << c.name << " point " << i << " coord " << j;
      }
    }
  }
}

TEST(GaussianMixture, TwoModesScoreIsClosedFormAndOdd) {
  // d/dx log(N(x; -m, 1) + N(x; m, 1)) / 2 = -x + m tanh(m x).
  const double m = 3.0;
  const GaussianMixture g = GaussianMixture::two_modes(m);
  const Matrix X = mat(7, 1, {0.0, 0.1, -0.1, 1.0, -2.5, 3.0, 7.0});
  const Matrix S = g.score(X);
  EXPECT_EQ(S(0, 0), 0.0);  // the two responsibilities are exactly equal at 0
  for (std::size_t i = 0; i < X.rows(); ++i) {
    const double x = X(i, 0);
    // Rounding only: terms are O(10) -> a few 1e-15.
    EXPECT_NEAR(S(i, 0), -x + m * std::tanh(m * x), 1e-13) << "x = " << x;
  }
  const Matrix Y = mat(3, 1, {-0.1, 0.1, -1.0});
  const Matrix SY = g.score(Y);
  EXPECT_NEAR(SY(0, 0), -SY(1, 0), 1e-15);
  // Variance scaling: two_modes(mu, v) score is (-x + mu tanh(mu x / v)) / v.
  const GaussianMixture g2 = GaussianMixture::two_modes(1.5, 0.5);
  EXPECT_NEAR(g2.score(mat(1, 1, {0.8}))(0, 0), (-0.8 + 1.5 * std::tanh(1.5 * 0.8 / 0.5)) / 0.5, 1e-14);
}

TEST(GaussianMixture, FarAwayPointsKeepFiniteScoreAndDensity) {
  // N(-1, 1) and N(2, 4): far out the wider component dominates on both sides.
  const GaussianMixture g = GaussianMixture::diagonal({0.5, 0.5}, mat(2, 1, {-1.0, 2.0}), mat(2, 1, {1.0, 4.0}));
  const Matrix X = mat(2, 1, {1e4, -1e4});
  const Matrix S = g.score(X);
  const std::vector<double> lp = g.log_density(X);
  for (std::size_t i = 0; i < 2; ++i) {
    const double x = X(i, 0);
    ASSERT_TRUE(std::isfinite(S(i, 0)));
    ASSERT_TRUE(std::isfinite(lp[i]));
    // The other component's responsibility is exp(-~3.7e7) = 0 in double, so
    // the score is exactly the dominant component's, to rounding.
    EXPECT_NEAR(S(i, 0), -(x - 2.0) / 4.0, 1e-15 * std::abs(x));
    const double ref = std::log(0.5) - (x - 2.0) * (x - 2.0) / 8.0 - 0.5 * std::log(2.0 * pi * 4.0);
    EXPECT_NEAR(lp[i], ref, 1e-15 * std::abs(ref));
  }
  // Equal variances (two_modes): the nearer mean wins; full storage in 2-d too.
  const GaussianMixture t = GaussianMixture::two_modes(3.0);
  EXPECT_NEAR(t.score(mat(1, 1, {1e4}))(0, 0), -(1e4 - 3.0), 1e-15 * 1e4);
  const GaussianMixture f({0.3, 0.7}, mat(2, 2, {0.0, 0.0, 5.0, 5.0}),
                          {mat(2, 2, {1.0, 0.3, 0.3, 1.0}), mat(2, 2, {1.0, 0.0, 0.0, 1.0})});
  const Matrix Sf = f.score(mat(1, 2, {1e4, 1e4}));
  ASSERT_TRUE(std::isfinite(Sf(0, 0)) && std::isfinite(Sf(0, 1)));
  // Along (1, 1) component 0 has variance 1.3 > 1, so it dominates: score =
  // -S_0^{-1} x = -x / 1.3 per coordinate (x is an eigenvector of S_0).
  EXPECT_NEAR(Sf(0, 0), -1e4 / 1.3, 1e-12 * 1e4);
  EXPECT_NEAR(Sf(0, 1), -1e4 / 1.3, 1e-12 * 1e4);
}

// Sample mean and covariance with their standard errors, the latter from the
// sample's own fourth moments: SE(C_ab) = sd((x_a - m_a)(x_b - m_b)) / sqrt(n).
struct Moments {
  std::vector<double> mean, mean_se;
  Matrix cov, cov_se;
};

Moments sample_moments(const Matrix& X) {
  const std::size_t n = X.rows(), d = X.cols();
  Moments r{std::vector<double>(d, 0.0), std::vector<double>(d, 0.0), Matrix(d, d), Matrix(d, d)};
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t a = 0; a < d; ++a) r.mean[a] += X(i, a) / static_cast<double>(n);
  Matrix m4(d, d);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t a = 0; a < d; ++a) {
      for (std::size_t b = 0; b < d; ++b) {
        const double p = (X(i, a) - r.mean[a]) * (X(i, b) - r.mean[b]);
        r.cov(a, b) += p / static_cast<double>(n);
        m4(a, b) += p * p / static_cast<double>(n);
      }
    }
  }
  for (std::size_t a = 0; a < d; ++a) {
    r.mean_se[a] = std::sqrt(r.cov(a, a) / static_cast<double>(n));
    for (std::size_t b = 0; b < d; ++b) {
      r.cov_se(a, b) = std::sqrt((m4(a, b) - r.cov(a, b) * r.cov(a, b)) / static_cast<double>(n));
    }
  }
  return r;
}

// Mixture mean sum pi_k m_k and covariance sum pi_k (S_k + m_k m_k^T) - mean mean^T.
void mixture_moments(const GaussianMixture& g, std::vector<double>& mean, Matrix& cov) {
  const std::size_t d = g.dim();
  mean.assign(d, 0.0);
  cov = Matrix(d, d);
  for (std::size_t k = 0; k < g.components(); ++k) {
    const Matrix S = g.covariance(k);
    for (std::size_t a = 0; a < d; ++a) {
      mean[a] += g.weights()[k] * g.means()(k, a);
      for (std::size_t b = 0; b < d; ++b) cov(a, b) += g.weights()[k] * (S(a, b) + g.means()(k, a) * g.means()(k, b));
    }
  }
  for (std::size_t a = 0; a < d; ++a)
    for (std::size_t b = 0; b < d; ++b) cov(a, b) -= mean[a] * mean[b];
}

void expect_moments_within_5se(const Matrix& X, const std::vector<double>& mean, const Matrix& cov,
                               const std::string& what) {
  // 5 standard errors: a false alarm has probability < 1e-6 per entry.
  const Moments mo = sample_moments(X);
  for (std::size_t a = 0; a < X.cols(); ++a) {
    EXPECT_NEAR(mo.mean[a], mean[a], 5.0 * mo.mean_se[a]) << what << " mean " << a;
    for (std::size_t b = 0; b < X.cols(); ++b) {
      EXPECT_NEAR(mo.cov(a, b), cov(a, b), 5.0 * mo.cov_se(a, b)) << what << " cov " << a << "," << b;
    }
  }
}

GaussianMixture correlated_2d() {
  return GaussianMixture({0.3, 0.7}, mat(2, 2, {-1.5, 0.5, 1.0, -0.5}),
                         {mat(2, 2, {1.0, 0.5, 0.5, 2.0}), mat(2, 2, {0.5, -0.2, -0.2, 0.8})});
}

TEST(GaussianMixture, SampleMomentsMatchMixtureMoments) {
  const std::size_t n = 200000;
  for (const GaussianMixture& g :
       {correlated_2d(), GaussianMixture::diagonal({0.2, 0.5, 0.3}, mat(3, 3, {0, 1, 2, -1, 0, 1, 2, 2, -2}),
                                                   mat(3, 3, {1.0, 0.5, 2.0, 0.3, 1.0, 1.0, 2.0, 0.7, 0.4}))}) {
    const Matrix X = g.sample(n, 42, streams::training_data);
    ASSERT_EQ(X.rows(), n);
    ASSERT_EQ(X.cols(), g.dim());
    std::vector<double> mean;
    Matrix cov;
    mixture_moments(g, mean, cov);
    expect_moments_within_5se(X, mean, cov, "d = " + std::to_string(g.dim()));
  }
  // Component frequencies: in 1-d two_modes(10) the modes never overlap, so the
  // sign counts the component; binomial SE sqrt(n/4).
  const Matrix Y = GaussianMixture::diagonal({1.0, 3.0}, mat(2, 1, {-10.0, 10.0}), mat(2, 1, {1.0, 1.0}))
                       .sample(n, 7, streams::training_data);
  double positive = 0.0;
  for (std::size_t i = 0; i < n; ++i) positive += Y(i, 0) > 0.0;
  EXPECT_NEAR(positive, 0.75 * n, 5.0 * std::sqrt(n * 0.75 * 0.25));
}

TEST(GaussianMixture, SampleRowsDependOnlyOnTheirIndexAndSeed) {
  const GaussianMixture g = correlated_2d();
  const Matrix big = g.sample(5000, 3, streams::test_data);
  const Matrix small = g.sample(10, 3, streams::test_data);
  for (std::size_t i = 0; i < small.size(); ++i) EXPECT_EQ(small.data()[i], big.data()[i]);
  const Matrix other = g.sample(10, 4, streams::test_data);
  EXPECT_NE(other(0, 0), small(0, 0));
  const Matrix other_stream = g.sample(10, 3, streams::training_data);
  EXPECT_NE(other_stream(0, 0), small(0, 0));
}

// Training and test sets share a seed but not a stream: their rows must be
// independent, mixture components included. With modes at +-6 the sign of a
// sample is its component, so row-wise sign agreement is Binomial(n, 1/2)
// (sd = sqrt(n)/2 = 50 at n = 10^4); 5 sd bounds a chance failure by 6e-7.
// Sharing the component draw between streams gave 9973 agreements.
TEST(GaussianMixture, SetsFromDifferentStreamsAreIndependent) {
  const GaussianMixture g = GaussianMixture::two_modes(6.0);
  const std::size_t n = 10000;
  const Matrix train = g.sample(n, 5, streams::training_data);
  const Matrix test = g.sample(n, 5, streams::test_data);
  double agree = 0.0;
  for (std::size_t i = 0; i < n; ++i) agree += (train(i, 0) > 0.0) == (test(i, 0) > 0.0) ? 1.0 : 0.0;
  EXPECT_LT(std::abs(agree - 0.5 * n), 5.0 * 0.5 * std::sqrt(static_cast<double>(n)));
}

TEST(GaussianMixture, DiffusedMatchesMonteCarloOfForwardProcess) {
  const GaussianMixture g = correlated_2d();
  const double mu = 0.6, sigma = 0.9;
  const GaussianMixture gt = g.diffused(mu, sigma);
  // Parameters: mu m_k and mu^2 S_k + sigma^2 I, to rounding.
  for (std::size_t k = 0; k < 2; ++k) {
    const Matrix S = g.covariance(k), St = gt.covariance(k);
    for (std::size_t a = 0; a < 2; ++a) {
      EXPECT_NEAR(gt.means()(k, a), mu * g.means()(k, a), 1e-15);
      for (std::size_t b = 0; b < 2; ++b) {
        EXPECT_NEAR(St(a, b), mu * mu * S(a, b) + (a == b ? sigma * sigma : 0.0), 1e-14);
      }
    }
  }
  // Monte Carlo x_t = mu x_0 + sigma eps with independent eps.
  const std::size_t n = 200000;
  const Matrix X0 = g.sample(n, 11, streams::training_data);
  Matrix Xt(n, 2);
  const CounterRng noise(11, streams::dsm_noise);
  for (std::size_t i = 0; i < Xt.size(); ++i) Xt.data()[i] = mu * X0.data()[i] + sigma * noise.normal(i);
  std::vector<double> mean;
  Matrix cov;
  mixture_moments(gt, mean, cov);
  expect_moments_within_5se(Xt, mean, cov, "diffused");
  // The density too: the mean of log p_t over the Monte Carlo draws is the
  // negative entropy; compare with the same average over gt's own samples,
  // each within 5 SE of the difference.
  const std::vector<double> lp_mc = gt.log_density(Xt);
  const std::vector<double> lp_own = gt.log_density(gt.sample(n, 12, streams::test_data));
  double m1 = 0, m2 = 0, v1 = 0, v2 = 0;
  for (std::size_t i = 0; i < n; ++i) m1 += lp_mc[i] / n, m2 += lp_own[i] / n;
  for (std::size_t i = 0; i < n; ++i) v1 += (lp_mc[i] - m1) * (lp_mc[i] - m1) / n, v2 += (lp_own[i] - m2) * (lp_own[i] - m2) / n;
  EXPECT_NEAR(m1, m2, 5.0 * std::sqrt((v1 + v2) / n));
  // Diagonal storage stays diagonal; mu = 0 gives N(0, sigma^2 I) components.
  const GaussianMixture d0 = GaussianMixture::two_modes(3.0).diffused(0.0, 2.0);
  EXPECT_TRUE(d0.is_diagonal());
  EXPECT_NEAR(d0.log_density(mat(1, 1, {1.0}))[0], std::log(normal_pdf(1.0, 0.0, 4.0)), 1e-14);
}

TEST(GaussianMixture, BitwiseIdenticalForAnyThreadCount) {
  for (const GaussianMixture& g : {correlated_2d(), GaussianMixture::two_modes(3.0)}) {
    Matrix X(100000, g.dim());
    CounterRng(5, streams::test_data).fill_normal(X.flat());
    for (double& v : X.flat()) v *= 4.0;
    std::vector<double> lp1, lp2;
    Matrix s1, s2;
    tbb::task_arena one(1), two(2);
    one.execute([&] { lp1 = g.log_density(X); s1 = g.score(X); });
    two.execute([&] { lp2 = g.log_density(X); s2 = g.score(X); });
    ASSERT_EQ(lp1.size(), lp2.size());
    EXPECT_EQ(std::memcmp(lp1.data(), lp2.data(), lp1.size() * sizeof(double)), 0);
    EXPECT_EQ(std::memcmp(s1.data(), s2.data(), s1.size() * sizeof(double)), 0);
    Matrix x1, x2;
    one.execute([&] { x1 = g.sample(20000, 1, streams::test_data); });
    two.execute([&] { x2 = g.sample(20000, 1, streams::test_data); });
    EXPECT_TRUE(x1 == x2);
  }
}

void expect_field(const std::string& msg, const std::string& field) {
  EXPECT_EQ(msg.rfind(field + ": ", 0), 0u) << msg;
}

TEST(GaussianMixture, RejectsBadArgumentsNamingTheField) {
  const Matrix means = mat(2, 1, {0.0, 1.0});
  const std::vector<Matrix> covs{mat(1, 1, {1.0}), mat(1, 1, {1.0})};
  expect_field(message_of([&] { GaussianMixture({1.0, -1.0}, means, covs); }), "weights");
  expect_field(message_of([&] { GaussianMixture({1.0, 0.0}, means, covs); }), "weights");
  expect_field(message_of([&] { GaussianMixture({1.0, NAN}, means, covs); }), "weights");
  expect_field(message_of([&] { GaussianMixture({}, Matrix(0, 1), {}); }), "weights");
  expect_field(message_of([&] { GaussianMixture({1.0, 1.0, 1.0}, means, covs); }), "means");
  expect_field(message_of([&] { GaussianMixture({1.0, 1.0}, mat(2, 1, {0.0, NAN}), covs); }), "means");
  expect_field(message_of([&] { GaussianMixture({1.0, 1.0}, means, {mat(1, 1, {1.0})}); }), "covariances");
  expect_field(message_of([&] { GaussianMixture({1.0, 1.0}, means, {mat(1, 1, {1.0}), Matrix(2, 2, 1.0)}); }),
               "covariances");
  const std::string spd = message_of([&] {
    GaussianMixture({1.0, 1.0}, mat(2, 2, {0, 0, 1, 1}), {mat(2, 2, {1, 0, 0, 1}), mat(2, 2, {1, 2, 2, 1})});
  });
  EXPECT_EQ(spd, "covariances: component 1 is not positive definite");
  expect_field(message_of([&] {
                 GaussianMixture({1.0}, mat(1, 2, {0, 0}), {mat(2, 2, {1, 0.5, 0.1, 1})});
               }),
               "covariances");
  expect_field(message_of([&] { GaussianMixture({1.0, 1.0}, means, {mat(1, 1, {-1.0}), mat(1, 1, {1.0})}); }),
               "covariances");
  expect_field(message_of([&] { GaussianMixture::diagonal({1.0, 1.0}, means, mat(2, 1, {1.0, 0.0})); }), "variances");
  expect_field(message_of([&] { GaussianMixture::diagonal({1.0, 1.0}, means, mat(2, 2, {1, 1, 1, 1})); }), "variances");
  expect_field(message_of([&] { GaussianMixture::two_modes(1.0, 0.0); }), "variance");
  expect_field(message_of([&] { GaussianMixture::two_modes(NAN); }), "mu");

  const GaussianMixture g = correlated_2d();
  expect_field(message_of([&] { g.log_density(Matrix(3, 3)); }), "X");
  expect_field(message_of([&] { g.score(Matrix(3, 1)); }), "X");
  Matrix bad(3, 2);
  bad(1, 1) = NAN;
  expect_field(message_of([&] { g.log_density(bad); }), "X");
  expect_field(message_of([&] { g.score(bad); }), "X");
  std::vector<double> out(2);
  expect_field(message_of([&] { g.log_density(Matrix(3, 2), out); }), "out");
  expect_field(message_of([&] { g.score(Matrix(3, 2), out); }), "out");
  expect_field(message_of([&] { g.diffused(-0.5, 1.0); }), "mu_t");
  expect_field(message_of([&] { g.diffused(1.0, NAN); }), "sigma_t");
  expect_field(message_of([&] { g.diffused(0.0, 0.0); }), "sigma_t");
  expect_field(message_of([&] { g.covariance(2); }), "k");
}

// ------------------------------------------------------------------ diffused_evaluate (eigenbasis path)

// Per-row (mu, sigma) evaluation against the diffused mixture built explicitly
// (Cholesky path: shares only the means and weights with the eigenbasis code),
// and the divergence against central differences of that score.
TEST(GaussianMixture, DiffusedEvaluateMatchesBuiltMixturePerRow) {
  const GaussianMixture full({0.5, 0.3, 0.2}, mat(3, 3, {0, 1, 2, -1, 0, 1, 2, 2, -2}),
                             {cov3(), mat(3, 3, {1.0, 0, 0, 0, 0.5, 0.1, 0, 0.1, 0.7}),
                              mat(3, 3, {0.4, 0.1, 0.0, 0.1, 0.9, -0.2, 0.0, -0.2, 1.5})});
  for (const GaussianMixture& g : {correlated_2d(), GaussianMixture::two_modes(3.0), full}) {
    const std::size_t d = g.dim(), n = 9;
    Matrix X(n, d);
    CounterRng(3, streams::test_data).fill_normal(X.flat());
    for (double& v : X.flat()) v *= 2.5;
    // Times from t = 0 (mu = 1, sigma = 0: the mixture itself) to pure noise.
    const std::vector<double> mu{1.0, 0.999, 0.9, 0.6, 0.3, 0.05, 1e-3, 0.0, 0.5};
    const std::vector<double> sigma{0.0, 0.045, 0.44, 0.8, 0.95, 0.999, 1.0, 1.0, 3.0};
    std::vector<double> lp(n), div(n);
    Matrix sc(n, d);
    g.diffused_evaluate(mu, sigma, X, lp, sc.flat(), div);
    for (std::size_t i = 0; i < n; ++i) {
      const GaussianMixture gi = g.diffused(mu[i], sigma[i]);
      const Matrix xi(1, d, std::vector<double>(X.row(i).begin(), X.row(i).end()));
      EXPECT_NEAR(lp[i], gi.log_density(xi)[0], 1e-12 * (1.0 + std::abs(lp[i]))) << "row " << i;
      const Matrix si = gi.score(xi);
      for (std::size_t j = 0; j < d; ++j) EXPECT_NEAR(sc(i, j), si(0, j), 1e-11 * (1.0 + std::abs(si(0, j))));
      // div = sum_j ds_j/dx_j by central differences of the built mixture's
      // score: truncation h^2 |s'''| / 6 ~ 1e-8 at h = 1e-4 (derivatives up to
      // ~1e3 for the narrowest components), rounding eps |s| / h ~ 1e-11.
      double fd = 0.0;
      const double h = 1e-4;
      for (std::size_t j = 0; j < d; ++j) {
        Matrix plus = xi, minus = xi;
        plus(0, j) += h;
        minus(0, j) -= h;
        fd += (gi.score(plus)(0, j) - gi.score(minus)(0, j)) / (2 * h);
      }
      EXPECT_NEAR(div[i], fd, 1e-6 * (1.0 + std::abs(fd))) << "row " << i;
    }
    // Outputs are optional and do not change each other.
    std::vector<double> div_only(n);
    g.diffused_evaluate(mu, sigma, X, {}, {}, div_only);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(div[i], div_only[i]) << "row " << i;
  }
}

TEST(GaussianMixture, ScoreDivergenceOfGaussianIsMinusTraceOfPrecision) {
  // One component: div grad log N(m, S) = -tr S^{-1} everywhere; cov3's
  // inverse trace by cofactors, tr adj(S) / det S.
  const GaussianMixture g({1.0}, mat(1, 3, {0.5, -1.0, 2.0}), {cov3()});
  const Matrix S = cov3();
  const double a = S(0, 0), b = S(0, 1), c = S(0, 2), d = S(1, 1), e = S(1, 2), f = S(2, 2);
  const double det = a * (d * f - e * e) - b * (b * f - e * c) + c * (b * e - d * c);
  const double trace_inverse = ((d * f - e * e) + (a * f - c * c) + (a * d - b * b)) / det;
  Matrix X(5, 3);
  CounterRng(4, streams::test_data).fill_normal(X.flat());
  std::vector<double> div(5);
  g.score_divergence(X, div);
  for (double v : div) EXPECT_NEAR(v, -trace_inverse, 1e-12);
}

TEST(GaussianMixture, DivergenceStaysFiniteFarAway) {
  // Responsibilities by log-sum-exp: at x = +-1e3 the far component's weight
  // underflows relative to the other, never 0/0; the divergence is then
  // -tr C^{-1} of the near component (1 / var).
  const GaussianMixture g = GaussianMixture::two_modes(3.0, 2.0);
  const Matrix X(3, 1, std::vector<double>{1e3, -1e3, 0.0});
  std::vector<double> div(3);
  g.score_divergence(X, div);
  EXPECT_NEAR(div[0], -0.5, 1e-12);
  EXPECT_NEAR(div[1], -0.5, 1e-12);
  // At 0: -1/v + Var_r(u) with u = -+3/2 equally weighted = -0.5 + 2.25.
  EXPECT_NEAR(div[2], -0.5 + 2.25, 1e-12);
}

TEST(GaussianMixture, DiffusedEvaluateIsBitwiseIdenticalForAnyThreadCount) {
  const GaussianMixture g = correlated_2d();
  const std::size_t n = 5000;
  Matrix X(n, 2);
  CounterRng(6, streams::test_data).fill_normal(X.flat());
  std::vector<double> mu(n), sigma(n);
  for (std::size_t i = 0; i < n; ++i) {
    mu[i] = std::exp(-0.001 * static_cast<double>(i));
    sigma[i] = std::sqrt(1.0 - mu[i] * mu[i]);
  }
  std::vector<double> d1(n), d2(n);
  Matrix s1(n, 2), s2(n, 2);
  tbb::task_arena one(1), two(2);
  one.execute([&] { g.diffused_evaluate(mu, sigma, X, {}, s1.flat(), d1); });
  two.execute([&] { g.diffused_evaluate(mu, sigma, X, {}, s2.flat(), d2); });
  EXPECT_EQ(std::memcmp(d1.data(), d2.data(), n * sizeof(double)), 0);
  EXPECT_TRUE(s1 == s2);
}

TEST(GaussianMixture, DiffusedEvaluateRejectsBadArguments) {
  const GaussianMixture g = correlated_2d();
  const Matrix X(2, 2, 0.0);
  const std::vector<double> ok{0.5, 0.5}, one{0.5}, negative{-1.0, 0.5}, zero{0.0, 0.5};
  std::vector<double> out(2), short_out(1), long_out(3);
  expect_field(message_of([&] { g.diffused_evaluate(one, ok, X, out, {}, {}); }), "mu_t");
  expect_field(message_of([&] { g.diffused_evaluate(ok, one, X, out, {}, {}); }), "sigma_t");
  expect_field(message_of([&] { g.diffused_evaluate(negative, ok, X, out, {}, {}); }), "mu_t");
  expect_field(message_of([&] { g.diffused_evaluate(ok, negative, X, out, {}, {}); }), "sigma_t");
  expect_field(message_of([&] { g.diffused_evaluate(zero, zero, X, out, {}, {}); }), "sigma_t");
  expect_field(message_of([&] { g.diffused_evaluate(ok, ok, Matrix(2, 3, 0.0), out, {}, {}); }), "X");
  expect_field(message_of([&] { g.diffused_evaluate(ok, ok, X, short_out, {}, {}); }), "log_density");
  expect_field(message_of([&] { g.diffused_evaluate(ok, ok, X, {}, out, {}); }), "score");
  expect_field(message_of([&] { g.diffused_evaluate(ok, ok, X, {}, {}, long_out); }), "divergence");
  expect_field(message_of([&] { g.score_divergence(X, long_out); }), "divergence");
}

}  // namespace
}  // namespace gengap
