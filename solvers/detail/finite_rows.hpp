#pragma once
// The one non-finite guard of the score fields and the probability-flow
// fields (and the row check the ODE driver and the samplers use on states): a row whose state (or time) is not finite is never passed to a
// score; its outputs are NaN, which the ODE driver and the samplers flag as
// non_finite. A row's evaluation does not depend on the other rows (the
// ScoreField contract), so leaving rows out changes no bits of the others.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/matrix.hpp"

namespace gengap::detail {

// Whether all n entries of v are finite.
inline bool all_finite(const double* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

// The rows r of y whose first `width` entries are finite (and t[r], when t is given).
inline std::vector<std::size_t> finite_rows(MatrixView y, std::size_t width, std::span<const double> t = {}) {
  std::vector<std::size_t> rows;
  rows.reserve(y.rows);
  for (std::size_t r = 0; r < y.rows; ++r) {
    const double* v = y.row(r);
    bool finite = t.empty() || std::isfinite(t[r]);
    for (std::size_t j = 0; j < width && finite; ++j) finite = std::isfinite(v[j]);
    if (finite) rows.push_back(r);
  }
  return rows;
}

// Calls evaluate(t, x, score, divergence) on the finite rows only (compacted
// when some are not) and writes NaN for the others. score and divergence may
// each be empty (not computed). InvalidArgument "x" / "t" on wrong shapes.
template <class Evaluate>
void on_finite_rows(std::span<const double> t, MatrixView x, std::span<double> score, std::span<double> divergence,
                    std::size_t d, const Evaluate& evaluate) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  require(x.cols == d, "x", "expected " + std::to_string(d) + " columns (d), got " + std::to_string(x.cols));
  require(t.size() == x.rows, "t",
          "expected " + std::to_string(x.rows) + " entries (one per row), got " + std::to_string(t.size()));
  const std::vector<std::size_t> keep = finite_rows(x, d, t);
  if (keep.size() == x.rows) {
    evaluate(t, x, score, divergence);
    return;
  }
  const std::size_t m = keep.size();
  std::vector<double> tk(m), xk(m * d), sk(score.empty() ? 0 : m * d), dk(divergence.empty() ? 0 : m);
  for (std::size_t i = 0; i < m; ++i) {
    tk[i] = t[keep[i]];
    std::copy_n(x.row(keep[i]), d, xk.data() + i * d);
  }
  if (m > 0) evaluate(tk, MatrixView{xk.data(), m, d}, std::span<double>(sk), std::span<double>(dk));
  if (!score.empty()) std::fill(score.begin(), score.end(), nan);
  if (!divergence.empty()) std::fill(divergence.begin(), divergence.end(), nan);
  for (std::size_t i = 0; i < m; ++i) {
    if (!score.empty()) std::copy_n(sk.data() + i * d, d, score.data() + keep[i] * d);
    if (!divergence.empty()) divergence[keep[i]] = dk[i];
  }
}

}  // namespace gengap::detail
