#pragma once
// Study S1 (STUDIES.md), training-dynamics part: exact gradient flow of the
// random-feature score on the empirical DSM loss of a two-mode Gaussian
// mixture, with the empirical loss L_n(tau), the population loss L(tau), the
// generalization gap L(tau) - L_n(tau) and the norm growth ||A(tau) - A_0||_F
// along log-spaced training times tau (MATH.md §5, §6, §10).
//
// Steps: training set x_i ~ p_0 (streams::training_data) -> time embedding and
// random features -> Gram matrices of the empirical design (G_n, C_n, L_{0,n})
// and of the population design (G, C, L_0) -> GradientFlow(train) ->
// project(population) -> curves at tau in log_spaced(timescale_range()).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/generalization/run_record.hpp"
#include "gengap/kernels/activation.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/kernels/time_embedding.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

enum class TrainLossMethod { monte_carlo, quadrature };
enum class PopulationLossMethod { quadrature, monte_carlo };
enum class InitialWeights { zero, gaussian };

// Every parameter of the study; the defaults are STUDIES.md S1's. The JSON
// form (to_json / early_stopping_config_from_json) nests the groups below
// under the same names ("model.m", "schedule.T", "tau.points", ...).
struct EarlyStoppingConfig {
  std::uint64_t seed = 0;

  // p_0 = 1/2 N(-mu, variance) + 1/2 N(mu, variance) in d = 1 (modes distance 2 mu).
  struct Target {
    double mu = 3.0;
    double variance = 1.0;
  } target;

  std::size_t n = 1000;  // training samples

  struct Model {
    std::size_t m = 1024;
    Activation activation = Activation::relu;
    FeatureInit feature_init = FeatureInit::sphere;
    EmbeddingKind embedding = EmbeddingKind::fourier;
    std::size_t embedding_dim = 16;   // d_e (fourier; linear has d_e = 1)
    double embedding_scale = 30.0;    // std of the Fourier frequencies
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

  // L: quadrature over the known mixture (d <= 2), or Monte Carlo.
  struct PopulationLoss {
    PopulationLossMethod method = PopulationLossMethod::quadrature;
    std::size_t time_nodes = 1024;
    std::size_t space_nodes = 48;
    std::size_t samples = std::size_t{1} << 20;
  } population_loss;

  // Training times: `points` log-spaced over the flow's eigen-timescales
  // m^2/lambda_j above eigen_floor * lambda_max; A(tau) kept at `saved` of
  // them, evenly spread and including the first and the last.
  struct TauGrid {
    std::size_t points = 60;
    double eigen_floor = 1e-10;
    std::size_t saved = 6;
  } tau;

  // Throws InvalidArgument naming the dotted field ("model.m: must be positive, got 0").
  void validate() const;
  DsmSetup dsm_setup() const;
  GaussianMixture target_distribution() const;
};

// Full JSON form (every key, enums as their names).
nlohmann::ordered_json to_json(const EarlyStoppingConfig& config);
// Starts from the defaults and applies the keys present. Strict: an unknown
// key, a value of the wrong type or an unknown enum name throws
// InvalidArgument naming the dotted key. Setting schedule.kind resets the other
// schedule fields to that kind's defaults before the given ones are applied.
// Does not call validate().
EarlyStoppingConfig early_stopping_config_from_json(const nlohmann::json& json);

// Indices of `saved` entries evenly spread over `points` (round(i (points-1)/(saved-1))),
// first and last included; 2 <= saved <= points.
std::vector<std::size_t> saved_tau_indices(std::size_t points, std::size_t saved);

struct EarlyStoppingSummary {
  std::size_t best_index = 0;     // argmin_tau L(tau) on the grid
  double tau_best = 0.0;
  double loss_pop_best = 0.0;     // min L(tau)
  double loss_train_best = 0.0;   // L_n at tau_best
  double gap_best = 0.0;
  double tau_last = 0.0;
  double loss_train_last = 0.0;
  double loss_pop_last = 0.0;
  double gap_last = 0.0;
  double norm_growth_last = 0.0;
  double lambda_max = 0.0;        // largest eigenvalue of G_n
  double lambda_min_kept = 0.0;   // smallest eigenvalue above the floor
  std::size_t eigen_kept = 0;     // number of eigenvalues above the floor
  double timescale_min = 0.0;     // m^2 / lambda_max
  double timescale_max = 0.0;     // m^2 / lambda_min_kept

  nlohmann::ordered_json to_json() const;
};

struct EarlyStoppingResult {
  EarlyStoppingConfig config;
  Matrix training_set;  // n x d
  RandomFeatures features;
  Matrix initial_weights;  // A_0, d x m
  std::vector<double> tau;
  std::vector<double> loss_train;   // L_n(A(tau))
  std::vector<double> loss_pop;     // L(A(tau))
  std::vector<double> gap;          // loss_pop - loss_train
  std::vector<double> norm_growth;  // ||A(tau) - A_0||_F
  std::vector<std::size_t> saved_indices;
  std::vector<Matrix> saved_weights;  // A(tau[saved_indices[k]]), d x m each
  std::vector<double> eigenvalues;    // of G_n, ascending
  EarlyStoppingSummary summary;
  PhaseTimings timings;
};

// Runs the study. `on_phase` (optional) is called with each phase's name as it
// starts (progress for long runs): training_set, features, gram_train,
// gram_population, eigendecomposition, projection, curves. Validates the config first.
inline constexpr std::size_t early_stopping_phase_count = 7;
EarlyStoppingResult run_early_stopping(const EarlyStoppingConfig& config,
                                       const std::function<void(std::string_view)>& on_phase = {});

}  // namespace gengap
