#pragma once
// Study S1 (docs/studies.md): exact gradient flow of the random-feature score on
// the empirical DSM loss of a two-mode Gaussian mixture, with the empirical
// loss L_n(tau), the population loss L(tau), the generalization gap
// L(tau) - L_n(tau), the norm growth ||A(tau) - A_0||_F and KL(p_0 || p_theta(tau))
// (by the likelihood ODE over test samples and by quadrature) and the bound
// terms of the theory along log-spaced training times tau (docs/math.md §5, §6, §9,
// §10).
//
// Steps: training set x_i ~ p_0 (streams::training_data) -> time embedding and
// random features -> Gram matrices of the empirical design (G_n, C_n, L_{0,n})
// and of the population design (G, C, L_0) -> GradientFlow(train) ->
// project(population) -> curves at tau in log_spaced(timescale_range()) (and
// tau.include) -> bound terms (bound_terms.hpp) ->
// KL at every kl.tau_stride-th tau and the saved ones (generalization/kl_trajectory.hpp:
// p_theta is the model's density at t_min; the floor KL(p_0 || p_{t_min}) of
// the exact score is reported beside it).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/generalization/bound_terms.hpp"
#include "gengap/generalization/density_shape.hpp"
#include "gengap/generalization/kl_trajectory.hpp"
#include "gengap/generalization/io/run_record.hpp"
#include "gengap/generalization/studies/model_config.hpp"
#include "gengap/kernels/activation.hpp"
#include "gengap/kernels/communicator.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/kernels/time_embedding.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

enum class PopulationLossMethod { quadrature, monte_carlo };

// Every parameter of the study; the defaults are docs/studies.md S1's. The JSON
// form (to_json / early_stopping_config_from_json) nests the groups below
// under the same names ("model.m", "schedule.T", "tau.points", ...).
//
// The random-feature model's groups (seed, model, schedule, weighting,
// train_loss) are the base RandomFeatureModelConfig (studies/model_config.hpp),
// shared with the studies that train the same model on other data.
struct EarlyStoppingConfig : RandomFeatureModelConfig {
  // p_0 = 1/2 N(-mu, variance) + 1/2 N(mu, variance) in d = 1 (modes distance 2 mu).
  struct Target {
    double mu = 3.0;
    double variance = 1.0;
  } target;

  std::size_t n = 1000;  // training samples



  // L: quadrature over the known mixture (d <= 2), or Monte Carlo.
  struct PopulationLoss {
    PopulationLossMethod method = PopulationLossMethod::quadrature;
    std::size_t time_nodes = 1024;
    std::size_t space_nodes = 48;
    std::size_t samples = std::size_t{1} << 20;
  } population_loss;

  // Training times: `points` log-spaced over the flow's eigen-timescales
  // m^2/lambda_j above eigen_floor * lambda_max, merged with the `include`d
  // times (e.g. a fixed tau that a study compares across settings; each gets
  // a KL); A(tau) kept at `saved` rows of the merged grid, evenly spread and
  // including the first and the last.
  struct TauGrid {
    std::size_t points = 60;
    double eigen_floor = 1e-10;
    std::size_t saved = 6;
    std::vector<double> include;  // distinct, finite, > 0
  } tau;

  // KL(p_0 || p_theta(tau)) (docs/math.md §10) by adaptive quadrature in d = 1
  // (kl.hpp) at tau indices i with i % tau_stride == 0, and by the likelihood
  // ODE (§9) over test_points samples x ~ p_0 (Monte Carlo, with its standard
  // error) at i % ode_tau_stride == 0; both also at the saved taus and the
  // last. Separate ODE tolerances for the two (kl_trajectory.hpp says why).
  // The likelihood is log_likelihood_random_features: for relu the
  // divergence's kinks are integrated exactly along each step, so the
  // tolerances bound the error of x alone (solvers/random_feature_likelihood.hpp).
  // Work-precision on the S1 model (benchmarks/relu_likelihood_benchmark.cpp:
  // 200 points on [-6, 6] against the ODE state at rtol 1e-10): at tau* rtol
  // 1e-5 gives a median error of 7e-5 (259 evaluations per point); on the
  // memorising last tau rtol 3.2e-7 gives a median of 1.0e-4 and a largest
  // error of 1.7e-2 in 2800 evaluations per point, where the ODE state's 3e-6
  // (the old quadrature setting) gave 9.1e-4 and 7.4e-3 in 71 000 (16x the time).
  struct Kl {
    bool enabled = true;
    std::size_t test_points = 2000;   // 0: no Monte Carlo KL; else >= 2
    std::size_t tau_stride = 1;       // quadrature KL
    std::size_t ode_tau_stride = 3;   // Monte Carlo KL
    std::string method = "dopri5";    // dopri5 | tsit5 | bosh3 (adaptive pairs)
    double rtol = 1e-5;               // Monte Carlo KL's ODE: bias ~1e-6 at tau*, far below the SE
    double atol = 1e-5;
    std::size_t max_steps = 100000;   // step attempts per point
    std::optional<double> t_min;      // lower end of the likelihood ODE; empty: schedule.t_min
    bool quadrature = true;
    // The quadrature nodes' ODE: tight, so that int p_theta = 1 within 1e-3
    // also on the memorising model's spikes (see above).
    double quadrature_rtol = 3e-7;
    double quadrature_atol = 3e-7;
    std::size_t quadrature_nodes = 129;       // initial grid (odd >= 5)
    std::size_t quadrature_max_nodes = 4097;  // node budget per tau
    double quadrature_tolerance = 1e-3;       // absolute, on KL and on the mass
    // On KL beside the absolute one (0: off). 1e-3 asks 3 digits of a large KL
    // (a memorising model's ~2000) instead of 1e-3 absolute; at S1's defaults the
    // mass tolerance drives the late refinement, so it saves little there.
    double quadrature_relative_tolerance = 0.0;
    // Also the quadrature KL with the paper's score-integral density (its (11),
    // kl_trajectory.hpp) at the quadrature's taus: no ODE, ~0.1 s per tau.
    bool score_integral = true;
  } kl;

  // The bound terms of docs/math.md §10 along tau (bound_terms.hpp): J_SM(g^2) and
  // the likelihood bound from the population quadrature design (its
  // time_nodes and space_nodes; d <= 2), and the Monte Carlo error of L_n from
  // a second set of K draws (when train_loss is monte_carlo; costs one more
  // training Gram matrix).
  struct Bounds {
    bool enabled = true;
    bool score_matching = true;
    bool monte_carlo_error = true;
  } bounds;

  // The Gram matrices of L_n and L (quadratic_loss.hpp) are sums over `lanes`
  // interleaved subsets of their design rows, added in lane order: the
  // summation order, so the bits, depend on `lanes` alone (never on threads
  // or MPI ranks). Lanes are the unit of distribution of one run over R
  // ranks (rank r accumulates lanes r, r + R, ...; each lane holds an m x m
  // accumulator): set a multiple of R to keep every rank busy.
  struct Gram {
    std::size_t lanes = 2;
  } gram;

  // Throws InvalidArgument naming the dotted field ("model.m: must be positive, got 0").
  void validate() const;
  // Rows of the training-time grid: tau.points + tau.include.size().
  std::size_t grid_points() const { return tau.points + tau.include.size(); }
  GaussianMixture target_distribution() const;
  KlSettings kl_settings() const;
  // The rows (ascending) of the grid_points() grid at which each KL is
  // computed: every stride-th row, the saved rows, the last and the
  // `included_rows` (where tau.include landed); empty when kl.enabled is false
  // or that estimator is off (kl.quadrature = false, kl.test_points = 0).
  std::vector<std::size_t> kl_quadrature_indices(std::span<const std::size_t> included_rows = {}) const;
  std::vector<std::size_t> kl_ode_indices(std::span<const std::size_t> included_rows = {}) const;
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

// One tau's KL and its diagnostics; NaN (and evaluated = false) where the KL
// was not computed. flags: kl_flags bits (kl_trajectory.hpp).
struct KlRow {
  bool evaluated = false;
  double ode = std::numeric_limits<double>::quiet_NaN();        // Monte Carlo KL by the likelihood ODE
  double ode_se = std::numeric_limits<double>::quiet_NaN();     // its standard error
  double quad = std::numeric_limits<double>::quiet_NaN();       // quadrature KL
  double quad_error = std::numeric_limits<double>::quiet_NaN(); // its error estimate
  double mass = std::numeric_limits<double>::quiet_NaN();       // int p_theta dx on the quadrature grid
  unsigned flags = 0;
  double ode_evaluations = std::numeric_limits<double>::quiet_NaN();   // mean ODE evaluations per test point
  double quad_evaluations = std::numeric_limits<double>::quiet_NaN();  // mean ODE evaluations per grid node
  std::size_t ode_failed = 0;  // test points whose ODE failed (left out of the mean)
  std::size_t quad_nodes = 0;  // final grid size
  double score_integral = std::numeric_limits<double>::quiet_NaN();  // quadrature KL, paper's density (11)
};

// Learned and target densities at a saved tau, on that tau's adaptive
// quadrature grid restricted to the initial window (p_0's support and the
// training set): x ascending, p_0(x), p_theta(x) (the model's density at t_min).
struct DensitySnapshot {
  std::size_t index = 0;  // row of the curves
  double tau = 0.0;
  std::vector<double> x;
  std::vector<double> p0;
  std::vector<double> p_theta;
};

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

  // KL (when computed): tau* = argmin over the evaluated taus of the quadrature
  // KL (d = 1), else of the Monte Carlo KL; kl_source names which.
  bool kl_available = false;
  std::string kl_source;          // "quadrature" | "monte_carlo"
  std::size_t kl_best_index = 0;
  double tau_kl_best = 0.0;       // tau*
  double kl_best = 0.0;           // KL(tau*)
  double kl_best_error = 0.0;     // its error estimate (quadrature) or standard error
  bool kl_interior_minimum = false;  // tau* is neither the first nor the last tau with that KL
  // The first local minimum along tau (strictly below both neighbouring
  // evaluated taus): where early stopping would stop; tau* when there is none.
  std::size_t kl_first_minimum_index = 0;
  double tau_kl_first_minimum = 0.0;
  double kl_first_minimum = 0.0;
  double kl_last = 0.0;           // KL at the last tau
  double loss_pop_kl_best = 0.0;  // L(tau*)
  double loss_train_kl_best = 0.0;
  double gap_kl_best = 0.0;       // L(tau*) - L_n(tau*)
  double kl_floor = 0.0;          // KL(p_0 || p_{t_min}) of the exact score (quadrature; NaN without)
  double kl_t_min = 0.0;          // where p_theta lives
  // The learned density's shape (quadrature only; density_shape.hpp) at tau*
  // and at the last tau: both modes at tau*, spikes once it memorises.
  std::optional<DensityShape> shape_kl_best;
  std::optional<DensityShape> shape_last;
  std::size_t kl_evaluated = 0;   // taus with a KL
  std::size_t kl_flagged = 0;     // of those, rows with any flag

  // Bound terms (when computed; NaN where not available): at tau* (else at the last tau).
  bool bounds_available = false;
  double prior_kl = 0.0;                 // KL(p_T || pi)
  double score_matching_kl_best = 0.0;   // J_SM(A(tau*); g^2)
  double likelihood_bound_kl_best = 0.0; // J_SM + KL(p_T || pi) at tau*
  double distance_to_minimizer = 0.0;    // ||A_0 - A*||_F
  double monte_carlo_error_max = 0.0;    // max over tau of |L_{n,K} - L'_{n,K}| / sqrt 2
  double rademacher_last = 0.0;
  std::size_t optimization_bound_violations = 0;  // taus with optimisation error > its bound (0 by theory)

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
  std::vector<KlRow> kl;              // one per tau (quadrature at config.kl_quadrature_indices(), ODE at kl_ode_indices())
  std::vector<DensitySnapshot> densities;  // at the saved taus (quadrature only)
  std::optional<DensitySnapshot> best_density;  // at tau* (quadrature only)
  std::vector<std::size_t> included_indices;   // rows of tau.include in the grid, in tau.include's order
  std::vector<Matrix> included_weights;        // A at those rows (same order; empty without a KL)
  Matrix kl_best_weights;                      // A(tau*) (empty without a KL)
  BoundTerms bounds;                  // rows empty when bounds.enabled is false
  EarlyStoppingSummary summary;
  PhaseTimings timings;
};

// Runs the study. `on_phase` (optional) is called with each phase's name as it
// starts (progress for long runs): training_set, features, gram_train,
// eigendecomposition, gram_population, projection, curves, bounds, kl_setup
// (test samples, window, floor), kl_quadrature, kl_ode (each announced even
// when disabled, then empty). Validates the config first. The KL phases run
// the taus in parallel (each tau's ODE solves are parallel over points too);
// every number is independent of the thread count. `on_progress` (optional)
// is called with the fraction of the current phase done, where a phase can
// tell (the Gram matrices by rows, the KL phases by taus; not dsyevd), from
// any thread and possibly concurrently: it must be thread-safe.
inline constexpr std::size_t early_stopping_phase_count = 11;
//
// Distributed (`world` with R > 1 ranks; collective, every rank with the same
// config): the Gram matrices are split by their lanes (config.gram.lanes,
// quadratic_loss.hpp) and the KL's taus round-robin over the ranks; rank 0
// alone decomposes G_n, projects, computes the curves and bound terms and the
// weights it sends out, and returns the whole result, the one-process result
// bit for bit for any R. The other ranks return a result holding only the
// config and their timings. A failure on any rank throws on every rank.
EarlyStoppingResult run_early_stopping(const EarlyStoppingConfig& config,
                                       const std::function<void(std::string_view)>& on_phase = {},
                                       const std::function<void(double)>& on_progress = {},
                                       Communicator* world = nullptr);

}  // namespace gengap
