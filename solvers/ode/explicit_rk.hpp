#pragma once
// One explicit Runge-Kutta step (tableau: rk_tableau.hpp) of a packed batch
// of rows, each at its own time t_p with its own step h_p: the stages
// 2..s with one batched field call each (every row at t_p + c_i h_p),
//   y1 = y0 + h sum_i b_i k_i,   err = h sum_i (b_i - b_hat_i) k_i
// (the embedded pair's local error estimate). The step only: accepting,
// rejecting and the next step are the controller's (controller.hpp), the
// loop over steps the driver's (integrate.hpp). Buffers are reused across
// steps; nothing is allocated once they have grown to the batch.
#include <cstddef>
#include <functional>
#include <vector>

#include "gengap/solvers/ode/rk_tableau.hpp"

namespace gengap {

class ExplicitRkStep {
 public:
  // Evaluates dy (m x dim) at the times t (m) and states y (m x dim) of the batch's rows.
  using BatchField = std::function<void(const std::vector<double>& t, const std::vector<double>& y,
                                        std::vector<double>& dy)>;

  ExplicitRkStep(const RungeKuttaTableau& tableau, std::size_t dim);

  const RungeKuttaTableau& tableau() const { return tab_; }
  // k_1 of the m rows (m x dim): the caller fills it with f(t_p, y0_p) before stages().
  std::vector<double>& first_slope(std::size_t m);
  // k_2..k_s of the m rows whose states y0 (m x dim), times t and steps h are given.
  void stages(const std::vector<double>& t, const std::vector<double>& h, const std::vector<double>& y0,
              const BatchField& field);
  // Row p: y1 = y0 + h sum b_i k_i (dim entries); false when a stage k_2..k_s
  // or y1 is not finite.
  bool propagate(std::size_t p, double h, const double* y0, double* y1) const;
  // Row p's error estimate h sum (b_i - b_hat_i) k_i into err (dim entries); embedded pairs only.
  void error_estimate(std::size_t p, double h, double* err) const;
  // Stage i's slopes of row p (i = s - 1 of an FSAL pair: f(t + h, y1)).
  const double* slope(std::size_t stage, std::size_t p) const { return &k_[stage][p * dim_]; }

 private:
  RungeKuttaTableau tab_;
  std::size_t dim_;
  std::vector<std::vector<double>> k_;
  std::vector<double> ts_, ys_;
};

}  // namespace gengap
