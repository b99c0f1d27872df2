#pragma once
// The Brownian paths of the adaptive reverse-SDE sampler's rows, kept
// consistent across rejected steps by Rejection Sampling with Memory (RSwM1,
// Rackauckas & Nie 2017). Each row carries its pending increment dW (length
// h, variance h per coordinate) and a stack of (length, increment) pieces of
// its path that lie between its time and t_min, nearest on top:
//   rejected step -> shorten(): dW is split by the Brownian bridge, the
//                    shorter part becomes the pending increment and the
//                    remainder is pushed on the stack;
//   accepted step -> next(): the next increment is the stack's top piece
//                    (split again if the proposed step is shorter), fresh
//                    noise only when the stack is empty.
// No drawn noise is ever discarded, so accept/reject decisions, which look at
// the noise, cannot select it. Draws are counter-based: row i's draw for
// attempt k, coordinate j is normal((i K + k) d + j) on the sampler's noise
// stream (K = stride), whichever thread runs the row.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gengap/kernels/random.hpp"

namespace gengap {

class BrownianPaths {
 public:
  // Rows first .. first + rows - 1 of the sampler (global indices for the draws).
  BrownianPaths(const CounterRng& noise, std::uint64_t stride, std::size_t first, std::size_t rows, std::size_t d);

  double length(std::size_t r) const { return h_[r]; }
  const double* increment(std::size_t r) const { return dW_.data() + r * d_; }

  // Row r's first increment: fresh, of length h (attempt 0's draw).
  void start(std::size_t r, double h);
  // After a rejection: shortens the pending increment to `shorter` (< its
  // length) by the Brownian bridge (the draw of attempt k), keeping the rest.
  void shorten(std::size_t r, double shorter, std::size_t k);
  // After an accepted step, with `remaining` = t - t_min still to go: the
  // next increment, at most `proposal` long (draws of attempt k). False, and
  // no change, when that step would be shorter than min_length.
  bool next(std::size_t r, double proposal, double remaining, double min_length, std::size_t k);

 private:
  // mean + scale normal(...) for row r's attempt k into out (mean may be null: 0).
  void fresh(std::size_t r, std::size_t k, double scale, const double* mean, double* out) const;

  const CounterRng& noise_;
  std::uint64_t stride_;
  std::size_t first_, d_;
  std::vector<double> h_, dW_;
  std::vector<std::vector<double>> stack_;  // [length, dW_1..dW_d] pieces
};

}  // namespace gengap
