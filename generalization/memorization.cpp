// Memorisation and interpolation metrics (see memorization.hpp).
#include "gengap/generalization/memorization.hpp"

#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

double median(std::vector<double> values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  const std::size_t middle = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle), values.end());
  const double upper = values[middle];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle));
  return 0.5 * (lower + upper);
}

void require_points(MatrixView points, const char* field) {
  require(points.rows >= 1 && points.cols >= 1, field, "must not be empty");
  require_finite(points.flat(), field);
}

}  // namespace

NearestTrainingPoints nearest_training_points(MatrixView samples, MatrixView training) {
  require_points(samples, "samples");
  require_points(training, "training");
  require(training.rows >= 2, "training", "needs at least 2 points (a second-nearest one), got 1");
  require(samples.cols == training.cols, "samples",
          "dimension " + std::to_string(samples.cols) + " does not match the training set's " +
              std::to_string(training.cols));
  const std::size_t N = samples.rows, n = training.rows, d = samples.cols;
  NearestTrainingPoints out;
  out.nearest.resize(N);
  out.second_nearest.resize(N);
  out.nearest_index.resize(N);
  // Each sample is one independent scan (squared distances as differences,
  // no |x|^2 - 2 x.y + |y|^2 cancellation: a sample on a training point gets 0).
  tbb::parallel_for(std::size_t{0}, N, [&](std::size_t i) {
    const double* x = samples.row(i);
    double best = std::numeric_limits<double>::infinity(), second = best;
    std::size_t best_index = 0;
    for (std::size_t j = 0; j < n; ++j) {
      const double* y = training.row(j);
      double squared = 0.0;
      for (std::size_t k = 0; k < d; ++k) squared += (x[k] - y[k]) * (x[k] - y[k]);
      if (squared < best) {
        second = best;
        best = squared;
        best_index = j;
      } else if (squared < second) {
        second = squared;
      }
    }
    out.nearest[i] = std::sqrt(best);
    out.second_nearest[i] = std::sqrt(second);
    out.nearest_index[i] = best_index;
  });
  return out;
}

MemorizationReport memorization(const NearestTrainingPoints& distances, double ratio_threshold) {
  require(std::isfinite(ratio_threshold) && ratio_threshold > 0.0 && ratio_threshold <= 1.0, "ratio_threshold",
          "must lie in (0, 1], got " + std::to_string(ratio_threshold));
  require(distances.nearest.size() == distances.second_nearest.size(), "distances",
          "nearest and second_nearest differ in length");
  MemorizationReport r;
  r.samples = distances.nearest.size();
  r.ratio_threshold = ratio_threshold;
  std::vector<double> ratio(r.samples);
  for (std::size_t i = 0; i < r.samples; ++i) {
    // Two training points at the same place: d2 = d1 = 0, the sample sits on them.
    const double d2 = distances.second_nearest[i];
    ratio[i] = d2 > 0.0 ? distances.nearest[i] / d2 : 0.0;
    r.memorized += ratio[i] < ratio_threshold ? 1 : 0;
  }
  r.memorized_fraction = r.samples > 0 ? static_cast<double>(r.memorized) / static_cast<double>(r.samples) : 0.0;
  r.median_nearest = median(distances.nearest);
  r.median_ratio = median(ratio);
  return r;
}

nlohmann::ordered_json MemorizationReport::to_json() const {
  return {{"samples", samples},         {"memorized", memorized},       {"memorized_fraction", memorized_fraction},
          {"ratio_threshold", ratio_threshold}, {"median_nearest", median_nearest}, {"median_ratio", median_ratio}};
}

SegmentHistogram segment_histogram(MatrixView samples, std::span<const double> a, std::span<const double> b,
                                   std::size_t bins) {
  require_points(samples, "samples");
  const std::size_t d = samples.cols;
  require(a.size() == d, "a", "needs " + std::to_string(d) + " coordinates, got " + std::to_string(a.size()));
  require(b.size() == d, "b", "needs " + std::to_string(d) + " coordinates, got " + std::to_string(b.size()));
  require_finite(a, "a");
  require_finite(b, "b");
  require(bins >= 1, "bins", "must be at least 1, got 0");
  double length_squared = 0.0;
  for (std::size_t k = 0; k < d; ++k) length_squared += (b[k] - a[k]) * (b[k] - a[k]);
  require(length_squared > 0.0, "b", "must differ from a");

  SegmentHistogram h;
  h.edges.resize(bins + 1);
  for (std::size_t k = 0; k <= bins; ++k) h.edges[k] = static_cast<double>(k) / static_cast<double>(bins);
  std::vector<double> count(bins, 0.0), inside_u;
  double off_line = 0.0;
  for (std::size_t i = 0; i < samples.rows; ++i) {
    const double* x = samples.row(i);
    double dot = 0.0;
    for (std::size_t k = 0; k < d; ++k) dot += (x[k] - a[k]) * (b[k] - a[k]);
    const double u = dot / length_squared;
    double residual = 0.0;
    for (std::size_t k = 0; k < d; ++k) {
      const double r = x[k] - (a[k] + u * (b[k] - a[k]));
      residual += r * r;
    }
    off_line += std::sqrt(residual);
    if (u < 0.0 || u > 1.0) {
      ++h.outside;
      continue;
    }
    inside_u.push_back(u);
    count[std::min(bins - 1, static_cast<std::size_t>(u * static_cast<double>(bins)))] += 1.0;
  }
  h.inside = inside_u.size();
  h.mean_distance_off_line = off_line / static_cast<double>(samples.rows);
  const double width = 1.0 / static_cast<double>(bins);
  h.density.assign(bins, 0.0);
  if (h.inside == 0) {
    h.total_variation_to_uniform = h.ks_to_uniform = std::numeric_limits<double>::quiet_NaN();
    return h;
  }
  const double N = static_cast<double>(h.inside);
  for (std::size_t k = 0; k < bins; ++k) {
    h.density[k] = count[k] / (N * width);
    h.total_variation_to_uniform += 0.5 * std::abs(count[k] / N - width);
  }
  std::sort(inside_u.begin(), inside_u.end());
  for (std::size_t i = 0; i < inside_u.size(); ++i) {
    const double below = static_cast<double>(i) / N, above = static_cast<double>(i + 1) / N;
    h.ks_to_uniform = std::max({h.ks_to_uniform, std::abs(inside_u[i] - below), std::abs(above - inside_u[i])});
  }
  return h;
}

double SegmentHistogram::outside_fraction() const {
  const double total = double(inside + outside);
  return total > 0.0 ? double(outside) / total : std::numeric_limits<double>::quiet_NaN();
}

nlohmann::ordered_json SegmentHistogram::to_json() const {
  return {{"bins", density.size()},
          {"inside", inside},
          {"outside", outside},
          {"mean_distance_off_line", mean_distance_off_line},
          {"total_variation_to_uniform", total_variation_to_uniform},
          {"ks_to_uniform", ks_to_uniform},
          {"density", density}};
}

}  // namespace gengap
