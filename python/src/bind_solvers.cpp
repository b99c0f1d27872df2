// The likelihood (probability-flow ODE with the instantaneous change of
// variables) and the samplers (reverse SDE, predictor-corrector, probability
// flow): solvers/likelihood.hpp, random_feature_likelihood.hpp, sde/.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/random_feature_likelihood.hpp"
#include "gengap/solvers/sde/predictor_corrector.hpp"
#include "gengap/solvers/sde/probability_flow_sampler.hpp"
#include "gengap/solvers/sde/reverse_sde.hpp"
#include "interruptible.hpp"
#include "numpy_io.hpp"
#include "score_argument.hpp"

namespace gengap::python {
namespace {

// The ODE driver's options from keyword arguments; unset ones keep `base`.
// A Python callable is called once per chunk: its default chunk is every row
// (one call per stage for the whole batch) with per-trajectory steps.
IntegrateOptions ode_options(IntegrateOptions base, const py::dict& kw, bool from_python, std::size_t rows) {
  if (from_python) {
    base.chunk = std::max<std::size_t>(rows, 1);
    base.sharing = StepSharing::per_trajectory;
  }
  for (const auto& [key_handle, value] : kw) {
    const std::string key = py::str(key_handle);
    if (key == "method") base.method = parse_rk_method(value.cast<std::string>());
    else if (key == "rtol") base.controller.rtol = value.cast<double>();
    else if (key == "atol") base.controller.atol = value.cast<double>();
    else if (key == "safety") base.controller.safety = value.cast<double>();
    else if (key == "fixed_step") base.fixed_step = value.cast<double>();
    else if (key == "initial_step") base.initial_step = value.cast<double>();
    else if (key == "max_step") base.max_step = value.cast<double>();
    else if (key == "max_steps") base.max_steps = value.cast<std::size_t>();
    else if (key == "chunk") base.chunk = value.cast<std::size_t>();
    else if (key == "sharing") base.sharing = parse_step_sharing(value.cast<std::string>());
    else throw py::type_error("unexpected keyword argument '" + key + "' (ODE options: method, rtol, atol, safety, "
                              "fixed_step, initial_step, max_step, max_steps, chunk, sharing)");
  }
  return base;
}

// Per-trajectory statistics as arrays.
void add_stats(py::dict& out, const std::vector<TrajectoryStats>& stats) {
  std::vector<std::size_t> evaluations, accepted, rejected;
  std::vector<std::string> status;
  std::vector<double> failure_time;
  for (const auto& s : stats) {
    evaluations.push_back(s.rhs_evaluations);
    accepted.push_back(s.accepted);
    rejected.push_back(s.rejected);
    status.emplace_back(to_string(s.status));
    failure_time.push_back(s.status == TrajectoryStatus::success ? std::numeric_limits<double>::quiet_NaN()
                                                                 : s.failure_time);
  }
  out["evaluations"] = to_numpy_as<std::int64_t>(evaluations);
  out["accepted_steps"] = to_numpy_as<std::int64_t>(accepted);
  out["rejected_steps"] = to_numpy_as<std::int64_t>(rejected);
  out["status"] = py::array(py::cast(status));
  out["failure_time"] = to_numpy(std::move(failure_time));
  out["all_succeeded"] = all_succeeded(stats);
  out["failure_summary"] = failure_summary(stats);
}

py::dict likelihood_dict(LikelihoodResult&& r) {
  py::dict out;
  std::vector<double> bpd(r.log_p.size());
  for (std::size_t i = 0; i < bpd.size(); ++i) bpd[i] = r.bits_per_dim(i);
  out["log_p"] = to_numpy(std::move(r.log_p));
  out["log_p_se"] = to_numpy(std::move(r.log_p_se));
  out["bits_per_dim"] = to_numpy(std::move(bpd));
  out["log_prior"] = to_numpy(std::move(r.log_prior));
  out["delta_log_p"] = to_numpy(std::move(r.delta_log_p));
  out["latent"] = to_numpy(std::move(r.latent));
  out["t_min"] = r.t_min;
  out["T"] = r.T;
  out["total_evaluations"] = r.total_rhs_evaluations;
  add_stats(out, r.stats);
  return out;
}

py::dict sample_dict(SampleResult&& r) {
  py::dict out;
  out["samples"] = to_numpy(std::move(r.samples));
  out["total_evaluations"] = r.total_score_evaluations;
  add_stats(out, r.stats);
  return out;
}

}  // namespace

void bind_solvers(py::module_& m) {
  m.def(
      "log_likelihood",
      [](const py::handle& score, const py::handle& data, const Schedule& schedule, const std::string& divergence,
         std::optional<double> t_min, std::size_t probes, const std::string& probe_distribution,
         std::uint64_t seed, double difference_step, const py::kwargs& kw) {
        const MatrixArg X = as_matrix(data, "data");
        if (divergence != "exact" && divergence != "hutchinson" && divergence != "auto") {
          throw py::value_error("divergence: expected auto|exact|hutchinson, got '" + divergence + "'");
        }
        const bool is_model = py::isinstance<ScoreModel>(score);
        const bool exact = divergence == "exact" || (divergence == "auto" && is_model);
        const ScoreArgument s = as_score(score, X.cols, exact && !is_model);
        LikelihoodOptions options;
        options.t_min = t_min;
        options.ode = ode_options(likelihood_ode_defaults(), kw, s.from_python, X.rows);
        const Matrix points = X.copy();
        if (exact) {
          return likelihood_dict(run_interruptible([&] { return log_likelihood(schedule, s.exact, points, options); }));
        }
        HutchinsonOptions h;
        h.probes = probes;
        h.distribution = parse_probe_distribution(probe_distribution);
        h.seed = seed;
        h.difference_step = difference_step;
        return likelihood_dict(
            run_interruptible([&] { return log_likelihood_hutchinson(schedule, s.score, points, options, h); }));
      },
      py::arg("score"), py::arg("data"), py::arg("schedule"), py::kw_only(), py::arg("divergence") = "auto",
      py::arg("t_min") = py::none(), py::arg("probes") = 1, py::arg("probe_distribution") = "rademacher",
      py::arg("seed") = 0, py::arg("difference_step") = 0.0,
      "log p_{t_min}(x_i) = log pi(x_i(T)) + int_{t_min}^T div_x v dt along the probability-flow ODE\n"
      "dx/dt = v = f(t) x - 1/2 g(t)^2 s(x, t), for the rows of data (N, d).\n"
      "score: a ScoreModel (exact divergence) or a callable f(x (N, d), t (N,)) -> score (N, d), whose\n"
      "divergence is Hutchinson's estimator with `probes` probes fixed along each path (FFJORD; central\n"
      "differences), or, with divergence='exact', a callable returning (score, divergence).\n"
      "ODE options as keywords: method (dopri5 | tsit5 | bosh3 | euler | heun | rk4), rtol, atol (1e-5),\n"
      "fixed_step, max_steps, chunk, sharing (per_chunk | per_trajectory), initial_step, max_step, safety.\n"
      "Returns a dict: log_p, log_p_se (Hutchinson's SE over probes), bits_per_dim, log_prior, delta_log_p,\n"
      "latent x(T), per-point evaluations / steps / status (a failed point has log_p NaN).");

  m.def(
      "log_likelihood_random_features",
      [](const RandomFeatures& rf, const py::handle& A, const DsmSetup& setup, const py::handle& data,
         std::optional<double> t_min, const py::kwargs& kw) {
        const MatrixArg X = as_matrix(data, "data", rf.dim());
        const Matrix weights = as_matrix(A, "A", rf.num_features(), false).copy();
        LikelihoodOptions options;
        options.t_min = t_min;
        options.ode = ode_options(likelihood_ode_defaults(), kw, false, X.rows);
        const Matrix points = X.copy();
        return likelihood_dict(run_interruptible([&] {
          return log_likelihood_random_features(setup.schedule, rf, weights, setup, points, options);
        }));
      },
      py::arg("features"), py::arg("A"), py::arg("setup"), py::arg("data"), py::kw_only(), py::arg("t_min") = py::none(),
      "The random-feature model's log-likelihood with its exact divergence; for relu the divergence's\n"
      "jumps at the kinks are integrated exactly along each accepted step (so rtol/atol bound x alone).\n"
      "Same ODE keywords and result as log_likelihood.");

  m.def(
      "sample_reverse_sde",
      [](const py::handle& score, std::size_t n, std::size_t d, const Schedule& schedule, const std::string& method,
         std::size_t steps, double rtol, double atol, double safety, std::size_t max_steps, std::uint64_t seed,
         bool denoise_last_step, std::optional<std::size_t> chunk) {
        const ScoreArgument s = as_score(score, d, false);
        ReverseSdeOptions o;
        o.method = parse_reverse_sde_method(method);
        o.steps = steps;
        o.rtol = rtol;
        o.atol = atol;
        o.safety = safety;
        o.max_steps = max_steps;
        o.seed = seed;
        o.denoise_last_step = denoise_last_step;
        o.chunk = chunk.value_or(s.from_python ? std::max<std::size_t>(n, 1) : o.chunk);
        return sample_dict(run_interruptible([&] { return sample_reverse_sde(schedule, s.score, n, d, o); }));
      },
      py::arg("score"), py::arg("n"), py::arg("d"), py::arg("schedule"), py::kw_only(),
      py::arg("method") = "euler_maruyama", py::arg("steps") = 1000, py::arg("rtol") = 1e-2, py::arg("atol") = 1e-2,
      py::arg("safety") = 0.9, py::arg("max_steps") = 100000, py::arg("seed") = 0, py::arg("denoise_last_step") = true,
      py::arg("chunk") = py::none(),
      "n samples of the reverse SDE dx = [f x - g^2 s] dt + g dW from x_T ~ pi down to t_min:\n"
      "euler_maruyama | stochastic_heun (fixed `steps`) | adaptive (Gotta Go Fast, rtol/atol, RSwM1 rejections).\n"
      "Returns a dict: samples (n, d), per-trajectory evaluations / steps / status.");

  m.def(
      "sample_predictor_corrector",
      [](const py::handle& score, std::size_t n, std::size_t d, const Schedule& schedule, const std::string& predictor,
         std::size_t steps, std::size_t corrector_steps, double snr, std::uint64_t seed, bool denoise_last_step,
         std::optional<std::size_t> chunk) {
        const ScoreArgument s = as_score(score, d, false);
        PredictorCorrectorOptions o;
        o.predictor = parse_predictor(predictor);
        o.steps = steps;
        o.corrector_steps = corrector_steps;
        o.snr = snr;
        o.seed = seed;
        o.denoise_last_step = denoise_last_step;
        o.chunk = chunk.value_or(s.from_python ? std::max<std::size_t>(n, 1) : o.chunk);
        return sample_dict(run_interruptible([&] { return sample_predictor_corrector(schedule, s.score, n, d, o); }));
      },
      py::arg("score"), py::arg("n"), py::arg("d"), py::arg("schedule"), py::kw_only(),
      py::arg("predictor") = "reverse_diffusion", py::arg("steps") = 1000, py::arg("corrector_steps") = 1,
      py::arg("snr") = 0.16, py::arg("seed") = 0, py::arg("denoise_last_step") = true, py::arg("chunk") = py::none(),
      "Song et al.'s predictor-corrector sampler: `corrector_steps` Langevin steps (signal-to-noise snr)\n"
      "before each predictor step (reverse_diffusion | euler_maruyama).");

  m.def(
      "sample_probability_flow",
      [](const py::handle& score, std::size_t n, std::size_t d, const Schedule& schedule, const py::handle& latents,
         std::uint64_t seed, const py::kwargs& kw) {
        const ScoreArgument s = as_score(score, d, false);
        ProbabilityFlowSamplingOptions o;
        o.seed = seed;
        o.ode = ode_options(probability_flow_ode_defaults(), kw, s.from_python, n);
        if (latents.is_none()) {
          return sample_dict(run_interruptible([&] { return sample_probability_flow(schedule, s.score, n, d, o); }));
        }
        const Matrix x_T = as_matrix(latents, "latents", d).copy();
        return sample_dict(run_interruptible([&] { return sample_probability_flow(schedule, s.score, x_T, o); }));
      },
      py::arg("score"), py::arg("n"), py::arg("d"), py::arg("schedule"), py::kw_only(), py::arg("latents") = py::none(),
      py::arg("seed") = 0,
      "Samples by the probability-flow ODE dx/dt = f x - 1/2 g^2 s from x_T ~ pi (or the given latents\n"
      "(N, d)) down to t_min; ODE keywords as log_likelihood (dopri5, rtol = atol = 1e-5).");

  m.def(
      "prior_sample",
      [](const Schedule& schedule, std::size_t n, std::size_t d, std::uint64_t seed) {
        return to_numpy(prior_sample(schedule, n, d, seed));
      },
      py::arg("schedule"), py::arg("n"), py::arg("d"), py::arg("seed") = 0,
      "x_T ~ pi, the draw every sampler starts from for this seed: (n, d).");
}

}  // namespace gengap::python
