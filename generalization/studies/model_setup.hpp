#pragma once
// The random-feature model's pieces as a RandomFeatureModelConfig describes
// them (its model, train_loss, schedule, weighting and seed groups), shared by
// study S1 and every study that trains the same model on another training
// set (S6 smoothing).
#include <cstddef>
#include <memory>

#include "gengap/generalization/studies/model_config.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/kernels/time_embedding.hpp"
#include "gengap/solvers/dsm_design.hpp"

namespace gengap {

// The empirical DSM design of `data` (n x d): Monte Carlo with
// train_loss.draws_per_sample draws per sample (streams::dsm_time / dsm_noise
// under config.seed) or the Gauss-Legendre x Gauss-Hermite quadrature.
std::unique_ptr<DesignPoints> model_training_design(const RandomFeatureModelConfig& config, MatrixView data,
                                                    const DsmSetup& setup);

// (W, U, b) drawn from rho_0 (model.feature_init, streams::feature_weights),
// each part multiplied by its model.w_scale / u_scale / b_scale; e(t) and the
// activation from the model group.
RandomFeatures model_random_features(const RandomFeatureModelConfig& config, std::size_t d);

// e(t): Fourier (dimension model.embedding_dim: embedding_dim / 2 frequencies of std model.embedding_scale,
// streams::embedding), sinusoidal (model.embedding_dim / 2 fixed frequencies),
// linear or polynomial (degree model.embedding_dim) on [0, schedule.T].
TimeEmbedding model_time_embedding(const RandomFeatureModelConfig& config);

// A_0 (d x model.m): zeros, or N(0, model.initial_scale^2) entries on streams::initial_weights.
Matrix model_initial_weights(const RandomFeatureModelConfig& config, std::size_t d);

}  // namespace gengap
