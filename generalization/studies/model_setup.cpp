#include "gengap/generalization/studies/model_setup.hpp"

#include "gengap/kernels/random.hpp"

namespace gengap {

std::unique_ptr<DesignPoints> model_training_design(const RandomFeatureModelConfig& config, MatrixView data,
                                                    const DsmSetup& setup) {
  if (config.train_loss.method == TrainLossMethod::monte_carlo) {
    return empirical_monte_carlo(data, config.train_loss.draws_per_sample, setup, config.seed);
  }
  return empirical_quadrature(data, config.train_loss.time_nodes, config.train_loss.noise_nodes, setup);
}

TimeEmbedding model_time_embedding(const RandomFeatureModelConfig& config) {
  const double horizon = config.model.embedding_horizon.value_or(config.schedule.T);
  switch (config.model.embedding) {
    case EmbeddingKind::fourier:
      return fourier_embedding(config.model.embedding_dim, config.model.embedding_scale, config.seed);
    case EmbeddingKind::sinusoidal: return sinusoidal_embedding(config.model.embedding_dim, horizon);
    case EmbeddingKind::polynomial: return polynomial_embedding(config.model.embedding_dim, horizon);
    case EmbeddingKind::linear: break;
  }
  return linear_embedding(horizon);
}

RandomFeatures model_random_features(const RandomFeatureModelConfig& config, std::size_t d) {
  RandomFeatures rf = draw_random_features(config.model.m, d, model_time_embedding(config), config.model.activation,
                                           config.model.feature_init, config.seed);
  for (double& w : rf.W.flat()) w *= config.model.w_scale;
  for (double& u : rf.U.flat()) u *= config.model.u_scale;
  for (double& b : rf.b) b *= config.model.b_scale;
  return rf;
}

Matrix model_initial_weights(const RandomFeatureModelConfig& config, std::size_t d) {
  Matrix A0(d, config.model.m, 0.0);
  if (config.model.initial_weights == InitialWeights::gaussian) {
    CounterRng(config.seed, streams::initial_weights).fill_normal(A0.flat());
    for (double& a : A0.flat()) a *= config.model.initial_scale;
  }
  return A0;
}

}  // namespace gengap
