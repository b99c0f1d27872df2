#pragma once
// The random-feature score model and its training loss as every study that
// trains it configures them: the seed, the features (model), the forward
// process (schedule), the loss weighting and the empirical DSM design
// (train_loss). S1's EarlyStoppingConfig extends it with its target, tau grid
// and KL; S6 trains the same model on its segments with this config alone.
// The JSON form nests the groups under their names ("model.m", "schedule.T").
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gengap/kernels/activation.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/kernels/time_embedding.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {
namespace detail {
class ObjectReader;
}

enum class TrainLossMethod { monte_carlo, quadrature };
enum class InitialWeights { zero, gaussian };

struct RandomFeatureModelConfig {
  std::uint64_t seed = 0;

  struct Model {
    std::size_t m = 1024;
    Activation activation = Activation::relu;
    FeatureInit feature_init = FeatureInit::sphere;
    EmbeddingKind embedding = EmbeddingKind::linear;  // chosen by scripts/feature_sweep.py (README)
    std::size_t embedding_dim = 16;   // d_e (fourier, sinusoidal: even), degree (polynomial); linear has d_e = 1
    double embedding_scale = 30.0;    // std of the Fourier frequencies
    // The horizon h of the linear, sinusoidal and polynomial embeddings
    // (e(t) = t/h, ...); empty: schedule.T. Fixing it keeps the features'
    // time dependence the same across a sweep of T (study S5).
    std::optional<double> embedding_horizon;
    // Multipliers of the drawn rows (w_i, u_i, b_i) of rho_0, each part on its own:
    // the sphere's (or Gaussian's) scale of x, of e(t) and of the bias.
    double w_scale = 1.0;
    double u_scale = 1.0;
    double b_scale = 1.0;
    OutputScale output_scale = OutputScale::one;
    InitialWeights initial_weights = InitialWeights::zero;  // A_0 = 0, or N(0, initial_scale^2) entries
    double initial_scale = 1.0;
  } model;

  Schedule schedule;  // ou, T = 5, t_min = 1e-3
  Weighting weighting = Weighting::sigma2;

  // L_n: Monte Carlo with K draws (t, eps) per sample (the paper's estimator),
  // or Gauss-Legendre x Gauss-Hermite quadrature.
  struct TrainLoss {
    TrainLossMethod method = TrainLossMethod::monte_carlo;
    std::size_t draws_per_sample = 256;  // K
    std::size_t time_nodes = 64;
    std::size_t noise_nodes = 32;
  } train_loss;

  // Throws InvalidArgument naming the dotted field ("model.m: must be
  // positive, got 0"); refuses an m whose m x m matrices do not fit in memory.
  void validate() const;
  DsmSetup dsm_setup() const;
};

std::string_view to_string(TrainLossMethod method);
std::string_view to_string(InitialWeights weights);

// The groups "seed", "model", "schedule", "weighting", "train_loss", in that order.
nlohmann::ordered_json to_json(const RandomFeatureModelConfig& config);
// Applies those of the groups that root holds to config (marking them read);
// strict inside each group: an unknown key, a wrong type or an unknown name
// throws InvalidArgument naming the dotted key. Setting schedule.kind resets
// the other schedule fields to that kind's defaults before the given ones.
void read_model_config(detail::ObjectReader& root, RandomFeatureModelConfig& config);
// The defaults with json's groups applied; any other key is refused. Does not call validate().
RandomFeatureModelConfig random_feature_model_config_from_json(const nlohmann::json& json);

}  // namespace gengap
