#pragma once
// The relu random-feature model's kinks along one step of a path (the
// kernel behind solvers/random_feature_likelihood.hpp). With
//   z_j(x, t) = w_j . x + u_j . e(t) + b_j,   kappa_j = a_j . w_j,
// the divergence c(t)/m sum_j kappa_j H(z_j) is constant in x between kinks.
// For a step with points x0, xm, x1 at its start, midpoint and end (and the
// shared time parts c = b + U e(t) at those three times), one SIMD pass over
// the features returns
//   whole   = sum of kappa_j over the features positive at all three points
//   changed = the features whose sign differs between two of them,
// the only ones whose kink the step crosses (up to a path that crosses and
// comes back within half a step). Fixed summation order (lane-wise partial
// sums, then the lanes in order): bitwise the same for any thread count.
#include <cstddef>
#include <span>
#include <vector>

#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"

namespace gengap {

class ReluKinks {
 public:
  // A is d x m (finite); InvalidArgument naming "A" on a wrong shape.
  ReluKinks(const RandomFeatures& rf, MatrixView A);

  std::size_t dim() const { return d_; }
  std::size_t features() const { return m_; }
  const TimeEmbedding& embedding() const { return embedding_; }
  double kappa(std::size_t j) const { return kappa_[j]; }

  // c[j] = b_j + u_j . e(t) for j < m (c is resized to the padded count).
  void time_part(double t, std::vector<double>& c) const;
  // z_j at (x, t) from c = time_part(t): the same operations as step() uses.
  double pre_activation(std::size_t j, std::span<const double> x, std::span<const double> c) const;
  // z_j at (x, t) from e = e(t) (embedding().dim() entries): the same
  // operations as time_part and step, for one feature.
  double pre_activation_at(std::size_t j, std::span<const double> x, std::span<const double> e) const;
  // The pass above; x0, xm, x1 have d entries, c0, cm, c1 come from time_part.
  // `changed` is cleared and filled in ascending order. Returns `whole`.
  double step(std::span<const double> x0, std::span<const double> xm, std::span<const double> x1,
              std::span<const double> c0, std::span<const double> cm, std::span<const double> c1,
              std::vector<std::size_t>& changed) const;

 private:
  TimeEmbedding embedding_;
  std::size_t d_ = 0, de_ = 0, m_ = 0, padded_ = 0;
  std::vector<double> b_, U_, W_, kappa_;  // U_, W_ column-major over padded features (padding: 0)
};

}  // namespace gengap
