#include "gengap/solvers/stochastic_training.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/interruption.hpp"
#include "gengap/kernels/random.hpp"

namespace gengap {
namespace {

int as_int(std::size_t n) { return static_cast<int>(n); }

// Buffers of one minibatch, allocated once per training run.
struct BatchWorkspace {
  Matrix residual;  // B x d
};

// The batch loss and gradient given the batch's features Phi (B x m):
//   R = Phi A^T / m - y,  loss = sum_b w_b/2 |R_b|^2,  grad = (1/m) (diag(w) R)^T Phi.
double loss_and_gradient_from_features(MatrixView Phi, MatrixView A, MatrixView y, std::span<const double> weight,
                                       BatchWorkspace& ws, Matrix& gradient) {
  const std::size_t B = Phi.rows, m = Phi.cols, d = A.rows;
  const double inv_m = 1.0 / static_cast<double>(m);
  if (ws.residual.rows() != B || ws.residual.cols() != d) ws.residual = Matrix(B, d);
  std::copy_n(y.data, B * d, ws.residual.data());
  // R = (1/m) Phi A^T - y in one dgemm (beta = -1 on the copy of y).
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, as_int(B), as_int(d), as_int(m), inv_m, Phi.data, as_int(m),
              A.data, as_int(m), -1.0, ws.residual.data(), as_int(d));
  double loss = 0.0;
  for (std::size_t b = 0; b < B; ++b) {
    double norm2 = 0.0;
    for (std::size_t l = 0; l < d; ++l) {
      const double r = ws.residual(b, l);
      norm2 += r * r;
      ws.residual(b, l) = weight[b] * r;
    }
    loss += 0.5 * weight[b] * norm2;
  }
  if (gradient.rows() != d || gradient.cols() != m) gradient = Matrix(d, m);
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, as_int(d), as_int(m), as_int(B), inv_m, ws.residual.data(),
              as_int(d), Phi.data, as_int(m), 0.0, gradient.data(), as_int(m));
  return loss;
}

}  // namespace

double dsm_loss_and_gradient(const RandomFeatures& rf, MatrixView A, MatrixView x, std::span<const double> t,
                             MatrixView y, std::span<const double> weight, Matrix& gradient) {
  const std::size_t m = rf.num_features(), d = rf.dim(), B = x.rows;
  require_shape(A, d, m, "A");
  require_finite(A.flat(), "A");
  require_shape(x, B, d, "x");
  require(t.size() == B, "t", "expected " + std::to_string(B) + " entries (one per point), got " +
                                  std::to_string(t.size()));
  require_shape(y, B, d, "y");
  require_finite(y.flat(), "y");
  require(weight.size() == B, "weight", "expected " + std::to_string(B) + " entries (one per point), got " +
                                            std::to_string(weight.size()));
  require_finite(weight, "weight");
  // features() validates rf, x and t; its tiles are fixed, so the result does
  // not depend on the thread count.
  const Matrix Phi = features(rf, x, t);
  BatchWorkspace ws;
  return loss_and_gradient_from_features(Phi, A, y, weight, ws, gradient);
}

void StochasticTrainingOptions::validate() const {
  require(std::isfinite(learning_rate) && learning_rate > 0.0, "learning_rate",
          "must be finite and > 0, got " + std::to_string(learning_rate));
  require(batch_size > 0, "batch_size", "must be positive, got 0");
  require(steps > 0, "steps", "must be positive, got 0");
  require(adam_beta1 >= 0.0 && adam_beta1 < 1.0, "adam_beta1", "must be in [0, 1), got " + std::to_string(adam_beta1));
  require(adam_beta2 >= 0.0 && adam_beta2 < 1.0, "adam_beta2", "must be in [0, 1), got " + std::to_string(adam_beta2));
  require(std::isfinite(adam_epsilon) && adam_epsilon > 0.0, "adam_epsilon",
          "must be finite and > 0, got " + std::to_string(adam_epsilon));
  for (std::size_t k = 0; k < record_steps.size(); ++k) {
    require(record_steps[k] <= steps, "record_steps",
            "entry " + std::to_string(record_steps[k]) + " exceeds steps = " + std::to_string(steps));
    require(k == 0 || record_steps[k - 1] < record_steps[k], "record_steps", "must be strictly increasing");
  }
}

StochasticTrainingResult train_stochastic(const RandomFeatures& rf, const DsmSetup& setup, MatrixView data,
                                          Matrix A0, const StochasticTrainingOptions& options) {
  options.validate();
  setup.validate();
  rf.validate();
  const std::size_t m = rf.num_features(), d = rf.dim(), n = data.rows, B = options.batch_size;
  require(n > 0, "data", "training set is empty");
  require_shape(data, n, d, "data");
  require_finite(data.flat(), "data");
  if (A0.empty()) A0 = Matrix(d, m);
  require_shape(A0, d, m, "A0");
  require_finite(A0.flat(), "A0");

  const CounterRng pick(options.seed, streams::minibatch), time_rng(options.seed, streams::sgd_time),
      noise_rng(options.seed, streams::sgd_noise);
  const Schedule& schedule = setup.schedule;
  const double t_span = schedule.T - schedule.t_min;

  StochasticTrainingResult result;
  result.batch_losses.reserve(options.steps);
  Matrix A = std::move(A0);
  std::size_t next_record = 0;
  const auto record = [&](std::size_t step) {
    while (next_record < options.record_steps.size() && options.record_steps[next_record] == step) {
      result.recorded_steps.push_back(step);
      result.recorded_weights.push_back(A);
      ++next_record;
    }
  };
  record(0);

  Matrix x(B, d), y(B, d), gradient(d, m);
  std::vector<double> t(B), weight(B);
  Matrix first_moment, second_moment;
  if (options.optimizer == Optimizer::adam) {
    first_moment = Matrix(d, m);
    second_moment = Matrix(d, m);
  }
  BatchWorkspace ws;
  double beta1_power = 1.0, beta2_power = 1.0;

  for (std::size_t s = 0; s < options.steps; ++s) {
    check_interrupt();
    // Draw slot (s, b) = counter s B + b in every stream: the run is a pure
    // function of the seed, whatever the thread count.
    for (std::size_t b = 0; b < B; ++b) {
      const std::uint64_t slot = static_cast<std::uint64_t>(s) * B + b;
      const double* x0 = data.row(pick.below(slot, n));
      const double tb = schedule.t_min + t_span * time_rng.uniform(slot);
      const double mu = schedule.mean_scale(tb), sigma = schedule.std_dev(tb), c = setup.c(tb);
      for (std::size_t l = 0; l < d; ++l) {
        const double eps = noise_rng.normal(slot * d + l);
        x(b, l) = mu * x0[l] + sigma * eps;
        y(b, l) = setup.regresses_data() ? x0[l] : -eps / (sigma * c);  // as the DSM design (solvers/dsm_design.hpp)
      }
      t[b] = tb;
      // lambda c^2 / B: the minibatch loss is an unbiased estimate of L_n (docs/math.md §5).
      weight[b] = setup.lambda(tb) * c * c / static_cast<double>(B);
    }
    // features() allocates its B x m result: small next to computing it (B m (d + d_e) flops).
    const Matrix Phi = features(rf, x, t);
    const double loss = loss_and_gradient_from_features(Phi, A, y, weight, ws, gradient);
    if (!std::isfinite(loss)) {
      throw NumericalError("train_stochastic: minibatch loss is not finite at step " + std::to_string(s) +
                           " (learning_rate = " + std::to_string(options.learning_rate) + " too large?)");
    }
    result.batch_losses.push_back(loss);

    const double lr = options.learning_rate;
    double* a = A.data();
    const double* g = gradient.data();
    if (options.optimizer == Optimizer::sgd) {
      for (std::size_t k = 0; k < A.size(); ++k) a[k] -= lr * g[k];
    } else {
      const double b1 = options.adam_beta1, b2 = options.adam_beta2, eps = options.adam_epsilon;
      beta1_power *= b1;
      beta2_power *= b2;
      const double correction1 = 1.0 - beta1_power, correction2 = 1.0 - beta2_power;
      double* mom1 = first_moment.data();
      double* mom2 = second_moment.data();
      for (std::size_t k = 0; k < A.size(); ++k) {
        mom1[k] = b1 * mom1[k] + (1.0 - b1) * g[k];
        mom2[k] = b2 * mom2[k] + (1.0 - b2) * g[k] * g[k];
        a[k] -= lr * (mom1[k] / correction1) / (std::sqrt(mom2[k] / correction2) + eps);
      }
    }
    record(s + 1);
  }
  result.final_weights = std::move(A);
  return result;
}

}  // namespace gengap
