#pragma once
// Metrics that tell memorisation from generalization for a set of samples and
// the training set (issue 5, study S6):
//
//   nearest_training_points  for every sample x, the distances to its nearest
//                            and second-nearest training points, d1 <= d2, and
//                            the nearest one's index (exact brute force,
//                            O(N n d), parallel over samples)
//   memorization             the memorised fraction: samples with
//                            d1 / d2 < ratio_threshold (1/3, the criterion of
//                            the memorisation literature, e.g. Yoon et al. 2023,
//                            Gu et al. 2023); a sample that coincides with a
//                            training point has ratio 0
//   segment_histogram        where samples lie along a training segment a -> b:
//                            u = (x - a).(b - a) / |b - a|^2 (0 at a, 1 at b),
//                            the density histogram of u on [0, 1], the fraction
//                            outside, the distance of the samples off the line,
//                            and two distances to the uniform law on the
//                            segment (what interpolation between evenly spaced
//                            training points would give): total variation of
//                            the histogram, and Kolmogorov-Smirnov of the u in
//                            [0, 1]
//
// Every number is independent of the thread count.
#include <cstddef>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/kernels/matrix.hpp"

namespace gengap {

struct NearestTrainingPoints {
  std::vector<double> nearest;         // d1 per sample
  std::vector<double> second_nearest;  // d2 per sample
  std::vector<std::size_t> nearest_index;
};

// samples: N x d, training: n x d with n >= 2 (a second-nearest point must
// exist). InvalidArgument naming "training" / "samples" (empty, dimension
// mismatch, non-finite entries).
NearestTrainingPoints nearest_training_points(MatrixView samples, MatrixView training);

struct MemorizationReport {
  std::size_t samples = 0;
  std::size_t memorized = 0;
  double memorized_fraction = 0.0;
  double ratio_threshold = 1.0 / 3.0;
  double median_nearest = 0.0;  // median of d1
  double median_ratio = 0.0;    // median of d1 / d2
  nlohmann::ordered_json to_json() const;
};

// ratio_threshold in (0, 1]; InvalidArgument("ratio_threshold") otherwise.
MemorizationReport memorization(const NearestTrainingPoints& distances, double ratio_threshold = 1.0 / 3.0);

struct SegmentHistogram {
  std::vector<double> edges;    // bins + 1, from 0 to 1
  std::vector<double> density;  // per bin: count / (N_inside * width), integrates to 1 over [0, 1]
  std::size_t inside = 0;       // samples with u in [0, 1]
  std::size_t outside = 0;
  double mean_distance_off_line = 0.0;     // mean |x - (a + u (b - a))|
  double total_variation_to_uniform = 0.0; // 1/2 sum_bins |p_bin - width|, of the inside samples
  double ks_to_uniform = 0.0;              // sup_u |F_N(u) - u| over the inside samples
  double outside_fraction() const;  // outside / (inside + outside); NaN without samples
  nlohmann::ordered_json to_json() const;
};

// a, b: the segment's ends (d each, a != b); bins >= 1. InvalidArgument naming
// "a", "b", "bins" or "samples".
SegmentHistogram segment_histogram(MatrixView samples, std::span<const double> a, std::span<const double> b,
                                   std::size_t bins);

}  // namespace gengap
