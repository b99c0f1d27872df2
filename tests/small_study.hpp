#pragma once
// A study whose settings take a fraction of a second each, for the tests of
// the study plumbing (study_test.cpp, distributed_study_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
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

// Records what a study's callbacks see: each setting's phases in order, the
// finished settings, and whether two on_setting calls ever overlapped (each
// call sleeps 20 ms to widen any overlap).
struct CallbackRecorder {
  std::mutex mutex;
  std::map<std::size_t, std::vector<std::string>> phases;
  std::vector<std::size_t> finished;
  std::atomic<int> inside{0}, overlaps{0};

  StudyCallbacks callbacks() {
    StudyCallbacks c;
    c.on_phase = [this](std::size_t k, std::string_view phase) {
      const std::lock_guard lock(mutex);
      phases[k].emplace_back(phase);
    };
    c.on_setting = [this](const StudySetting& s) {
      if (inside.fetch_add(1) != 0) ++overlaps;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      finished.push_back(s.summary.index);
      inside.fetch_sub(1);
    };
    return c;
  }

  // Every setting of `config` finished once, one call at a time, and each
  // saw the cost model's phases in its order.
  void expect_every_setting_and_phase(const StudyConfig& config) {
    EXPECT_EQ(overlaps.load(), 0);
    std::vector<std::size_t> sorted = finished, all(config.settings());
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
    EXPECT_EQ(sorted, all);
    std::vector<std::string> expected;
    for (const auto& [name, cost] : estimated_phase_costs(config.setting(0))) {
      expected.push_back(name);
      EXPECT_GE(cost, 0.0) << name;
    }
    ASSERT_EQ(expected.size(), early_stopping_phase_count);
    for (std::size_t k = 0; k < all.size(); ++k) EXPECT_EQ(phases[k], expected) << k;
  }
};

}  // namespace gengap
