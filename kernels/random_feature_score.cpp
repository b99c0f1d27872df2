// The random-feature score's chooser (random_feature_score.hpp).
#include "gengap/kernels/random_feature_score.hpp"

#include <algorithm>

#include "gengap/kernels/detail/random_feature_tiles.hpp"

namespace gengap {

RandomFeatureScore::RandomFeatureScore(const RandomFeatures& rf, MatrixView A)
    : rows_(rf, A), rf_(rf), A_(A.rows, A.cols) {
  std::copy_n(A.data, A.rows * A.cols, A_.data());
}

RandomFeaturePath RandomFeatureScore::choose(std::size_t n, std::size_t d) {
  return d > 4 && n >= tiles_min_rows ? RandomFeaturePath::tiles : RandomFeaturePath::rows;
}

void RandomFeatureScore::evaluate(MatrixView X, std::span<const double> t, std::span<const double> output_scale,
                                  std::span<double> score, std::span<double> divergence,
                                  RandomFeaturePath path) const {
  if (path == RandomFeaturePath::automatic) path = choose(X.rows, X.cols);
  if (path == RandomFeaturePath::tiles) {
    detail::score_and_divergence_tiles(rf_, A_.view(), X, t, output_scale, score, divergence);
  } else {
    rows_.evaluate(X, t, output_scale, score, divergence);
  }
}

}  // namespace gengap
