#pragma once
// Helpers shared by the test files: bad-input assertions, naive reference
// linear algebra (deliberately the plain triple loop, independent of BLAS),
// and the standard small DSM setting.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

// Bitwise equality of doubles (NaN equals NaN with the same bits).
inline bool same(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Asserts that `call` throws InvalidArgument whose message starts with "field:".
inline void expect_invalid(const std::function<void()>& call, const std::string& field) {
  try {
    call();
    ADD_FAILURE() << "expected InvalidArgument naming '" << field << "'";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()).rfind(field + ":", 0), 0u) << e.what();
  }
}

// The InvalidArgument message `f` throws, or a marker when it throws none.
template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "<no InvalidArgument thrown>";
}

inline Matrix multiply(const Matrix& A, const Matrix& B) {
  Matrix C(A.rows(), B.cols());
  for (std::size_t i = 0; i < A.rows(); ++i)
    for (std::size_t k = 0; k < A.cols(); ++k)
      for (std::size_t j = 0; j < B.cols(); ++j) C(i, j) += A(i, k) * B(k, j);
  return C;
}

inline Matrix transpose(const Matrix& A) {
  Matrix T(A.cols(), A.rows());
  for (std::size_t i = 0; i < A.rows(); ++i)
    for (std::size_t j = 0; j < A.cols(); ++j) T(j, i) = A(i, j);
  return T;
}

inline DsmSetup ou_setup(Weighting weighting = Weighting::sigma2, OutputScale scale = OutputScale::one) {
  DsmSetup setup;
  setup.schedule = default_schedule(ScheduleKind::ou);
  setup.weighting = weighting;
  setup.output_scale = scale;
  return setup;
}

// E_{t ~ U[a, b]}[lambda(t) / sigma_t^2] under OU in closed form, the
// independent reference for DsmSetup::mean_lambda_over_variance: with
// sigma_t^2 = 1 - e^{-2t}, d/dt log(e^{2t} - 1) = 2 / (1 - e^{-2t}), so for
// lambda = g^2 = 2 the mean is [log expm1(2b) - log expm1(2a)] / (b - a); half
// that for lambda = 1; exactly 1 for lambda = sigma^2.
inline double ou_mean_lambda_over_variance(Weighting weighting, double a, double b) {
  const double likelihood = (std::log(std::expm1(2.0 * b)) - std::log(std::expm1(2.0 * a))) / (b - a);
  switch (weighting) {
    case Weighting::sigma2: return 1.0;
    case Weighting::likelihood: return likelihood;
    case Weighting::none: return 0.5 * likelihood;
  }
  return 0.0;
}

// n x d standard normal data from the training-data stream.
inline Matrix normal_data(std::size_t n, std::size_t d, std::uint64_t seed = 5) {
  Matrix X(n, d);
  CounterRng(seed, streams::training_data).fill_normal(X.flat());
  return X;
}

}  // namespace gengap
