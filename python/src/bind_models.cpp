// Schedules and the DSM setup, Gaussian mixtures, time embeddings and random
// features: the model's ingredients (kernels/ and solvers/schedule.hpp).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings.hpp"
#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/kernels/time_embedding.hpp"
#include "gengap/solvers/schedule.hpp"
#include "interruptible.hpp"
#include "numpy_io.hpp"

namespace gengap::python {
namespace {

Schedule make_schedule(const std::string& kind, std::optional<double> T, std::optional<double> t_min,
                       std::optional<double> beta_min, std::optional<double> beta_max,
                       std::optional<double> sigma_max) {
  Schedule s = default_schedule(parse_schedule(kind));
  if (T) s.T = *T;
  if (t_min) s.t_min = *t_min;
  if (beta_min) s.beta_min = *beta_min;
  if (beta_max) s.beta_max = *beta_max;
  if (sigma_max) s.sigma_max = *sigma_max;
  s.validate();
  return s;
}

GaussianMixture make_mixture(const py::handle& weights, const py::handle& means, const py::handle& covariances) {
  const std::vector<double> w = as_vector(weights, "weights");
  const MatrixArg mu = as_matrix(means, "means", 0, false);
  const ArrayView cov = as_array(covariances, "covariances", 3);
  const auto& c = cov.array;
  if (static_cast<std::size_t>(c.shape(0)) != mu.rows || static_cast<std::size_t>(c.shape(1)) != mu.cols ||
      static_cast<std::size_t>(c.shape(2)) != mu.cols) {
    throw py::value_error("covariances: expected shape (K, d, d) = (" + std::to_string(mu.rows) + ", " +
                          std::to_string(mu.cols) + ", " + std::to_string(mu.cols) + ")");
  }
  std::vector<Matrix> covs;
  const std::size_t dd = mu.cols * mu.cols;
  for (std::size_t k = 0; k < mu.rows; ++k) {
    covs.emplace_back(mu.cols, mu.cols, std::vector<double>(cov.data() + k * dd, cov.data() + (k + 1) * dd));
  }
  return GaussianMixture(w, mu.copy(), std::move(covs));
}

py::array_t<double> stacked_covariances(const GaussianMixture& g) {
  std::vector<Matrix> covs;
  for (std::size_t k = 0; k < g.components(); ++k) covs.push_back(g.covariance(k));
  return stack(covs);
}

}  // namespace

void bind_models(py::module_& m) {
  py::class_<Schedule>(m, "Schedule",
                       "Forward SDE dx = f(t) x dt + g(t) dW with x_t | x_0 ~ N(mu_t x_0, sigma_t^2 I):\n"
                       "  ou: f = -1, g = sqrt 2, mu_t = e^-t, sigma_t^2 = 1 - e^-2t, prior N(0, I)\n"
                       "  vp: f = -beta/2, g = sqrt beta, beta(t) = beta_min + t (beta_max - beta_min)\n"
                       "  ve: f = 0, g = sigma_max^t, sigma_t^2 = (sigma_max^2t - 1)/(2 ln sigma_max), prior N(0, sigma_T^2 I)\n"
                       "Unset fields take the kind's defaults (ou: T = 5, t_min = 1e-3; vp: T = 1; ve: T = 1,\n"
                       "t_min = 1e-5, sigma_max = 25). The time methods take a float or an array of times.")
      .def(py::init(&make_schedule), py::arg("kind") = "ou", py::kw_only(), py::arg("T") = py::none(),
           py::arg("t_min") = py::none(), py::arg("beta_min") = py::none(), py::arg("beta_max") = py::none(),
           py::arg("sigma_max") = py::none())
      .def_property_readonly("kind", [](const Schedule& s) { return std::string(to_string(s.kind)); })
      .def_readwrite("T", &Schedule::T)
      .def_readwrite("t_min", &Schedule::t_min)
      .def_readwrite("beta_min", &Schedule::beta_min)
      .def_readwrite("beta_max", &Schedule::beta_max)
      .def_readwrite("sigma_max", &Schedule::sigma_max)
      .def("validate", &Schedule::validate, "ValueError naming the field if the schedule is inconsistent.")
      .def("mean_scale", py::vectorize(&Schedule::mean_scale), py::arg("t"), "mu_t")
      .def("variance", py::vectorize(&Schedule::variance), py::arg("t"), "sigma_t^2 (expm1: accurate as t -> 0)")
      .def("std_dev", py::vectorize(&Schedule::std_dev), py::arg("t"), "sigma_t")
      .def("drift", py::vectorize(&Schedule::drift), py::arg("t"), "f(t)")
      .def("diffusion_squared", py::vectorize(&Schedule::diffusion_squared), py::arg("t"), "g(t)^2")
      .def("prior_variance", &Schedule::prior_variance, "The prior's variance per coordinate.")
      .def(
          "log_prior",
          [](const Schedule& s, const py::handle& x) {
            const MatrixArg X = as_matrix(x, "x");
            std::vector<double> out(X.rows);
            for (std::size_t i = 0; i < X.rows; ++i) out[i] = s.log_prior({X.matrix().row(i), X.cols});
            return to_numpy(std::move(out));
          },
          py::arg("x"), "log pi(x_i) for the rows of x (N, d): -|x|^2/(2v) - d/2 log(2 pi v).")
      .def("__repr__", [](const Schedule& s) {
        return "Schedule('" + std::string(to_string(s.kind)) + "', T=" + py::repr(py::float_(s.T)).cast<std::string>() +
               ", t_min=" + py::repr(py::float_(s.t_min)).cast<std::string>() + ")";
      });

  py::class_<DsmSetup>(m, "DsmSetup",
                       "Everything about the DSM loss that is not the model: the schedule, the weighting\n"
                       "lambda(t) ('sigma2' = sigma_t^2, 'likelihood' = g(t)^2, 'none' = 1) and the output\n"
                       "scale c(t) ('one', 'inv_sigma' = 1/sigma_t, or 'denoiser': s = (mu_t D - x)/sigma_t^2 with\n"
                       "D = A phi/m, i.e. c = mu_t/sigma_t^2 plus the skip term -x/sigma_t^2).")
      .def(py::init([](const Schedule& schedule, const std::string& weighting, const std::string& output_scale) {
             DsmSetup s{schedule, parse_weighting(weighting), parse_output_scale(output_scale)};
             s.validate();
             return s;
           }),
           py::arg("schedule") = default_schedule(ScheduleKind::ou), py::arg("weighting") = "sigma2",
           py::arg("output_scale") = "one")
      .def_readwrite("schedule", &DsmSetup::schedule)
      .def_property_readonly("weighting", [](const DsmSetup& s) { return std::string(to_string(s.weighting)); })
      .def_property_readonly("output_scale", [](const DsmSetup& s) { return std::string(to_string(s.output_scale)); })
      .def("lambda_", py::vectorize(&DsmSetup::lambda), py::arg("t"), "lambda(t), the weighting")
      .def("c", py::vectorize(&DsmSetup::c), py::arg("t"), "c(t), the output scale")
      .def(
          "loss_constant",
          [](const DsmSetup& s, std::size_t d, std::optional<double> x0_squared_norm) {
            return x0_squared_norm ? s.loss_constant(d, *x0_squared_norm) : s.loss_constant(d);
          },
          py::arg("d"), py::arg("x0_squared_norm") = py::none(),
          "L_0, the loss's A-independent constant: d/2 E_t[lambda(t)/sigma_t^2] (noise targets), or\n"
          "|x_0|^2/2 E_t[w] for the denoiser (x0_squared_norm required).");

  py::class_<GaussianMixture>(m, "GaussianMixture",
                              "p(x) = sum_k pi_k N(x; m_k, S_k) in any dimension (log-sum-exp throughout).\n"
                              "weights (K,), means (K, d), covariances (K, d, d) symmetric positive definite.")
      .def(py::init(&make_mixture), py::arg("weights"), py::arg("means"), py::arg("covariances"))
      .def_static(
          "diagonal",
          [](const py::handle& weights, const py::handle& means, const py::handle& variances) {
            const MatrixArg mu = as_matrix(means, "means", 0, false);
            return GaussianMixture::diagonal(as_vector(weights, "weights"), mu.copy(),
                                             as_matrix(variances, "variances", mu.cols, false).copy());
          },
          py::arg("weights"), py::arg("means"), py::arg("variances"), "Diagonal covariances: variances (K, d) > 0.")
      .def_static("two_modes", &GaussianMixture::two_modes, py::arg("mu"), py::arg("variance") = 1.0,
                  "The paper's target in d = 1: 1/2 N(-mu, variance) + 1/2 N(mu, variance).")
      .def_property_readonly("dim", &GaussianMixture::dim)
      .def_property_readonly("components", &GaussianMixture::components)
      .def_property_readonly("weights", [](const GaussianMixture& g) { return to_numpy(std::vector<double>(g.weights())); })
      .def_property_readonly("means", [](const GaussianMixture& g) { return to_numpy(g.means()); })
      .def_property_readonly("covariances", &stacked_covariances)
      .def(
          "sample",
          [](const GaussianMixture& g, std::size_t n, std::uint64_t seed, std::uint64_t stream) {
            return to_numpy(g.sample(n, seed, stream));
          },
          py::arg("n"), py::arg("seed") = 0, py::arg("stream") = 0,
          "n samples (n, d); counter-based: row i depends on (seed, stream, i) only.")
      .def(
          "log_density",
          [](const GaussianMixture& g, const py::handle& x) {
            const MatrixArg X = as_matrix(x, "x", g.dim());
            return to_numpy(g.log_density(X.matrix()));
          },
          py::arg("x"), "log p(x_i) for the rows of x (N, d).")
      .def(
          "score",
          [](const GaussianMixture& g, const py::handle& x) {
            const MatrixArg X = as_matrix(x, "x", g.dim());
            return to_numpy(g.score(X.matrix()));
          },
          py::arg("x"), "grad log p(x_i), (N, d).")
      .def(
          "score_divergence",
          [](const GaussianMixture& g, const py::handle& x) {
            const MatrixArg X = as_matrix(x, "x", g.dim());
            std::vector<double> out(X.rows);
            g.score_divergence(X.matrix(), out);
            return to_numpy(std::move(out));
          },
          py::arg("x"), "Laplacian of log p at the rows of x, (N,).")
      .def("diffused", &GaussianMixture::diffused, py::arg("mu_t"), py::arg("sigma_t"),
           "The law of mu_t x_0 + sigma_t eps: components N(mu_t m_k, mu_t^2 S_k + sigma_t^2 I).")
      .def(
          "diffused_evaluate",
          [](const GaussianMixture& g, const py::handle& x, const py::handle& mu_t, const py::handle& sigma_t) {
            const MatrixArg X = as_matrix(x, "x", g.dim());
            const std::vector<double> mu = as_times(mu_t, "mu_t", X.rows), sigma = as_times(sigma_t, "sigma_t", X.rows);
            std::vector<double> log_p(X.rows), div(X.rows);
            Matrix score(X.rows, X.cols);
            g.diffused_evaluate(mu, sigma, X.matrix(), log_p, score.flat(), div);
            return py::make_tuple(to_numpy(std::move(log_p)), to_numpy(std::move(score)), to_numpy(std::move(div)));
          },
          py::arg("x"), py::arg("mu_t"), py::arg("sigma_t"),
          "Row i under the mixture diffused to (mu_t[i], sigma_t[i]) (floats: shared):\n"
          "(log_density (N,), score (N, d), divergence (N,)).");

  py::class_<TimeEmbedding>(m, "TimeEmbedding",
                            "Bounded time embedding e(t): fourier [sin(2 pi w_k t), cos(2 pi w_k t)] with frozen\n"
                            "w_k ~ N(0, scale^2); sinusoidal (w_k = k/(2T)); linear t/T; polynomial (t/T)^k.")
      .def_property_readonly("kind", [](const TimeEmbedding& e) { return std::string(to_string(e.kind)); })
      .def_property_readonly("dim", &TimeEmbedding::dim)
      .def_property_readonly("frequencies", [](const TimeEmbedding& e) { return to_numpy(std::vector<double>(e.frequencies)); })
      .def_readonly("horizon", &TimeEmbedding::horizon)
      .def_readonly("degree", &TimeEmbedding::degree)
      .def(
          "evaluate",
          [](const TimeEmbedding& e, const py::handle& t) {
            const std::vector<double> times = as_vector(t, "t");
            Matrix out(times.size(), e.dim());
            for (std::size_t i = 0; i < times.size(); ++i) e.evaluate(times[i], out.row(i));
            return to_numpy(std::move(out));
          },
          py::arg("t"), "e(t_i) for an array of times: (N, dim).");
  m.def("fourier_embedding", &fourier_embedding, py::arg("dim"), py::arg("scale"), py::arg("seed") = 0);
  m.def("sinusoidal_embedding", &sinusoidal_embedding, py::arg("dim"), py::arg("horizon"));
  m.def("linear_embedding", &linear_embedding, py::arg("horizon"));
  m.def("polynomial_embedding", &polynomial_embedding, py::arg("degree"), py::arg("horizon"));

  py::class_<RandomFeatures>(m, "RandomFeatures",
                             "Frozen random features: z = W x + U e(t) + b (m,), phi = act(z); the score model is\n"
                             "s_A(x, t) = c(t)/m A phi(x, t) with A (d, m). W (m, d), U (m, d_e), b (m,).")
      .def(py::init([](const py::handle& W, const py::handle& U, const py::handle& b, const TimeEmbedding& embedding,
                       const std::string& activation) {
             RandomFeatures rf{as_matrix(W, "W", 0, false).copy(), as_matrix(U, "U", embedding.dim(), false).copy(),
                               as_vector(b, "b"), embedding, parse_activation(activation)};
             rf.validate();
             return rf;
           }),
           py::arg("W"), py::arg("U"), py::arg("b"), py::arg("embedding"), py::arg("activation") = "relu")
      .def_property_readonly("W", [](const RandomFeatures& rf) { return to_numpy(rf.W); })
      .def_property_readonly("U", [](const RandomFeatures& rf) { return to_numpy(rf.U); })
      .def_property_readonly("b", [](const RandomFeatures& rf) { return to_numpy(std::vector<double>(rf.b)); })
      .def_readonly("embedding", &RandomFeatures::embedding)
      .def_property_readonly("activation", [](const RandomFeatures& rf) { return std::string(to_string(rf.activation)); })
      .def_property_readonly("num_features", &RandomFeatures::num_features)
      .def_property_readonly("dim", &RandomFeatures::dim)
      .def(
          "features",
          [](const RandomFeatures& rf, const py::handle& x, const py::handle& t) {
            const MatrixArg X = as_matrix(x, "x", rf.dim());
            const std::vector<double> times = as_times(t, "t", X.rows);
            return to_numpy(run_interruptible([&] { return features(rf, X.matrix(), times); }));
          },
          py::arg("x"), py::arg("t"), "phi(x_i, t_i): (N, m) (t a float or (N,)).");
  m.def(
      "draw_random_features",
      [](std::size_t m_features, std::size_t d, const TimeEmbedding& embedding, const std::string& activation,
         const std::string& init, std::uint64_t seed) {
        return draw_random_features(m_features, d, embedding, parse_activation(activation), parse_feature_init(init),
                                    seed);
      },
      py::arg("m"), py::arg("d"), py::arg("embedding"), py::arg("activation") = "relu", py::arg("init") = "sphere",
      py::arg("seed") = 0,
      "Rows (w_i, u_i, b_i) uniform on the unit sphere of R^{d + d_e + 1} (init='sphere') or standard\n"
      "Gaussian ('gaussian'); activation relu | silu | softplus | tanh.");
}

}  // namespace gengap::python
