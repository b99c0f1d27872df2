#include "run_command.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>

#include "config_overrides.hpp"
#include "gengap/generalization/io/atomic_file.hpp"
#include "gengap/generalization/studies/s1/early_stopping.hpp"
#include "gengap/generalization/io/run_record.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/remote_error.hpp"
#include "results_writer.hpp"
#include "world.hpp"

namespace gengap::cli {
namespace {

EarlyStoppingConfig build_config(const RunOptions& options) {
  EarlyStoppingConfig config =
      early_stopping_config_from_json(options.layered());
  config.validate();
  return config;
}

void print_kl_summary(const EarlyStoppingResult& r) {
  const EarlyStoppingSummary& s = r.summary;
  if (!r.config.kl.enabled) return;
  if (!s.kl_available) {
    std::printf("  KL: no tau gave a finite KL (%zu evaluated; see kl_flags in curves.csv)\n", s.kl_evaluated);
    return;
  }
  const bool quadrature = s.kl_source == "quadrature";
  std::printf("  min KL(p0||p_theta) [%s] = %.5g +- %.2g at tau*=%.4g (%s; L-L_n there = %.4g); last tau: %.5g\n",
              s.kl_source.c_str(), s.kl_best, s.kl_best_error, s.tau_kl_best,
              s.kl_interior_minimum ? "interior minimum" : "at an end of the grid", s.gap_kl_best, s.kl_last);
  if (s.kl_first_minimum_index != s.kl_best_index) {
    std::printf("  first local minimum of KL: %.5g at tau=%.4g\n", s.kl_first_minimum, s.tau_kl_first_minimum);
  }
  // Diagnostics over the evaluated rows: mass range, flags, ODE cost along tau.
  struct Range {
    double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
    void add(double x) {
      if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
    }
  } mass, ode, nodes;
  std::size_t failed = 0;
  for (const KlRow& row : r.kl) {
    if (!row.evaluated) continue;
    mass.add(row.mass);
    ode.add(row.ode_evaluations);
    nodes.add(row.quad_evaluations);
    failed += row.ode_failed;
  }
  std::printf("  KL at %zu taus: floor KL(p0||p_t_min)=%.3g (exact score, t_min=%g)", s.kl_evaluated, s.kl_floor,
              s.kl_t_min);
  if (quadrature) std::printf(", mass in [%.6f, %.6f]", mass.lo, mass.hi);
  std::printf(", %zu flagged rows\n", s.kl_flagged);
  // A range with no finite value (no Monte Carlo KL: kl.test_points = 0) is not printed.
  std::string evaluations;
  char buffer[128];
  if (ode.lo <= ode.hi) {
    std::snprintf(buffer, sizeof buffer, "%.0f..%.0f per test point (%zu failed points)", ode.lo, ode.hi, failed);
    evaluations += buffer;
  }
  if (quadrature && nodes.lo <= nodes.hi) {
    std::snprintf(buffer, sizeof buffer, "%s%.0f..%.0f per quadrature node", evaluations.empty() ? "" : ", ", nodes.lo,
                  nodes.hi);
    evaluations += buffer;
  }
  if (!evaluations.empty()) std::printf("  ODE evaluations: %s\n", evaluations.c_str());
  const auto print_shape = [](const char* where, const std::optional<DensityShape>& shape) {
    if (!shape) return;
    std::printf("  p_theta at %s: %s (valley p(0)/p(mode) = %.3g, mass left of 0 = %.3f), %zu peaks, "
                "max p_theta / max p_0 = %.3g\n",
                where, shape->resolves_modes() ? "both modes" : "modes not resolved", shape->valley_ratio,
                shape->left_mass, shape->peaks, shape->peak_ratio);
  };
  print_shape("tau*", s.shape_kl_best);
  print_shape("the last tau", s.shape_last);
}

void print_bounds_summary(const EarlyStoppingResult& r) {
  const EarlyStoppingSummary& s = r.summary;
  if (!s.bounds_available) return;
  std::printf("  bounds at %s: likelihood bound J_SM(g^2) + KL(p_T||pi) = %.5g + %.3g = %.5g; ||A0-A*||_F=%.4g, "
              "optimisation error above its bound at %zu taus; Monte Carlo error of L_n <= %.3g; "
              "Rademacher term at the last tau %.4g\n",
              s.kl_available ? "tau*" : "the last tau", s.score_matching_kl_best, s.prior_kl,
              s.likelihood_bound_kl_best, s.distance_to_minimizer, s.optimization_bound_violations,
              s.monte_carlo_error_max, s.rademacher_last);
}

void print_summary(const EarlyStoppingResult& r, const std::filesystem::path& out, int threads) {
  const EarlyStoppingConfig& c = r.config;
  const EarlyStoppingSummary& s = r.summary;
  const std::string train_loss =
      c.train_loss.method == TrainLossMethod::monte_carlo
          ? "K=" + std::to_string(c.train_loss.draws_per_sample)
          : "quadrature " + std::to_string(c.train_loss.time_nodes) + "x" + std::to_string(c.train_loss.noise_nodes);
  std::printf("gengap run (S1 early stopping): two modes mu=%g, n=%zu, m=%zu, %s/%s, %s T=%g t_min=%g, %s, seed=%llu, "
              "%s\n",
              c.target.mu, c.n, c.model.m, std::string(to_string(c.model.activation)).c_str(),
              std::string(to_string(c.model.embedding)).c_str(), std::string(to_string(c.schedule.kind)).c_str(),
              c.schedule.T, c.schedule.t_min, train_loss.c_str(), static_cast<unsigned long long>(c.seed),
              processes_text(threads).c_str());
  std::printf("  G_n: %zu of %zu eigenvalues above the floor, lambda_max=%.4g; tau from %.4g to %.4g (%zu points)\n",
              s.eigen_kept, r.eigenvalues.size(), s.lambda_max, r.tau.front(), r.tau.back(), r.tau.size());
  std::printf("  min population loss L=%.6g at tau=%.4g (L_n=%.6g, gap=%.4g)\n", s.loss_pop_best, s.tau_best,
              s.loss_train_best, s.gap_best);
  std::printf("  last tau=%.4g: L_n=%.6g, L=%.6g, gap=%.4g, ||A-A0||=%.4g\n", s.tau_last, s.loss_train_last,
              s.loss_pop_last, s.gap_last, s.norm_growth_last);
  print_kl_summary(r);
  print_bounds_summary(r);
  std::string phases;
  for (const auto& [name, seconds] : r.timings.phases()) {
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%s%s %.2f s", phases.empty() ? "" : ", ", name.c_str(), seconds);
    phases += buffer;
  }
  std::printf("  time: %.2f s (%s)\n", r.timings.total(), phases.c_str());
  std::printf("  results: %s\n", out.string().c_str());
}

void print_plots(const nlohmann::ordered_json& plots, const std::filesystem::path& out) {
  if (plots.contains("error")) {
    std::fprintf(stderr, "gengap: warning: plots not drawn (%s); their data and gnuplot scripts are in %s\n",
                 plots["error"].get<std::string>().c_str(), (out / "plots").string().c_str());
    return;
  }
  std::string files;
  for (const auto& name : plots["files"]) files += (files.empty() ? "" : ", ") + name.get<std::string>();
  std::printf("  plots: %s (%s)\n", (out / "plots").string().c_str(), files.c_str());
}

}  // namespace

std::shared_ptr<RunOptions> add_run_command(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* run = app.add_subcommand("run", "Study S1: exact training dynamics L_n(tau), L(tau), gap, ||A(tau)-A_0||, KL(p_0||p_theta(tau))");
  run->add_option("--out", options->out, "Results folder (created if missing)")->capture_default_str();
  add_config_options(*run, *options,
                     {"JSON config file (keys as in config.json's \"config\")",
                      "Override one config key, dotted (e.g. --set model.m=256); repeatable, applied after --config",
                      "No progress lines on stderr"});
  return options;
}

void run(const RunOptions& options) {
  // Everything the user typed is checked, on every rank of a distributed
  // run, before anything is computed or written.
  EarlyStoppingConfig config;
  std::exception_ptr input_error;
  try {
    config = build_config(options);
  } catch (...) {
    input_error = std::current_exception();
  }
  agree_across_ranks(input_error);
  require_same_on_every_rank(world(), to_json(config).dump(), "config", "config");

  const int threads = options.threads > 0 ? static_cast<int>(options.threads) : tbb::info::default_concurrency();
  const tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                        static_cast<std::size_t>(threads));
  // All parallelism is TBB's: OpenBLAS runs single-threaded, so that its
  // reductions (eigendecomposition) cannot depend on a thread count either.
  const ScopedBlasThreads single_threaded_blas(1);
  if (!speaks_for_run()) {
    // Another rank of `mpirun -np R gengap run`: its share of the Gram
    // matrices and of the KL's taus; rank 0 prints and writes.
    run_early_stopping(config, {}, {}, &world());
    return;
  }
  const std::filesystem::path out(options.out);
  ensure_directory(out, "out");
  ensure_directory(out / "model", "out");

  nlohmann::ordered_json record;
  record["study"] = "s1_early_stopping";
  record["command"] = options.command_line;
  record["seed"] = config.seed;
  record["config"] = to_json(config);
  record["environment"] = environment_record();
  if (world().size() > 1) record["distributed"] = {{"ranks", world().size()}, {"gram_lanes", config.gram.lanes}};

  std::size_t phase_number = 0;
  const auto progress = [&](std::string_view phase) {
    if (options.quiet) return;
    std::fprintf(stderr, "gengap: [%zu/%zu] %.*s\n", ++phase_number, early_stopping_phase_count,
                 static_cast<int>(phase.size()), phase.data());
  };
  const EarlyStoppingResult result = run_early_stopping(config, progress, {}, &world());

  record["timings"] = result.timings.to_json();
  record["summary"] = result.summary.to_json();
  const nlohmann::ordered_json written = write_results(out, result, std::move(record));
  print_summary(result, out, threads);
  print_plots(written["plots"], out);
}

}  // namespace gengap::cli
