#pragma once
// What the samplers and the likelihood accept as a score from Python:
//   - a gengap.ScoreModel (a library field: random-feature, mixture,
//     empirical, smoothed), with its exact divergence;
//   - any Python callable f(x, t) with x an (N, d) float64 array and t an (N,)
//     array of times, returning the (N, d) score, or with
//     divergence="exact" the pair (score, divergence (N,)). It is called once
//     per batch of rows (the solvers' chunk; for callables the whole batch of
//     active rows by default), holding the GIL, with copies of x and t.
#include <pybind11/pybind11.h>

#include <cstddef>
#include <string>

#include "gengap/solvers/score_field.hpp"

namespace gengap::python {

namespace py = pybind11;

// A library field with its dimension (gengap.ScoreModel).
struct ScoreModel {
  ScoreDivergenceField field;
  std::size_t dim = 0;
  std::string description;
};

// f(x, t) -> score, or -> (score, divergence) when with_divergence; the
// returned arrays are checked (shape (N, d) and (N,), real numbers; NaN and
// Inf pass through, the solvers flag such rows non_finite).
ScoreDivergenceField python_score_field(const py::object& callable, std::size_t d, bool with_divergence);

struct ScoreArgument {
  ScoreDivergenceField exact;  // set for a ScoreModel or a callable with divergence
  ScoreField score;            // always set
  bool from_python = false;    // a Python callable (one call per batch: large chunks by default)
};
// `divergence`: "exact" (a ScoreModel, or a callable returning (score, divergence))
// or "hutchinson"/"none" (the score alone; a callable returns the score).
ScoreArgument as_score(const py::handle& object, std::size_t d, bool with_divergence, const char* name = "score");

}  // namespace gengap::python
