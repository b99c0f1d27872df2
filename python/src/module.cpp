// The _gengap extension module: gengap from Python (python/gengap/__init__.py
// re-exports it).
#include <pybind11/pybind11.h>

#include "bindings.hpp"

PYBIND11_MODULE(_gengap, m) {
  m.doc() =
      "gengap: exact training dynamics, likelihoods and generalization of random-feature diffusion models.\n"
      "Arrays are NumPy float64, points as rows (N, d); see help() of each function for formulas and shapes.";
  gengap::python::bind_runtime(m);
  gengap::python::bind_models(m);
  gengap::python::bind_scores(m);
  gengap::python::bind_training(m);
  gengap::python::bind_solvers(m);
  gengap::python::bind_metrics(m);
  gengap::python::bind_studies(m);
}
