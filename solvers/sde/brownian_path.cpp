// RSwM1 Brownian paths (brownian_path.hpp).
#include "gengap/solvers/sde/brownian_path.hpp"

#include <algorithm>
#include <cmath>

namespace gengap {

BrownianPaths::BrownianPaths(const CounterRng& noise, std::uint64_t stride, std::size_t first, std::size_t rows,
                             std::size_t d)
    : noise_(noise), stride_(stride), first_(first), d_(d), h_(rows, 0.0), dW_(rows * d), stack_(rows) {}

void BrownianPaths::fresh(std::size_t r, std::size_t k, double scale, const double* mean, double* out) const {
  const std::uint64_t base = (static_cast<std::uint64_t>(first_ + r) * stride_ + k) * d_;
  for (std::size_t j = 0; j < d_; ++j) out[j] = (mean ? mean[j] : 0.0) + scale * noise_.normal(base + j);
}

void BrownianPaths::start(std::size_t r, double h) {
  h_[r] = h;
  fresh(r, 0, std::sqrt(h), nullptr, dW_.data() + r * d_);
}

void BrownianPaths::shorten(std::size_t r, double shorter, std::size_t k) {
  const double L = h_[r], frac = shorter / L;
  double* w = dW_.data() + r * d_;
  // The remainder's piece goes on the stack first, holding the whole
  // increment until the bridge has used it: no allocation once the stack has
  // grown to its working size (a rejection is the adaptive sampler's hot path).
  auto& stack = stack_[r];
  const std::size_t piece = stack.size();
  stack.push_back(L - shorter);
  stack.insert(stack.end(), w, w + d_);
  double* whole = stack.data() + piece + 1;
  for (std::size_t j = 0; j < d_; ++j) w[j] = frac * whole[j];
  // The bridge: given W over [0, L], W over [0, shorter] is N(frac W, shorter (L - shorter) / L)
  // (fresh reads each mean before writing that entry: w may be both).
  fresh(r, k, std::sqrt(shorter * (L - shorter) / L), w, w);
  for (std::size_t j = 0; j < d_; ++j) whole[j] -= w[j];
  h_[r] = shorter;
}

bool BrownianPaths::next(std::size_t r, double proposal, double remaining, double min_length, std::size_t k) {
  auto& stack = stack_[r];
  if (!stack.empty()) {
    // Stored pieces end at or above t_min: only a fresh step needs clipping.
    const std::size_t top = stack.size() - (d_ + 1);
    if (proposal < stack[top] && proposal < min_length) return false;
    h_[r] = stack[top];
    std::copy(stack.begin() + top + 1, stack.end(), dW_.data() + r * d_);
    stack.resize(top);
    if (proposal < h_[r]) shorten(r, proposal, k);
    return true;
  }
  const double h = std::min(remaining, proposal);
  if (h < min_length) return false;
  h_[r] = h;
  fresh(r, k, std::sqrt(h), nullptr, dW_.data() + r * d_);
  return true;
}

}  // namespace gengap
