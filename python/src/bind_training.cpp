// DSM designs, Gram matrices, the exact gradient flow and stochastic training
// (solvers/dsm_design.hpp, quadratic_loss.hpp, gradient_flow.hpp,
// stochastic_training.hpp).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/solvers/dsm_design.hpp"
#include "gengap/solvers/gradient_flow.hpp"
#include "gengap/solvers/quadratic_loss.hpp"
#include "gengap/solvers/stochastic_training.hpp"
#include "interruptible.hpp"
#include "numpy_io.hpp"

namespace gengap::python {
namespace {

using SharedDesign = std::shared_ptr<DesignPoints>;

py::dict design_points(const DesignPoints& design, std::size_t begin, std::optional<std::size_t> end) {
  const std::size_t last = end.value_or(design.size());
  if (begin > last || last > design.size()) {
    throw py::value_error("end: expected begin <= end <= size = " + std::to_string(design.size()));
  }
  DesignTile tile;
  design.fill(begin, last, tile);
  py::dict d;
  d["x"] = to_numpy(std::move(tile.x));
  d["t"] = to_numpy(std::move(tile.t));
  d["y"] = to_numpy(std::move(tile.y));
  d["weight"] = to_numpy(std::move(tile.weight));
  d["loss0"] = to_numpy(std::move(tile.loss0));
  return d;
}

QuadraticLoss make_loss(const py::handle& G, const py::handle& C, double L0) {
  QuadraticLoss loss{as_matrix(G, "G", 0, false).copy(), as_matrix(C, "C", 0, false).copy(), L0};
  loss.validate();
  return loss;
}

StochasticTrainingOptions sgd_options(const std::string& optimizer, double learning_rate, std::size_t batch_size,
                                      std::size_t steps, double beta1, double beta2, double epsilon,
                                      std::uint64_t seed, std::vector<std::size_t> record_steps) {
  StochasticTrainingOptions o;
  if (optimizer == "sgd") {
    o.optimizer = Optimizer::sgd;
  } else if (optimizer == "adam") {
    o.optimizer = Optimizer::adam;
  } else {
    throw py::value_error("optimizer: unknown optimizer '" + optimizer + "' (expected sgd|adam)");
  }
  o.learning_rate = learning_rate;
  o.batch_size = batch_size;
  o.steps = steps;
  o.adam_beta1 = beta1;
  o.adam_beta2 = beta2;
  o.adam_epsilon = epsilon;
  o.seed = seed;
  o.record_steps = std::move(record_steps);
  o.validate();
  return o;
}

// Short calls that use BLAS on the calling thread run it single-threaded, as
// the long ones do (interruptible.hpp): no result depends on OpenBLAS's
// thread count.
template <class F>
auto serial_blas(F&& fn) {
  const ScopedBlasThreads single_threaded_blas(1);
  return fn();
}

// value(tau_k) for each entry of an array of training times.
template <class Value>
py::array_t<double> per_tau(const py::handle& tau, Value value) {
  const std::vector<double> taus = as_vector(tau, "tau");
  std::vector<double> out(taus.size());
  for (std::size_t k = 0; k < taus.size(); ++k) out[k] = value(taus[k]);
  return to_numpy(std::move(out));
}

}  // namespace

void bind_training(py::module_& m) {
  py::class_<DesignPoints, SharedDesign>(
      m, "DesignPoints",
      "Design points z = (x_t, t, y, weight, loss0) of a DSM loss: L(A) = sum_z weight/2 |A phi(x_t, t)/m - y|^2\n"
      "+ const, y = -eps/(sigma_t c(t)). points(begin, end) returns them as a dict of arrays.")
      .def_property_readonly("size", &DesignPoints::size)
      .def_property_readonly("dim", &DesignPoints::dim)
      .def("points", &design_points, py::arg("begin") = 0, py::arg("end") = py::none());
  m.def(
      "empirical_monte_carlo",
      [](const py::handle& data, std::size_t draws, const DsmSetup& setup, std::uint64_t seed) -> SharedDesign {
        return empirical_monte_carlo(as_matrix(data, "data").matrix(), draws, setup, seed);
      },
      py::arg("data"), py::arg("draws_per_sample"), py::arg("setup"), py::arg("seed") = 0,
      "L_{n,K}: K draws (t ~ U[t_min, T], eps ~ N(0, I)) per training point, q = 1/(n K).");
  m.def(
      "empirical_quadrature",
      [](const py::handle& data, std::size_t time_nodes, std::size_t noise_nodes, const DsmSetup& setup) -> SharedDesign {
        return empirical_quadrature(as_matrix(data, "data").matrix(), time_nodes, noise_nodes, setup);
      },
      py::arg("data"), py::arg("time_nodes"), py::arg("noise_nodes"), py::arg("setup"),
      "L_n by Gauss-Legendre in t and tensor Gauss-Hermite in eps (noise_nodes^d per (point, time)).");
  m.def(
      "population_quadrature",
      [](const GaussianMixture& target, std::size_t time_nodes, std::size_t space_nodes, const DsmSetup& setup)
          -> SharedDesign { return population_quadrature(target, time_nodes, space_nodes, setup); },
      py::arg("mixture"), py::arg("time_nodes"), py::arg("space_nodes"), py::arg("setup"),
      "The population loss L of a mixture by quadrature (d <= 2), y from Tweedie's identity.");
  m.def(
      "population_monte_carlo",
      [](const GaussianMixture& target, std::size_t samples, const DsmSetup& setup, std::uint64_t seed)
          -> SharedDesign { return population_monte_carlo(target, samples, setup, seed); },
      py::arg("mixture"), py::arg("samples"), py::arg("setup"), py::arg("seed") = 0);

  py::class_<QuadraticLoss>(m, "QuadraticLoss",
                            "L(A) = 1/(2 m^2) tr(A G A^T) - 1/m tr(A C) + L0, grad = A G/m^2 - C^T/m;\n"
                            "G (m, m), C (m, d).")
      .def(py::init(&make_loss), py::arg("G"), py::arg("C"), py::arg("L0"))
      .def_property_readonly("G", [](const QuadraticLoss& l) { return to_numpy(l.G); })
      .def_property_readonly("C", [](const QuadraticLoss& l) { return to_numpy(l.C); })
      .def_readonly("L0", &QuadraticLoss::L0)
      .def_property_readonly("num_features", &QuadraticLoss::num_features)
      .def_property_readonly("dim", &QuadraticLoss::dim)
      .def(
          "value", [](const QuadraticLoss& l, const py::handle& A) {
            const MatrixArg a = as_matrix(A, "A", l.num_features(), false);
            return serial_blas([&] { return l.value(a.matrix()); });
          },
          py::arg("A"))
      .def(
          "gradient", [](const QuadraticLoss& l, const py::handle& A) {
            const MatrixArg a = as_matrix(A, "A", l.num_features(), false);
            return to_numpy(serial_blas([&] { return l.gradient(a.matrix()); }));
          },
          py::arg("A"));
  m.def(
      "gram_matrices",
      [](const RandomFeatures& rf, const SharedDesign& design, std::size_t tile_rows) {
        if (!design) throw py::type_error("design: expected gengap.DesignPoints");
        GramOptions options;
        options.tile_rows = tile_rows;
        return run_interruptible([&] { return gram_matrices(rf, *design, options); });
      },
      py::arg("features"), py::arg("design"), py::arg("tile_rows") = 1024,
      "(G, C, L0) = sum_z weight (phi phi^T, phi y^T, |y|^2/2 share) as a QuadraticLoss, accumulated by\n"
      "tiles with symmetric rank-k updates; bitwise independent of the thread count.");

  py::class_<ProjectedLoss>(m, "ProjectedLoss", "Another quadratic loss projected on a flow's eigenbasis.")
      .def_readonly("L0", &ProjectedLoss::L0);
  py::class_<GradientFlow>(
      m, "GradientFlow",
      "Exact gradient flow dA/dtau = -grad L_n(A) from A0 (None: zeros), by one eigendecomposition of G_n:\n"
      "b_j(tau) = e^{-kappa_j tau} b_j(0) + tau phi1(kappa_j tau) r_j, kappa_j = lambda_j/m^2. Every tau is\n"
      "exact (no time stepping).")
      .def(py::init([](const QuadraticLoss& train, const py::handle& A0, double eigen_floor) {
             Matrix start = as_optional_matrix(A0, "A0", train.dim(), train.num_features());
             return run_interruptible(
                 [&] { return std::make_unique<GradientFlow>(train, std::move(start), GradientFlowOptions{eigen_floor}); });
           }),
           py::arg("train"), py::arg("A0") = py::none(), py::arg("eigen_floor") = 1e-10)
      .def_property_readonly("num_features", &GradientFlow::num_features)
      .def_property_readonly("dim", &GradientFlow::dim)
      .def_property_readonly("eigenvalues",
                             [](const GradientFlow& f) { return to_numpy(std::vector<double>(f.eigen().values)); })
      .def_property_readonly("rates", [](const GradientFlow& f) { return to_numpy(std::vector<double>(f.rates())); })
      .def("timescale_range", &GradientFlow::timescale_range,
           "(shortest, longest) m^2/lambda_j over the directions above the eigen floor.")
      .def(
          "weights",
          [](const GradientFlow& f, const py::handle& tau) -> py::object {
            if (py::isinstance<py::float_>(tau) || py::isinstance<py::int_>(tau)) {
              return to_numpy(serial_blas([&] { return f.weights(tau.cast<double>()); }));
            }
            const std::vector<double> taus = as_vector(tau, "tau");
            std::vector<Matrix> all;
            serial_blas([&] {
              for (double t : taus) all.push_back(f.weights(t));
            });
            return stack(all);
          },
          py::arg("tau"), "A(tau): (d, m) for a float, (k, d, m) for an array of k times.")
      .def(
          "train_loss",
          [](const GradientFlow& f, const py::handle& tau) -> py::object {
            if (py::isinstance<py::float_>(tau) || py::isinstance<py::int_>(tau)) return py::float_(f.train_loss(tau.cast<double>()));
            return per_tau(tau, [&](double t) { return f.train_loss(t); });
          },
          py::arg("tau"), "L_n(A(tau)), float or array like tau.")
      .def(
          "project", [](const GradientFlow& f, const QuadraticLoss& other) {
            return run_interruptible([&] { return f.project(other); });
          },
          py::arg("other"), "Projects another loss (e.g. the population loss) once, for losses().")
      .def(
          "losses",
          [](const GradientFlow& f, const ProjectedLoss& other, const py::handle& tau) {
            const std::vector<double> taus = as_vector(tau, "tau");
            return to_numpy(run_interruptible([&] { return f.losses(other, taus); }));
          },
          py::arg("other"), py::arg("tau"), "The projected loss at A(tau) for an array of tau (one dgemm per block).")
      .def(
          "distance_from_start",
          [](const GradientFlow& f, const py::handle& tau) {
            return per_tau(tau, [&](double t) { return f.distance_from_start(t); });
          },
          py::arg("tau"), "||A(tau) - A0||_F for an array of tau.")
      .def(
          "optimality_gap",
          [](const GradientFlow& f, const py::handle& tau) {
            return per_tau(tau, [&](double t) { return f.optimality_gap(t); });
          },
          py::arg("tau"), "L_n(A(tau)) - min L_n (no cancellation), <= ||A0 - A*||_F^2/(2 tau).")
      .def("distance_to_minimizer_squared", &GradientFlow::distance_to_minimizer_squared)
      .def("minimum_norm_minimizer", [](const GradientFlow& f) { return to_numpy(serial_blas([&] { return f.minimum_norm_minimizer(); })); },
           "A* = m C_n^T G_n^+ (the tau -> infinity limit from A0 = 0).")
      .def(
          "gradient_descent", [](const GradientFlow& f, double eta, std::size_t steps) {
            return to_numpy(serial_blas([&] { return f.gradient_descent(eta, steps); }));
          },
          py::arg("eta"), py::arg("steps"), "A after `steps` gradient-descent steps of size eta (closed form).");
  m.def("log_spaced", &log_spaced, py::arg("lo"), py::arg("hi"), py::arg("n"), "n log-spaced values lo..hi inclusive.");

  m.def(
      "train_stochastic",
      [](const RandomFeatures& rf, const DsmSetup& setup, const py::handle& data, const py::handle& A0,
         const std::string& optimizer, double learning_rate, std::size_t batch_size, std::size_t steps, double beta1,
         double beta2, double epsilon, std::uint64_t seed, std::vector<std::size_t> record_steps) {
        const MatrixArg X = as_matrix(data, "data", rf.dim());
        Matrix start = as_optional_matrix(A0, "A0", rf.dim(), rf.num_features());
        const StochasticTrainingOptions options = sgd_options(optimizer, learning_rate, batch_size, steps, beta1, beta2,
                                                              epsilon, seed, std::move(record_steps));
        StochasticTrainingResult r =
            run_interruptible([&] { return train_stochastic(rf, setup, X.matrix(), std::move(start), options); });
        py::dict out;
        out["recorded_steps"] = to_numpy_as<std::int64_t>(r.recorded_steps);
        out["recorded_weights"] = stack(r.recorded_weights);
        out["batch_losses"] = to_numpy(std::move(r.batch_losses));
        out["final_weights"] = to_numpy(std::move(r.final_weights));
        return out;
      },
      py::arg("features"), py::arg("setup"), py::arg("data"), py::arg("A0") = py::none(), py::kw_only(),
      py::arg("optimizer") = "sgd", py::arg("learning_rate") = 0.1, py::arg("batch_size") = 64,
      py::arg("steps") = 1000, py::arg("adam_beta1") = 0.9, py::arg("adam_beta2") = 0.999,
      py::arg("adam_epsilon") = 1e-8, py::arg("seed") = 0, py::arg("record_steps") = std::vector<std::size_t>{},
      "The paper's protocol: minibatch SGD/Adam on the DSM loss with fresh (t, eps) per step (counter-based,\n"
      "reproducible). SGD with rate eta after k steps compares with GradientFlow at tau = eta k.\n"
      "Returns recorded_steps, recorded_weights (k, d, m), batch_losses (steps,), final_weights (d, m).");
}

}  // namespace gengap::python
