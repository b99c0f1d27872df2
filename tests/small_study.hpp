#pragma once
// A study whose settings take a fraction of a second each, for the tests of
// the study plumbing (study_test.cpp, distributed_study_test.cpp).
#include <utility>
#include <vector>

#include "gengap/generalization/studies/sweep/study.hpp"

namespace gengap {

// A fraction of a second per setting: the KL at 5 of 16 taus by quadrature
// (every 4th, the saved ones, the last) and at 3 by Monte Carlo over 300 test
// points (every 8th, the saved ones), loose ODE and quadrature tolerances, no
// bound terms.
inline StudyConfig small_study(StudyKind kind, std::vector<double> values) {
  StudyConfig c = default_study_config(kind);
  EarlyStoppingConfig& b = c.base;
  b.seed = 3;
  // The paper's Fourier features (the old default): a smooth model whose late
  // densities need no spike-resolving tolerances; this test is about the study plumbing.
  b.model.embedding = EmbeddingKind::fourier;
  b.n = 120;
  b.model.m = 48;
  b.train_loss.draws_per_sample = 16;
  b.population_loss.time_nodes = 48;
  b.population_loss.space_nodes = 16;
  b.tau.points = 16;
  b.tau.saved = 3;
  b.kl.test_points = 300;
  b.kl.tau_stride = 4;
  b.kl.ode_tau_stride = 8;
  b.kl.rtol = b.kl.atol = 1e-3;
  b.kl.quadrature_rtol = b.kl.quadrature_atol = 1e-4;
  b.kl.quadrature_nodes = 65;
  b.kl.quadrature_tolerance = 1e-2;
  b.kl.score_integral = false;
  b.bounds.enabled = false;
  c.sweep.values = std::move(values);
  return c;
}

}  // namespace gengap
