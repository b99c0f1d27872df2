// KL divergences and memorisation metrics (generalization/kl.hpp, memorization.hpp).
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "gengap/generalization/kl.hpp"
#include "gengap/generalization/memorization.hpp"
#include "interruptible.hpp"
#include "numpy_io.hpp"

namespace gengap::python {
namespace {

// A Python function x (N,) -> log p (N,) as the library's batched 1-d density.
LogDensity1d python_log_density(const py::object& fn, const char* name) {
  if (!PyCallable_Check(fn.ptr())) throw py::type_error(std::string(name) + ": expected a callable x -> log p(x)");
  auto held = std::shared_ptr<py::object>(new py::object(fn), [](py::object* p) {
    py::gil_scoped_acquire gil;
    delete p;
  });
  const std::string what = std::string(name) + " (returned values)";
  return [held, what](std::span<const double> x, std::span<double> log_p) {
    py::gil_scoped_acquire gil;
    py::array_t<double> xa(static_cast<py::ssize_t>(x.size()));
    std::copy(x.begin(), x.end(), xa.mutable_data());
    const ArrayView out = as_array((*held)(xa), what.c_str(), 1, /*allow_non_finite=*/true);
    if (out.size() != x.size()) {
      throw py::value_error(what + ": expected " + std::to_string(x.size()) + " values, got " +
                            std::to_string(out.size()));
    }
    std::copy(out.data(), out.data() + out.size(), log_p.begin());
  };
}

}  // namespace

void bind_metrics(py::module_& m) {
  m.def(
      "kl_monte_carlo",
      [](const py::handle& log_p0, const py::handle& log_p_theta) {
        const std::vector<double> a = as_vector(log_p0, "log_p0");
        const ArrayView b = as_array(log_p_theta, "log_p_theta", 1, /*allow_non_finite=*/true);
        const MonteCarloKl r = kl_monte_carlo(a, b.flat());
        py::dict d;
        d["kl"] = r.kl;
        d["standard_error"] = r.standard_error;
        d["used"] = r.used;
        d["failed"] = r.failed;
        return d;
      },
      py::arg("log_p0"), py::arg("log_p_theta"),
      "KL(p0 || p_theta) ~ mean_i(log p0(x_i) - log p_theta(x_i)) over x_i ~ p0, SE = sd/sqrt(n); points\n"
      "with a non-finite log p_theta are left out and counted in 'failed'.");

  m.def(
      "kl_quadrature",
      [](const py::object& log_p0, const py::object& log_p_theta, double lower, double upper,
         std::size_t initial_nodes, std::size_t max_nodes, double tolerance, double relative_tolerance,
         std::size_t max_extensions) {
        KlQuadratureOptions o;
        o.lower = lower;
        o.upper = upper;
        o.initial_nodes = initial_nodes;
        o.max_nodes = max_nodes;
        o.tolerance = tolerance;
        o.relative_tolerance = relative_tolerance;
        o.max_extensions = max_extensions;
        const LogDensity1d p0 = python_log_density(log_p0, "log_p0"), pt = python_log_density(log_p_theta, "log_p_theta");
        KlQuadratureResult r = run_interruptible([&] { return kl_quadrature(p0, pt, o); });
        py::dict d;
        d["kl"] = r.kl;
        d["kl_error"] = r.kl_error;
        d["mass"] = r.mass;
        d["mass_error"] = r.mass_error;
        d["lower"] = r.lower;
        d["upper"] = r.upper;
        d["converged"] = r.converged;
        d["window_complete"] = r.window_complete;
        d["rounds"] = r.rounds;
        d["failed_nodes"] = r.failed_nodes;
        d["x"] = to_numpy(std::move(r.x));
        d["log_p0"] = to_numpy(std::move(r.log_p0));
        d["log_p_theta"] = to_numpy(std::move(r.log_p_theta));
        return d;
      },
      py::arg("log_p0"), py::arg("log_p_theta"), py::kw_only(), py::arg("lower") = -10.0, py::arg("upper") = 10.0,
      py::arg("initial_nodes") = 129, py::arg("max_nodes") = 4097, py::arg("tolerance") = 1e-4,
      py::arg("relative_tolerance") = 0.0, py::arg("max_extensions") = 10,
      "KL = int p0 (log p0 - log p_theta) dx and mass = int p_theta dx in d = 1 by adaptive composite\n"
      "Simpson with window extension; log_p0 and log_p_theta are callables x (N,) -> log p (N,), called\n"
      "once per refinement round with all new nodes.");

  m.def(
      "nearest_training_points",
      [](const py::handle& samples, const py::handle& training) {
        const MatrixArg S = as_matrix(samples, "samples"), X = as_matrix(training, "training", S.cols);
        NearestTrainingPoints r = run_interruptible([&] { return nearest_training_points(S.matrix(), X.matrix()); });
        py::dict d;
        d["nearest"] = to_numpy(std::move(r.nearest));
        d["second_nearest"] = to_numpy(std::move(r.second_nearest));
        d["nearest_index"] = to_numpy_as<std::int64_t>(r.nearest_index);
        return d;
      },
      py::arg("samples"), py::arg("training"),
      "Per sample: distances d1 <= d2 to its nearest and second-nearest training points and the nearest's index.");

  m.def(
      "memorization",
      [](const py::handle& samples, const py::handle& training, double ratio_threshold) {
        const MatrixArg S = as_matrix(samples, "samples"), X = as_matrix(training, "training", S.cols);
        const MemorizationReport r = run_interruptible(
            [&] { return memorization(nearest_training_points(S.matrix(), X.matrix()), ratio_threshold); });
        return json_to_python(r.to_json().dump());
      },
      py::arg("samples"), py::arg("training"), py::arg("ratio_threshold") = 1.0 / 3.0,
      "The memorised fraction: samples with d1/d2 < ratio_threshold (1/3), with the medians of d1 and d1/d2.");

  m.def(
      "segment_histogram",
      [](const py::handle& samples, const py::handle& a, const py::handle& b, std::size_t bins) {
        const MatrixArg S = as_matrix(samples, "samples");
        const std::vector<double> av = as_vector(a, "a", S.cols), bv = as_vector(b, "b", S.cols);
        const SegmentHistogram h = segment_histogram(S.matrix(), av, bv, bins);
        py::dict d = json_to_python(h.to_json().dump());
        d["edges"] = to_numpy(std::vector<double>(h.edges));
        d["density"] = to_numpy(std::vector<double>(h.density));
        return d;
      },
      py::arg("samples"), py::arg("a"), py::arg("b"), py::arg("bins") = 20,
      "Where samples lie along the segment a -> b: u = (x - a).(b - a)/|b - a|^2, its density histogram on\n"
      "[0, 1], the fraction outside, the distance off the line, TV and KS distances to the uniform law.");
}

}  // namespace gengap::python
