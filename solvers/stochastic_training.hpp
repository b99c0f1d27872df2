#pragma once
// Stochastic training of A on the empirical DSM loss with the paper's protocol:
// each step draws a minibatch of training samples and fresh (t, eps), and
// follows the minibatch gradient of
//   l(A) = 1/B sum_b lambda(t_b)/2 || c(t_b)/m A phi(x_b, t_b) + eps_b/sigma_{t_b} ||^2
// computed by the batched loss/gradient kernel below. Every draw is
// counter-based (step, slot), so runs are reproducible and thread-independent:
// slot (s, b) = s B + b picks the sample CounterRng(seed, streams::minibatch).below(s B + b, n),
// t = t_min + (T - t_min) uniform(s B + b) on streams::sgd_time and eps_j =
// normal((s B + b) d + j) on streams::sgd_noise. Weights lambda(t) c(t)^2 / B make
// the minibatch loss and gradient unbiased for L_n and grad L_n (docs/math.md §5).
// SGD is explicit Euler on the gradient flow dA/dtau = -grad L_n: after k steps
// with learning rate eta it is to be compared with GradientFlow at tau = eta k.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

// Loss and gradient of a batch of DSM points: x_t (B x d), t (B), y (B x d) and
// per-point weights (sum to the batch's probability mass; 1/B each for a
// plain mean). Returns the loss; writes grad_A (d x m) into `gradient`.
double dsm_loss_and_gradient(const RandomFeatures& rf, MatrixView A, MatrixView x, std::span<const double> t,
                             MatrixView y, std::span<const double> weight, Matrix& gradient);

enum class Optimizer { sgd, adam };

struct StochasticTrainingOptions {
  Optimizer optimizer = Optimizer::sgd;
  double learning_rate = 0.1;
  std::size_t batch_size = 64;
  std::size_t steps = 1000;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  std::uint64_t seed = 0;
  std::vector<std::size_t> record_steps;  // steps after which A is recorded (sorted)
  void validate() const;                  // InvalidArgument naming the field
};

struct StochasticTrainingResult {
  std::vector<std::size_t> recorded_steps;
  std::vector<Matrix> recorded_weights;  // A after each recorded step
  std::vector<double> batch_losses;      // minibatch loss at every step
  Matrix final_weights;
};

// Trains from A0 (d x m, empty = zeros) on the training set `data` (n x d).
StochasticTrainingResult train_stochastic(const RandomFeatures& rf, const DsmSetup& setup, MatrixView data,
                                          Matrix A0, const StochasticTrainingOptions& options);

}  // namespace gengap
