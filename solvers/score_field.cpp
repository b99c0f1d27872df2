// The library's score fields (score_field.hpp) but the empirical ones
// (empirical_score_field.cpp).
#include "gengap/solvers/score_field.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/random_feature_score.hpp"

namespace gengap {
namespace {

// The ODE driver's chunk: calls of up to this many rows run serially.
constexpr std::size_t serial_rows = 64;

}  // namespace

ScoreField score_only(ScoreDivergenceField field) {
  require(static_cast<bool>(field), "field", "must be callable");
  return [field = std::move(field)](std::span<const double> t, MatrixView x, std::span<double> score) {
    std::vector<double> divergence(x.rows);
    field(t, x, score, divergence);
  };
}

// Always the rows path: its per-row results do not depend on the batch, so
// the samplers' and the likelihood's results do not depend on their chunk size.
ScoreDivergenceField random_feature_score(const RandomFeatures& rf, const Matrix& A, const DsmSetup& setup) {
  setup.validate();
  auto rows = std::make_shared<const RandomFeatureScore>(rf, A);  // validates rf and A
  return [rows, setup](std::span<const double> t, MatrixView x, std::span<double> score,
                       std::span<double> divergence) {
    const std::size_t n = t.size();
    const auto block = [&](std::size_t begin, std::size_t end) {
      double c[serial_rows];
      for (std::size_t r = begin; r < end; ++r)  // c(t) once per run of equal times (StepSharing::per_chunk)
        c[r - begin] = r > begin && t[r] == t[r - 1] ? c[r - 1 - begin] : setup.c(t[r]);
      const std::size_t d = rows->dim();
      rows->evaluate(MatrixView{x.data + begin * x.cols, end - begin, x.cols}, t.subspan(begin, end - begin),
                     {c, end - begin}, score.subspan(begin * d, (end - begin) * d),
                     divergence.empty() ? divergence : divergence.subspan(begin, end - begin),
                     RandomFeaturePath::rows);
      if (setup.output_scale != OutputScale::denoiser) return;
      // The denoiser's skip term k(t) x (k = -1/sigma^2), divergence k d.
      for (std::size_t r = begin; r < end; ++r) {
        const double k = setup.skip(t[r]);
        for (std::size_t j = 0; j < d; ++j) score[r * d + j] += k * x.data[r * x.cols + j];
        if (!divergence.empty()) divergence[r] += k * static_cast<double>(d);
      }
    };
    require(x.cols == rows->dim(), "x",
            "expected " + std::to_string(rows->dim()) + " columns (d), got " + std::to_string(x.cols));
    require(x.rows == n, "t", "expected " + std::to_string(x.rows) + " entries (one per row), got " + std::to_string(n));
    require(score.size() == n * x.cols, "score",
            "expected " + std::to_string(n * x.cols) + " entries (rows*d), got " + std::to_string(score.size()));
    require(divergence.empty() || divergence.size() == n, "divergence",
            "expected 0 or " + std::to_string(n) + " entries, got " + std::to_string(divergence.size()));
    // A chunk of the ODE driver (<= serial_rows rows) runs on the caller's
    // thread; larger direct calls split into fixed blocks (results per row do
    // not depend on the split).
    if (n <= serial_rows) {
      block(0, n);
      return;
    }
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, (n + serial_rows - 1) / serial_rows, 1),
                      [&](const tbb::blocked_range<std::size_t>& r) {
                        for (std::size_t b = r.begin(); b != r.end(); ++b)
                          block(b * serial_rows, std::min(n, (b + 1) * serial_rows));
                      });
  };
}

ScoreDivergenceField mixture_score(const GaussianMixture& target, const Schedule& schedule) {
  schedule.validate();
  return [target, schedule](std::span<const double> t, MatrixView x, std::span<double> score,
                            std::span<double> divergence) {
    const std::size_t n = t.size();
    std::vector<double> mu(n), sigma(n);
    for (std::size_t r = 0; r < n; ++r) {
      mu[r] = schedule.mean_scale(t[r]);
      sigma[r] = schedule.std_dev(t[r]);
    }
    target.diffused_evaluate(mu, sigma, x, {}, score, divergence);
  };
}

}  // namespace gengap
