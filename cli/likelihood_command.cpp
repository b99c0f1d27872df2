#include "likelihood_command.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/generalization/io/atomic_file.hpp"
#include "gengap/generalization/io/npy.hpp"
#include "gengap/generalization/io/run_record.hpp"
#include "gengap/generalization/io/saved_model.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/random_feature_likelihood.hpp"
#include "world.hpp"

namespace gengap::cli {
namespace {

namespace fs = std::filesystem;

// Everything the user typed, checked before anything is computed or written.
struct Inputs {
  SavedModel model;
  std::size_t tau_index = 0;
  Matrix data;
  LikelihoodOptions likelihood;
  bool hutchinson = false;
  HutchinsonOptions probes;
  fs::path out, out_se, sidecar;
};

SavedModel read_model(const std::string& dir) {
  require(!dir.empty(), "model", "missing (--model DIR, a folder written by gengap run: results/s1/model)");
  require(fs::is_directory(dir), "model", "'" + dir + "' is not a folder");
  try {
    return load_model(dir);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument("model", e.what());
  }
}

// N x d float64 (or int64), or a vector of N when d = 1; finite.
Matrix read_data(const std::string& file, std::size_t d) {
  require(!file.empty(), "data", "missing (--data X.npy)");
  NpyArray array;
  try {
    array = read_npy(file);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument("data", e.what());
  }
  const std::string shape = [&] {
    std::string s = "(";
    for (std::size_t k = 0; k < array.shape.size(); ++k) s += (k ? ", " : "") + std::to_string(array.shape[k]);
    return s + (array.shape.size() == 1 ? ",)" : ")");
  }();
  const std::string expected = d == 1 ? "(N, 1) or (N,)" : "(N, " + std::to_string(d) + ")";
  require(array.ndim() == 2 || (array.ndim() == 1 && d == 1), "data",
          file + ": shape " + shape + ", expected " + expected + " for a model of dimension d = " + std::to_string(d));
  require(array.ndim() == 1 || array.shape[1] == d, "data",
          file + ": shape " + shape + ", expected " + expected + " for a model of dimension d = " + std::to_string(d));
  require(array.shape[0] >= 1, "data", file + ": no points (shape " + shape + ")");
  Matrix data = array.to_matrix();
  for (std::size_t i = 0; i < data.rows(); ++i) {
    for (std::size_t j = 0; j < d; ++j) {
      require(std::isfinite(data(i, j)), "data",
              file + ": non-finite value " + std::to_string(data(i, j)) + " at point " + std::to_string(i) +
                  ", coordinate " + std::to_string(j));
    }
  }
  return data;
}

Inputs read_inputs(const LikelihoodCommandOptions& o) {
  Inputs in;
  in.model = read_model(o.model);
  const std::size_t saved = in.model.tau.size();
  if (o.tau_index) {
    require(*o.tau_index >= 0 && static_cast<std::size_t>(*o.tau_index) < saved, "tau_index",
            "must be in [0, " + std::to_string(saved - 1) + "] (the model saves " + std::to_string(saved) +
                " training times), got " + std::to_string(*o.tau_index));
    in.tau_index = static_cast<std::size_t>(*o.tau_index);
  } else {
    in.tau_index = saved - 1;
  }

  in.likelihood.t_min = o.t_min;
  in.likelihood.ode.method = parse_rk_method(o.method);
  in.likelihood.ode.controller.rtol = o.rtol;
  in.likelihood.ode.controller.atol = o.atol;
  in.likelihood.ode.fixed_step = o.fixed_step;
  in.likelihood.ode.max_steps = o.max_steps;
  in.likelihood.validate(in.model.setup.schedule);

  require(o.divergence == "exact" || o.divergence == "hutchinson", "divergence",
          "unknown divergence '" + o.divergence + "' (expected exact or hutchinson)");
  in.hutchinson = o.divergence == "hutchinson";
  if (in.hutchinson) {
    in.probes.probes = o.probes.value_or(1);
    if (o.probe_distribution) {
      try {
        in.probes.distribution = parse_probe_distribution(*o.probe_distribution);
      } catch (const InvalidArgument&) {
        throw InvalidArgument("probe_distribution", "unknown distribution '" + *o.probe_distribution +
                                                        "' (expected rademacher or gaussian)");
      }
    }
    in.probes.seed = o.seed;
    in.probes.validate();
  } else {
    require(!o.probes, "probes", "only used with --divergence hutchinson");
    require(!o.probe_distribution, "probe_distribution", "only used with --divergence hutchinson");
  }

  in.data = read_data(o.data, in.model.features.dim());

  require(!o.out.empty(), "out", "missing (--out logp.npy)");
  in.out = o.out;
  require(in.out.extension() == ".npy" && !in.out.stem().empty(), "out",
          "must name a .npy file, got '" + o.out + "'");
  require(!fs::is_directory(in.out), "out", "'" + o.out + "' is a folder");
  ensure_directory(in.out.has_parent_path() ? in.out.parent_path() : fs::path("."), "out");
  in.sidecar = fs::path(in.out).replace_extension(".json");
  in.out_se = in.out.parent_path() / (in.out.stem().string() + "_se.npy");
  return in;
}

nlohmann::ordered_json options_json(const LikelihoodCommandOptions& o, const Inputs& in, const LikelihoodResult& r,
                                    int threads) {
  nlohmann::ordered_json j;
  j["divergence"] = o.divergence;
  j["method"] = to_string(in.likelihood.ode.method);
  j["rtol"] = in.likelihood.ode.controller.rtol;
  j["atol"] = in.likelihood.ode.controller.atol;
  j["fixed_step"] = in.likelihood.ode.fixed_step;
  j["max_steps"] = in.likelihood.ode.max_steps;
  j["t_min"] = r.t_min;
  j["T"] = r.T;
  if (in.hutchinson) {
    j["probes"] = in.probes.probes;
    j["probe_distribution"] = to_string(in.probes.distribution);
    j["seed"] = in.probes.seed;
  }
  j["threads"] = threads;
  return j;
}

nlohmann::ordered_json summary_json(const Inputs& in, const LikelihoodResult& r) {
  const std::size_t N = r.log_p.size();
  std::size_t failed = 0, max_evaluations = 0, accepted = 0, rejected = 0;
  nlohmann::ordered_json first_failures = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < N; ++i) {
    const TrajectoryStats& s = r.stats[i];
    max_evaluations = std::max(max_evaluations, s.rhs_evaluations);
    accepted += s.accepted;
    rejected += s.rejected;
    if (s.status == TrajectoryStatus::success) continue;
    if (++failed <= 10) {
      first_failures.push_back({{"point", i}, {"status", to_string(s.status)}, {"time", s.failure_time}});
    }
  }
  const auto finite_or_null = [](double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nullptr; };
  nlohmann::ordered_json j;
  j["points"] = N;
  j["dim"] = r.dim;
  j["succeeded"] = N - failed;
  j["failed"] = failed;
  j["mean_log_p"] = finite_or_null(r.mean_log_p());
  j["mean_bits_per_dim"] = finite_or_null(r.mean_bits_per_dim());
  if (in.hutchinson) {
    // Standard error of the mean log p from the probes alone (points differ).
    double ss = 0.0;
    for (std::size_t i = 0; i < N; ++i)
      if (r.stats[i].status == TrajectoryStatus::success) ss += r.log_p_se[i] * r.log_p_se[i];
    j["mean_log_p_probe_se"] = N > failed ? std::sqrt(ss) / static_cast<double>(N - failed) : 0.0;
  }
  j["rhs_evaluations"] = {{"total", r.total_rhs_evaluations},
                          {"mean_per_point", r.mean_evaluations_per_point()},
                          {"max_per_point", max_evaluations}};
  j["steps"] = {{"accepted_per_point", N ? static_cast<double>(accepted) / static_cast<double>(N) : 0.0},
                {"rejected_per_point", N ? static_cast<double>(rejected) / static_cast<double>(N) : 0.0}};
  j["failure_summary"] = r.failure_summary();
  j["first_failures"] = first_failures;
  return j;
}

}  // namespace

std::shared_ptr<LikelihoodCommandOptions> add_likelihood_command(CLI::App& app) {
  auto o = std::make_shared<LikelihoodCommandOptions>();
  CLI::App* c = app.add_subcommand(
      "likelihood", "Study S7: per-point log-likelihoods of a data file under a saved model (probability-flow ODE)");
  c->add_option("--model", o->model, "Saved model folder (e.g. results/s1/model)")->required();
  c->add_option("--data", o->data, "Points, .npy float64: N x d (or N for d = 1)")->required();
  c->add_option("--out", o->out, "Output .npy: N log-likelihoods (NaN where a point failed); <stem>.json beside it")
      ->required();
  c->add_option("--tau-index", o->tau_index, "Which saved training time (0 .. k-1; default: the last)");
  c->add_option("--rtol", o->rtol, "Relative tolerance of the adaptive ODE solver")->capture_default_str();
  c->add_option("--atol", o->atol, "Absolute tolerance of the adaptive ODE solver")->capture_default_str();
  c->add_option("--t-min", o->t_min, "Lower end of the integration interval (default: the model's t_min)");
  c->add_option("--method", o->method, "dopri5 | tsit5 | bosh3 (adaptive), euler | heun | rk4 (with --fixed-step)")
      ->capture_default_str();
  c->add_option("--fixed-step", o->fixed_step, "Constant step (no error control); 0: adaptive")
      ->capture_default_str();
  c->add_option("--max-steps", o->max_steps, "Step attempts per point")->capture_default_str();
  c->add_option("--divergence", o->divergence, "exact (the model's closed form) or hutchinson")
      ->capture_default_str();
  c->add_option("--probes", o->probes, "Hutchinson: probes per point (default 1)");
  c->add_option("--probe-distribution", o->probe_distribution, "Hutchinson: rademacher (default) or gaussian");
  c->add_option("--seed", o->seed, "Hutchinson: seed of the probes")->capture_default_str();
  c->add_option("--threads", o->threads, "Worker threads (default: all cores)")->check(CLI::Range(1, 4096));
  c->add_flag("--quiet", o->quiet, "No progress lines on stderr");
  return o;
}

int likelihood(const LikelihoodCommandOptions& o) {
  require_single_process("likelihood");
  PhaseTimings timings;
  Inputs in;
  {
    PhaseTimings::Scope scope(timings, "read");
    in = read_inputs(o);
  }
  const int threads = o.threads > 0 ? static_cast<int>(o.threads) : tbb::info::default_concurrency();
  const tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                        static_cast<std::size_t>(threads));
  const ScopedBlasThreads single_threaded_blas(1);

  const std::size_t N = in.data.rows(), d = in.data.cols();
  const Matrix& A = in.model.weights[in.tau_index];
  const double tau = in.model.tau[in.tau_index];
  if (!o.quiet) {
    std::fprintf(stderr, "gengap: log-likelihood of %zu points (d = %zu) at tau[%zu] = %.4g, %s divergence\n", N, d,
                 in.tau_index, tau, o.divergence.c_str());
  }

  LikelihoodResult result;
  {
    PhaseTimings::Scope scope(timings, "likelihood");
    const ScoreDivergenceField field = random_feature_score(in.model.features, A, in.model.setup);
    if (in.hutchinson) {
      const ScoreField score = [&field](std::span<const double> t, MatrixView x, std::span<double> s) {
        field(t, x, s, {});
      };
      result = log_likelihood_hutchinson(in.model.setup.schedule, score, in.data, in.likelihood, in.probes);
    } else {
      // relu: the divergence's kinks integrated exactly along each step (random_feature_likelihood.hpp).
      result = log_likelihood_random_features(in.model.setup.schedule, in.model.features, A, in.model.setup, in.data,
                                              in.likelihood);
    }
  }

  nlohmann::ordered_json record;
  record["study"] = "s7_likelihood";
  record["command"] = o.command_line;
  record["model"] = o.model;
  record["data"] = o.data;
  record["output"] = in.out.string();
  if (in.hutchinson) record["output_se"] = in.out_se.string();
  record["tau_index"] = in.tau_index;
  record["tau"] = tau;
  record["options"] = options_json(o, in, result, threads);
  record["summary"] = summary_json(in, result);
  record["environment"] = environment_record();
  {
    PhaseTimings::Scope scope(timings, "write");
    write_npy(in.out, result.log_p);
    if (in.hutchinson) write_npy(in.out_se, result.log_p_se);
  }
  record["timings"] = timings.to_json();
  write_file_atomically(in.sidecar, record.dump(2) + "\n");

  const nlohmann::ordered_json& s = record["summary"];
  const RandomFeatures& rf = in.model.features;
  const Schedule& schedule = in.model.setup.schedule;
  std::printf("gengap likelihood (S7): %zu points, d=%zu; model %s at tau[%zu]=%.4g (m=%zu, %s/%s, %s T=%g); "
              "t_min=%g, %s rtol=%g atol=%g, %s divergence",
              N, d, o.model.c_str(), in.tau_index, tau, rf.num_features(),
              std::string(to_string(rf.activation)).c_str(), std::string(to_string(rf.embedding.kind)).c_str(),
              std::string(to_string(schedule.kind)).c_str(), schedule.T, result.t_min, to_string(in.likelihood.ode.method),
              in.likelihood.ode.controller.rtol, in.likelihood.ode.controller.atol, o.divergence.c_str());
  if (in.hutchinson) {
    std::printf(" (%zu %s probes)", in.probes.probes, std::string(to_string(in.probes.distribution)).c_str());
  }
  std::printf(", %d threads\n", threads);
  // NaN (no point succeeded) prints as "nan" whatever its sign bit.
  const auto shown = [](double v) { return std::isnan(v) ? std::numeric_limits<double>::quiet_NaN() : v; };
  std::printf("  mean log p=%.6g, bits/dim=%.6g (%zu of %zu points)\n", shown(result.mean_log_p()),
              shown(result.mean_bits_per_dim()), s["succeeded"].get<std::size_t>(), N);
  std::printf("  evaluations per point: mean %.1f, max %zu (total %zu)\n", result.mean_evaluations_per_point(),
              s["rhs_evaluations"]["max_per_point"].get<std::size_t>(), result.total_rhs_evaluations);
  std::printf("  time: %.2f s (read %.2f s, likelihood %.2f s, write %.2f s)\n", timings.total(),
              timings.seconds("read"), timings.seconds("likelihood"), timings.seconds("write"));
  std::printf("  output: %s, %s\n", in.out.string().c_str(), in.sidecar.string().c_str());
  if (!result.all_succeeded()) {
    std::fprintf(stderr, "gengap: warning: %s (NaN in %s)\n", result.failure_summary().c_str(),
                 in.out.string().c_str());
    return 3;
  }
  return 0;
}

}  // namespace gengap::cli
