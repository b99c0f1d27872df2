// Study S1 (early stopping), the sweeps S2-S5, the smoothing study S6 and
// saved models (generalization/studies/, generalization/io/saved_model.hpp).
// Configs go in as dicts of the same keys as the command line's config files
// (a missing key keeps its default); results come out as dicts of NumPy
// arrays, with the summaries as nested dicts.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings.hpp"
#include "gengap/generalization/io/saved_model.hpp"
#include "gengap/generalization/studies/s1/early_stopping.hpp"
#include "gengap/generalization/studies/smoothing/smoothing_study.hpp"
#include "gengap/generalization/studies/sweep/study.hpp"
#include "interruptible.hpp"
#include "numpy_io.hpp"

namespace gengap::python {
namespace {

nlohmann::json config_json(const py::handle& config) {
  if (config.is_none()) return nlohmann::json::object();
  if (!py::isinstance<py::dict>(config)) throw py::type_error("config: expected a dict (or None for the defaults)");
  return nlohmann::json::parse(python_to_json(config, "config"));
}

py::object to_python(const nlohmann::ordered_json& j) { return json_to_python(j.dump()); }

// Columns of a table of rows (one per setting / row) as arrays.
py::dict table(const std::vector<std::string>& columns, const std::vector<std::vector<double>>& rows) {
  py::dict out;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    std::vector<double> column;
    for (const auto& row : rows) column.push_back(row[c]);
    out[py::str(columns[c])] = to_numpy(std::move(column));
  }
  return out;
}

py::dict density_dict(const DensitySnapshot& s) {
  py::dict d;
  d["index"] = s.index;
  d["tau"] = s.tau;
  d["x"] = to_numpy(std::span<const double>(s.x));
  d["p0"] = to_numpy(std::span<const double>(s.p0));
  d["p_theta"] = to_numpy(std::span<const double>(s.p_theta));
  return d;
}

py::dict early_stopping_dict(const EarlyStoppingResult& r) {
  py::dict out;
  out["config"] = to_python(to_json(r.config));
  out["tau"] = to_numpy(std::span<const double>(r.tau));
  out["loss_train"] = to_numpy(std::span<const double>(r.loss_train));
  out["loss_pop"] = to_numpy(std::span<const double>(r.loss_pop));
  out["gap"] = to_numpy(std::span<const double>(r.gap));
  out["norm_growth"] = to_numpy(std::span<const double>(r.norm_growth));
  std::vector<double> kl_quad, kl_quad_error, kl_ode, kl_ode_se, mass, score_integral, flags;
  for (const KlRow& k : r.kl) {
    kl_quad.push_back(k.quad);
    kl_quad_error.push_back(k.quad_error);
    kl_ode.push_back(k.ode);
    kl_ode_se.push_back(k.ode_se);
    mass.push_back(k.mass);
    score_integral.push_back(k.score_integral);
    flags.push_back(static_cast<double>(k.flags));
  }
  out["kl_quadrature"] = to_numpy(std::move(kl_quad));
  out["kl_quadrature_error"] = to_numpy(std::move(kl_quad_error));
  out["kl_ode"] = to_numpy(std::move(kl_ode));
  out["kl_ode_se"] = to_numpy(std::move(kl_ode_se));
  out["mass"] = to_numpy(std::move(mass));
  out["kl_score_integral"] = to_numpy(std::move(score_integral));
  out["kl_flags"] = to_numpy(std::move(flags));
  out["eigenvalues"] = to_numpy(std::span<const double>(r.eigenvalues));
  out["training_set"] = to_numpy(r.training_set);
  out["features"] = r.features;
  out["initial_weights"] = to_numpy(r.initial_weights);
  out["saved_indices"] = to_numpy_as<std::int64_t>(r.saved_indices);
  out["saved_weights"] = stack(r.saved_weights);
  out["kl_best_weights"] = r.kl_best_weights.empty() ? py::object(py::none()) : py::object(to_numpy(r.kl_best_weights));
  py::list densities;
  for (const DensitySnapshot& s : r.densities) densities.append(density_dict(s));
  out["densities"] = densities;
  out["best_density"] = r.best_density ? py::object(density_dict(*r.best_density)) : py::object(py::none());
  out["summary"] = to_python(r.summary.to_json());
  out["timings"] = to_python(r.timings.to_json());
  return out;
}

}  // namespace

void bind_studies(py::module_& m) {
  m.def(
      "early_stopping_config",
      [](const py::handle& config) {
        const EarlyStoppingConfig c = early_stopping_config_from_json(config_json(config));
        c.validate();
        return to_python(to_json(c));
      },
      py::arg("config") = py::none(),
      "S1's full config (every key, nested groups) with the given keys applied; ValueError naming a bad key.");
  m.def(
      "run_early_stopping",
      [](const py::handle& config) {
        const EarlyStoppingConfig c = early_stopping_config_from_json(config_json(config));
        const EarlyStoppingResult r = run_interruptible([&] { return run_early_stopping(c); });
        return early_stopping_dict(r);
      },
      py::arg("config") = py::none(),
      "Study S1: the exact flow of the random-feature score on a two-mode target; along log-spaced tau the\n"
      "losses L_n, L, their gap, ||A - A0||, KL(p0 || p_theta(tau)) by quadrature and by the likelihood ODE,\n"
      "densities at saved taus; the summary (tau*, min KL, ...). config: S1's keys (see early_stopping_config()).\n"
      "Same numbers as `gengap run` with the same config, bit for bit.");

  m.def(
      "study_config",
      [](const std::string& kind, const py::handle& config) {
        const StudyKind k = parse_study_kind(kind);
        const StudyConfig c = study_config_from_json(k, config_json(config));
        c.validate();
        return to_python(to_json(c));
      },
      py::arg("kind"), py::arg("config") = py::none(),
      "The full config of a sweep (modes-shift | capacity | sample-size | diffusion-time).");
  m.def(
      "run_study",
      [](const std::string& kind, const py::handle& config, bool include_settings) {
        const StudyKind k = parse_study_kind(kind);
        const StudyConfig c = study_config_from_json(k, config_json(config));
        const StudyResult r = run_interruptible([&] { return run_study(c); });
        std::vector<std::vector<double>> rows;
        for (const StudySetting& s : r.settings) rows.push_back(s.summary.row());
        py::dict out;
        out["config"] = to_python(to_json(r.config));
        out["rows"] = table(StudySettingSummary::columns(), rows);
        out["summary"] = to_python(r.summary.to_json());
        out["seconds"] = r.seconds;
        if (include_settings) {
          py::list settings;
          for (const StudySetting& s : r.settings) settings.append(early_stopping_dict(s.result));
          out["settings"] = settings;
        }
        return out;
      },
      py::arg("kind"), py::arg("config") = py::none(), py::kw_only(), py::arg("include_settings") = false,
      "Studies S2-S5: S1 once per value of the swept key; rows (one entry per setting: min KL, tau*, ...),\n"
      "the log-log rate fits (summary['fits']) and, with include_settings, every setting's S1 result.");

  m.def(
      "smoothing_study_config",
      [](const py::handle& config) {
        const SmoothingStudyConfig c = smoothing_study_config_from_json(config_json(config));
        c.validate();
        return to_python(to_json(c));
      },
      py::arg("config") = py::none(), "The smoothing study's (S6) full config.");
  m.def(
      "run_smoothing_study",
      [](const py::handle& config) {
        const SmoothingStudyConfig c = smoothing_study_config_from_json(config_json(config));
        const SmoothingStudyResult r = run_interruptible([&] { return run_smoothing_study(c); });
        std::vector<std::vector<double>> rows;
        py::list labels, samples;
        for (const SmoothingRow& row : r.rows) {
          rows.push_back(row.row());
          labels.append(row.label());
          samples.append(to_numpy(row.samples));
        }
        py::dict out;
        out["config"] = to_python(to_json(r.config));
        out["rows"] = table(SmoothingRow::columns(), rows);
        out["labels"] = labels;
        out["samples"] = samples;
        out["seconds"] = r.seconds;
        return out;
      },
      py::arg("config") = py::none(),
      "Study S6: memorisation and the law of samples along a segment for the empirical, smoothed and\n"
      "trained scores; rows (per score: memorised fraction, histogram distances, likelihoods), samples.");

  m.def(
      "save_model",
      [](const std::string& dir, const RandomFeatures& rf, const DsmSetup& setup, const py::handle& tau,
         const py::handle& weights) {
        SavedModel model{rf, setup, as_vector(tau, "tau"), {}};
        const ArrayView w = as_array(weights, "weights", 3);
        const auto& a = w.array;
        if (static_cast<std::size_t>(a.shape(0)) != model.tau.size() || static_cast<std::size_t>(a.shape(1)) != rf.dim() ||
            static_cast<std::size_t>(a.shape(2)) != rf.num_features()) {
          throw py::value_error("weights: expected shape (len(tau), d, m) = (" + std::to_string(model.tau.size()) + ", " +
                                std::to_string(rf.dim()) + ", " + std::to_string(rf.num_features()) + ")");
        }
        const std::size_t block = rf.dim() * rf.num_features();
        for (std::size_t k = 0; k < model.tau.size(); ++k) {
          model.weights.emplace_back(rf.dim(), rf.num_features(),
                                     std::vector<double>(w.data() + k * block, w.data() + (k + 1) * block));
        }
        save_model(dir, model);
      },
      py::arg("dir"), py::arg("features"), py::arg("setup"), py::arg("tau"), py::arg("weights"),
      "Writes a model folder (model.json + W, U, b, A, tau .npy files, each atomically; the format\n"
      "`gengap run` writes under model/): weights (k, d, m) at the k training times tau.");
  m.def(
      "load_model",
      [](const std::string& dir) {
        const SavedModel model = load_model(dir);
        py::dict out;
        out["features"] = model.features;
        out["setup"] = model.setup;
        out["tau"] = to_numpy(std::span<const double>(model.tau));
        out["weights"] = stack(model.weights);
        return out;
      },
      py::arg("dir"),
      "Reads a model folder (save_model's, or a results folder's model/): a dict of features\n"
      "(RandomFeatures), setup (DsmSetup), tau (k,) and weights (k, d, m).");
}

}  // namespace gengap::python
