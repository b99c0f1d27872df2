#include "gengap/kernels/simd/gcc_warnings.hpp"

#include "gengap/kernels/relu_kinks.hpp"

#include <xsimd/xsimd.hpp>

#include <string>

#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

using Batch = xsimd::batch<double>;
constexpr std::size_t width = Batch::size;

}  // namespace

ReluKinks::ReluKinks(const RandomFeatures& rf, MatrixView A)
    : embedding_(rf.embedding), d_(rf.dim()), de_(rf.embedding.dim()), m_(rf.num_features()) {
  rf.validate();
  require(A.rows == d_ && A.cols == m_, "A",
          "expected shape " + std::to_string(d_) + "x" + std::to_string(m_) + ", got " + std::to_string(A.rows) + "x" +
              std::to_string(A.cols));
  require_finite(A.flat(), "A");
  padded_ = (m_ + width - 1) / width * width;
  // Padding features: b = 0, w = 0, kappa = 0, so z = 0 (never positive) and
  // they add nothing.
  b_.assign(padded_, 0.0);
  U_.assign(de_ * padded_, 0.0);
  W_.assign(d_ * padded_, 0.0);
  kappa_.assign(padded_, 0.0);
  for (std::size_t j = 0; j < m_; ++j) {
    b_[j] = rf.b[j];
    for (std::size_t q = 0; q < de_; ++q) U_[q * padded_ + j] = rf.U(j, q);
    for (std::size_t k = 0; k < d_; ++k) {
      W_[k * padded_ + j] = rf.W(j, k);
      kappa_[j] += A(k, j) * rf.W(j, k);
    }
  }
}

void ReluKinks::time_part(double t, std::vector<double>& c) const {
  std::vector<double> e(de_);
  embedding_.evaluate(t, e);
  c.assign(b_.begin(), b_.end());
  for (std::size_t q = 0; q < de_; ++q) {
    const double* column = U_.data() + q * padded_;
    for (std::size_t j = 0; j < padded_; ++j) c[j] = std::fma(column[j], e[q], c[j]);
  }
}

double ReluKinks::pre_activation_at(std::size_t j, std::span<const double> x, std::span<const double> e) const {
  double c = b_[j];
  for (std::size_t q = 0; q < de_; ++q) c = std::fma(U_[q * padded_ + j], e[q], c);
  double z = c;
  for (std::size_t k = 0; k < d_; ++k) z = std::fma(W_[k * padded_ + j], x[k], z);
  return z;
}

double ReluKinks::pre_activation(std::size_t j, std::span<const double> x, std::span<const double> c) const {
  double z = c[j];
  for (std::size_t k = 0; k < d_; ++k) z = std::fma(W_[k * padded_ + j], x[k], z);
  return z;
}

double ReluKinks::step(std::span<const double> x0, std::span<const double> xm, std::span<const double> x1,
                       std::span<const double> c0, std::span<const double> cm, std::span<const double> c1,
                       std::vector<std::size_t>& changed) const {
  changed.clear();
  const Batch zero(0.0);
  Batch whole(0.0);
  for (std::size_t j = 0; j < padded_; j += width) {
    Batch z0 = Batch::load_unaligned(c0.data() + j), zm = Batch::load_unaligned(cm.data() + j),
          z1 = Batch::load_unaligned(c1.data() + j);
    for (std::size_t k = 0; k < d_; ++k) {
      const Batch w = Batch::load_unaligned(W_.data() + k * padded_ + j);
      z0 = xsimd::fma(w, Batch(x0[k]), z0);
      zm = xsimd::fma(w, Batch(xm[k]), zm);
      z1 = xsimd::fma(w, Batch(x1[k]), z1);
    }
    const auto on0 = z0 > zero, onm = zm > zero, on1 = z1 > zero;
    whole += xsimd::select(on0 && onm && on1, Batch::load_unaligned(kappa_.data() + j), zero);
    const auto differs = (on0 != onm) || (onm != on1);
    if (xsimd::any(differs)) {
      alignas(64) bool lanes[width];
      differs.store_aligned(lanes);
      for (std::size_t l = 0; l < width; ++l)
        if (lanes[l]) changed.push_back(j + l);
    }
  }
  alignas(64) double lanes[width];
  whole.store_aligned(lanes);
  double sum = 0.0;
  for (std::size_t l = 0; l < width; ++l) sum += lanes[l];
  return sum;
}

}  // namespace gengap
