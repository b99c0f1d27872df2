// ScoreModel and the library's score fields (solvers/score_field.hpp), and
// the streaming empirical score kernel (kernels/empirical_score.hpp).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "bindings.hpp"
#include "gengap/kernels/empirical_score.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/solvers/score_field.hpp"
#include "gengap/solvers/smoothed_score.hpp"
#include "interruptible.hpp"
#include "numpy_io.hpp"
#include "score_argument.hpp"

namespace gengap::python {

void bind_scores(py::module_& m) {
  py::class_<ScoreModel>(m, "ScoreModel",
                         "A library score field s(x, t) with its exact divergence div_x s, for the samplers and\n"
                         "the likelihood (which also accept any Python callable f(x, t) -> score).\n"
                         "Calling it evaluates (score (N, d), divergence (N,)) at x (N, d) and t (float or (N,)).")
      .def_readonly("dim", &ScoreModel::dim)
      .def_readonly("description", &ScoreModel::description)
      .def(
          "__call__",
          [](const ScoreModel& s, const py::handle& x, const py::handle& t) {
            const MatrixArg X = as_matrix(x, "x", s.dim);
            const std::vector<double> times = as_times(t, "t", X.rows);
            Matrix score(X.rows, X.cols);
            std::vector<double> divergence(X.rows);
            run_interruptible([&] { s.field(times, X.matrix(), score.flat(), divergence); });
            return py::make_tuple(to_numpy(std::move(score)), to_numpy(std::move(divergence)));
          },
          py::arg("x"), py::arg("t"))
      .def("__repr__", [](const ScoreModel& s) { return "<gengap.ScoreModel " + s.description + ">"; });

  m.def(
      "random_feature_score",
      [](const RandomFeatures& rf, const py::handle& A, const DsmSetup& setup) {
        const Matrix weights = as_matrix(A, "A", rf.num_features(), false).copy();
        return ScoreModel{random_feature_score(rf, weights, setup), rf.dim(),
                          "random features m=" + std::to_string(rf.num_features())};
      },
      py::arg("features"), py::arg("A"), py::arg("setup"),
      "s_A(x, t) = c(t)/m A act(W x + U e(t) + b) with div = c(t)/m sum_j act'(z_j) (a_j . w_j); A (d, m).\n"
      "Each row's result is bitwise independent of the batch and the thread count.");
  m.def(
      "mixture_score",
      [](const GaussianMixture& target, const Schedule& schedule) {
        return ScoreModel{mixture_score(target, schedule), target.dim(), "exact mixture score"};
      },
      py::arg("mixture"), py::arg("schedule"),
      "The exact score of the mixture diffused to time t (each row at its own t), analytic divergence.");
  m.def(
      "empirical_score",
      [](const py::handle& training, const Schedule& schedule) {
        const MatrixArg X = as_matrix(training, "training");
        auto empirical = std::make_shared<const EmpiricalScore>(X.matrix());
        return ScoreModel{empirical_score_field(empirical, schedule), X.cols,
                          "empirical score n=" + std::to_string(X.rows)};
      },
      py::arg("training"), py::arg("schedule"),
      "s_n(x, t) = grad log p_t^n(x), p_t^n = 1/n sum_i N(mu_t x_i, sigma_t^2 I) (the DSM optimum on the\n"
      "training set (n, d)), with the exact divergence Var_w / sigma^4 - d / sigma^2; log-sum-exp streaming.");
  m.def(
      "smoothed_score",
      [](const py::handle& training, const Schedule& schedule, double delta, const std::string& kernel,
         const py::handle& direction, std::size_t nodes, std::size_t panels, std::size_t hermite_nodes,
         bool closed_form) {
        const MatrixArg X = as_matrix(training, "training");
        SmoothingOptions options;
        options.kernel = parse_smoothing_kernel(kernel);
        options.delta = delta;
        if (!direction.is_none()) options.direction = as_vector(direction, "direction", X.cols);
        options.nodes = nodes;
        options.panels = panels;
        options.hermite_nodes = hermite_nodes;
        options.closed_form = closed_form;
        auto smoothed = std::make_shared<const SmoothedScore>(std::make_shared<const EmpiricalScore>(X.matrix()), options);
        return ScoreModel{smoothed_score_field(smoothed, schedule), X.cols,
                          "smoothed empirical score delta=" + py::repr(py::float_(delta)).cast<std::string>()};
      },
      py::arg("training"), py::arg("schedule"), py::arg("delta"), py::kw_only(), py::arg("kernel") = "box",
      py::arg("direction") = py::none(), py::arg("nodes") = 16, py::arg("panels") = 8, py::arg("hermite_nodes") = 64,
      py::arg("closed_form") = true,
      "s_delta(x, t) = E_u[s_n(x + u, t)], u from a box of half-width delta ('box') or N(0, delta^2)\n"
      "('gaussian'), along `direction` (d,) or per coordinate (None); its divergence is the average of\n"
      "div s_n. The box along the data's line is exact (two evaluations); otherwise quadrature.");

  py::class_<EmpiricalScore, std::shared_ptr<EmpiricalScore>>(
      m, "EmpiricalScore",
      "The empirical score kernel: training points (n, d) packed once; evaluate(x, mu_t, sigma_t) gives\n"
      "grad log, log and Laplacian of log of p(x) = 1/n sum_i N(x; mu_t x_i, sigma_t^2 I).")
      .def(py::init([](const py::handle& training) {
             return std::make_shared<EmpiricalScore>(as_matrix(training, "training").matrix());
           }),
           py::arg("training"))
      .def_property_readonly("dim", &EmpiricalScore::dim)
      .def_property_readonly("size", &EmpiricalScore::size)
      .def(
          "evaluate",
          [](const EmpiricalScore& e, const py::handle& x, const py::handle& mu_t, const py::handle& sigma_t) {
            const MatrixArg X = as_matrix(x, "x", e.dim());
            const std::vector<double> mu = as_times(mu_t, "mu_t", X.rows), sigma = as_times(sigma_t, "sigma_t", X.rows);
            Matrix score(X.rows, X.cols);
            std::vector<double> log_p(X.rows), div(X.rows);
            run_interruptible([&] { e.evaluate(X.matrix(), mu, sigma, score.flat(), log_p, div); });
            return py::make_tuple(to_numpy(std::move(score)), to_numpy(std::move(log_p)), to_numpy(std::move(div)));
          },
          py::arg("x"), py::arg("mu_t"), py::arg("sigma_t"),
          "(score (N, d), log_density (N,), divergence (N,)); mu_t, sigma_t floats or (N,).");
}

}  // namespace gengap::python
