// The explicit Runge-Kutta step (explicit_rk.hpp).
#include "gengap/solvers/ode/explicit_rk.hpp"

#include <algorithm>
#include <cmath>

#include "gengap/solvers/detail/finite_rows.hpp"

namespace gengap {

using detail::all_finite;

ExplicitRkStep::ExplicitRkStep(const RungeKuttaTableau& tableau, std::size_t dim)
    : tab_(tableau), dim_(dim), k_(tableau.stages) {}

std::vector<double>& ExplicitRkStep::first_slope(std::size_t m) {
  k_[0].resize(m * dim_);
  return k_[0];
}

void ExplicitRkStep::stages(const std::vector<double>& t, const std::vector<double>& h,
                            const std::vector<double>& y0, const BatchField& field) {
  const std::size_t m = t.size();
  ts_.resize(m);
  ys_.resize(m * dim_);
  for (std::size_t i = 1; i < tab_.stages; ++i) {
    for (std::size_t p = 0; p < m; ++p) {
      ts_[p] = t[p] + tab_.c[i] * h[p];
      double* yi = &ys_[p * dim_];
      std::copy_n(&y0[p * dim_], dim_, yi);
      for (std::size_t j = 0; j < i; ++j) {
        const double a = tab_.a_at(i, j) * h[p];
        if (a == 0.0) continue;
        const double* kj = &k_[j][p * dim_];
        for (std::size_t q = 0; q < dim_; ++q) yi[q] += a * kj[q];
      }
    }
    field(ts_, ys_, k_[i]);
  }
}

bool ExplicitRkStep::propagate(std::size_t p, double h, const double* y0, double* y1) const {
  bool finite = true;
  for (std::size_t i = 1; i < tab_.stages && finite; ++i) finite = all_finite(&k_[i][p * dim_], dim_);
  std::copy_n(y0, dim_, y1);
  for (std::size_t i = 0; i < tab_.stages; ++i) {
    const double b = tab_.b[i] * h;
    if (b == 0.0) continue;
    for (std::size_t q = 0; q < dim_; ++q) y1[q] += b * k_[i][p * dim_ + q];
  }
  return finite && all_finite(y1, dim_);
}

void ExplicitRkStep::error_estimate(std::size_t p, double h, double* err) const {
  std::fill(err, err + dim_, 0.0);
  for (std::size_t i = 0; i < tab_.stages; ++i) {
    const double e = tab_.b_error[i] * h;
    if (e == 0.0) continue;
    for (std::size_t q = 0; q < dim_; ++q) err[q] += e * k_[i][p * dim_ + q];
  }
}

}  // namespace gengap
