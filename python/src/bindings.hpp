#pragma once
// The module's parts, one per area of the library (module.cpp calls them in
// order: later parts use the types the earlier ones register).
#include <pybind11/pybind11.h>

namespace gengap::python {

namespace py = pybind11;

void bind_runtime(py::module_& m);   // threads, BLAS, version, exceptions
void bind_models(py::module_& m);    // schedules, mixtures, embeddings, random features
void bind_scores(py::module_& m);    // ScoreModel and the library's score fields, the empirical score
void bind_training(py::module_& m);  // DSM designs, Gram matrices, the exact flow, stochastic training
void bind_solvers(py::module_& m);   // likelihood, samplers
void bind_metrics(py::module_& m);   // KL, memorisation
void bind_studies(py::module_& m);   // S1 and the studies, saved models

}  // namespace gengap::python
