// The ODE driver (integrate), its tableaux and the PI controller against
// closed-form solutions: y' = y cos t (y = exp(sin t)), y' = -k y, a damped
// rotation y' = M y (exp(Mt) in closed form), and y' = 1/(t - 0.5)^2.
#include <gtest/gtest.h>

#include "test_support.hpp"

#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "gengap/solvers/ode/integrate.hpp"
#include "gengap/solvers/ode/rk_tableau.hpp"
#include "gengap/solvers/ode/controller.hpp"

namespace {

using namespace gengap;

// y' = y cos t, exact y = y(t0) exp(sin t - sin t0): smooth and nonlinear in t.
void cos_field(std::span<const double> t, MatrixView y, std::span<double> dy) {
  for (std::size_t r = 0; r < y.rows; ++r)
    for (std::size_t j = 0; j < y.cols; ++j) dy[r * y.cols + j] = y(r, j) * std::cos(t[r]);
}
double cos_exact(double t) { return std::exp(std::sin(t)); }

IntegrateOptions options_for(const std::string& method, double t0, double t1, double fixed = 0.0) {
  IntegrateOptions o;
  o.method = parse_rk_method(method);
  o.t0 = t0;
  o.t1 = t1;
  o.fixed_step = fixed;
  return o;
}

double fixed_error(const std::string& method, double h, double T) {
  const IntegrateResult r = integrate(cos_field, Matrix(1, 1, 1.0), options_for(method, 0.0, T, h));
  EXPECT_TRUE(r.all_succeeded()) << r.failure_summary();
  return std::abs(r.final_state(0, 0) - cos_exact(T));
}

// (a) Observed global order at t = 1 from steps h, h/2, h/4: log2(e(h)/e(h/4)) / 2.
// (At t = 2 Tsit5's leading error term nearly cancels there and the slope reads 5.5.)
// +-0.3 allows the pre-asymptotic drift of the error constant; the base steps
// keep every error orders of magnitude above double rounding (~1e-16).
TEST(Integrate, FixedStepConvergenceOrderMatchesTableau) {
  const std::vector<std::pair<std::string, double>> cases = {{"euler", 0.01}, {"heun", 0.02}, {"rk4", 0.1},
                                                             {"bosh3", 0.05}, {"dopri5", 0.1}, {"tsit5", 0.1}};
  for (const auto& [method, h] : cases) {
    const double e1 = fixed_error(method, h, 1.0), e3 = fixed_error(method, h / 4, 1.0);
    const double observed = std::log2(e1 / e3) / 2.0;
    EXPECT_NEAR(observed, tableau_by_name(method).order, 0.3) << method << " e(h)=" << e1 << " e(h/4)=" << e3;
  }
}

// (a) The embedded estimate h * sum b_error_i k_i of a single step from
// (t, exp(sin t)) is the local error of the order-q solution: O(h^(q+1)).
// Computed with an independent single-trajectory stepper written here.
TEST(Integrate, EmbeddedErrorEstimateHasItsOrder) {
  for (const char* name : {"dopri5", "tsit5", "bosh3"}) {
    const RungeKuttaTableau tab = tableau_by_name(name);
    auto estimate = [&](double h) {
      const double t = 0.3, y = cos_exact(t);
      std::vector<double> k(tab.stages);
      double err = 0.0;
      for (std::size_t i = 0; i < tab.stages; ++i) {
        double yi = y;
        for (std::size_t j = 0; j < i; ++j) yi += h * tab.a_at(i, j) * k[j];
        k[i] = yi * std::cos(t + tab.c[i] * h);
        err += h * tab.b_error[i] * k[i];
      }
      return std::abs(err);
    };
    const double observed = std::log2(estimate(0.2) / estimate(0.05)) / 2.0;
    EXPECT_NEAR(observed, tab.error_order + 1, 0.3) << name;
  }
}

// Tableau consistency: sum b = 1, sum b_error = 0 (both weight vectors are
// consistent), c_i = row sums of a; checked to rounding of the published digits.
TEST(Integrate, TableauxAreConsistent) {
  for (const char* name : {"dopri5", "tsit5", "bosh3", "euler", "heun", "rk4"}) {
    const RungeKuttaTableau tab = tableau_by_name(name);
    double sb = 0.0, se = 0.0;
    for (std::size_t i = 0; i < tab.stages; ++i) {
      sb += tab.b[i];
      if (tab.adaptive()) se += tab.b_error[i];
      double row = 0.0;
      for (std::size_t j = 0; j < tab.stages; ++j) {
        if (j >= i) { EXPECT_EQ(tab.a_at(i, j), 0.0) << name; }
        row += tab.a_at(i, j);
      }
      EXPECT_NEAR(row, tab.c[i], 1e-12) << name;
    }
    EXPECT_NEAR(sb, 1.0, 1e-12) << name;
    EXPECT_NEAR(se, 0.0, 1e-12) << name;
  }
}

// (b) At rtol = atol = 1e-8 over [0, 10] the global error is a modest multiple
// of the tolerance (a few periods of exp(sin t), amplitude <= e), so 1e-6;
// RK4 with h = 1e-3 has error ~ 1e-13, a reference independent of the driver's
// adaptive path.
TEST(Integrate, AdaptiveMatchesExactAndFineRk4) {
  const double rk4_ref = integrate(cos_field, Matrix(1, 1, 1.0), options_for("rk4", 0.0, 10.0, 1e-3)).final_state(0, 0);
  EXPECT_NEAR(rk4_ref, cos_exact(10.0), 1e-10);
  for (const char* method : {"dopri5", "tsit5", "bosh3"}) {
    IntegrateOptions o = options_for(method, 0.0, 10.0);
    o.controller.rtol = o.controller.atol = 1e-8;
    const IntegrateResult r = integrate(cos_field, Matrix(1, 1, 1.0), o);
    ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
    EXPECT_NEAR(r.final_state(0, 0), cos_exact(10.0), 1e-6) << method;
    EXPECT_NEAR(r.final_state(0, 0), rk4_ref, 1e-6) << method;
    EXPECT_GT(r.stats[0].accepted, 5u);
    EXPECT_EQ(r.total_rhs_evaluations, r.stats[0].rhs_evaluations);
  }
}

// (c) y' = M y, M = [[-a, -w], [w, -a]]: exp(Mt) = e^{-at} [[cos wt, -sin wt], [sin wt, cos wt]].
TEST(Integrate, LinearRotationDecayMatchesMatrixExponential) {
  const double a = 0.3, w = 2.0, T = 5.0;
  VectorField field = [&](std::span<const double>, MatrixView y, std::span<double> dy) {
    for (std::size_t r = 0; r < y.rows; ++r) {
      dy[2 * r] = -a * y(r, 0) - w * y(r, 1);
      dy[2 * r + 1] = w * y(r, 0) - a * y(r, 1);
    }
  };
  Matrix y0(2, 2, std::vector<double>{1.0, 0.0, -0.5, 2.0});
  IntegrateOptions o = options_for("tsit5", 0.0, T);
  o.controller.rtol = o.controller.atol = 1e-10;
  const IntegrateResult r = integrate(field, y0, o);
  ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
  const double e = std::exp(-a * T), cs = std::cos(w * T), sn = std::sin(w * T);
  for (std::size_t i = 0; i < 2; ++i) {
    // Tolerance 1e-8: 100x the requested 1e-10 for the accumulated global error.
    EXPECT_NEAR(r.final_state(i, 0), e * (cs * y0(i, 0) - sn * y0(i, 1)), 1e-8);
    EXPECT_NEAR(r.final_state(i, 1), e * (sn * y0(i, 0) + cs * y0(i, 1)), 1e-8);
  }
}

// y' = -k_r y with k_r stored in column 1 (dk/dt = 0) so the field sees each row's rate.
void decay_field(std::span<const double>, MatrixView y, std::span<double> dy) {
  for (std::size_t r = 0; r < y.rows; ++r) {
    dy[2 * r] = -y(r, 1) * y(r, 0);
    dy[2 * r + 1] = 0.0;
  }
}

// (d) Per-trajectory step sizes: rates 0.1 .. 100 in one chunk; the stiff rows
// need many more steps (explicit stability, h <~ 3.3 / k), the mild ones few,
// and each row is accurate to a small multiple of rtol = atol = 1e-8.
TEST(Integrate, EachTrajectoryChoosesItsOwnSteps) {
  const std::size_t n = 7;
  Matrix y0(n, 2);
  for (std::size_t i = 0; i < n; ++i) {
    y0(i, 0) = 1.0;
    y0(i, 1) = 0.1 * std::pow(10.0, 0.5 * static_cast<double>(i));  // 0.1 .. 100
  }
  IntegrateOptions o = options_for("dopri5", 0.0, 1.0);
  o.controller.rtol = o.controller.atol = 1e-8;
  const IntegrateResult r = integrate(decay_field, y0, o);
  ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
  std::set<std::size_t> counts;
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_NEAR(r.final_state(i, 0), std::exp(-y0(i, 1)), 1e-6) << "row " << i;
    EXPECT_EQ(r.final_state(i, 1), y0(i, 1));
    counts.insert(r.stats[i].accepted);
  }
  EXPECT_GE(counts.size(), 4u);
  EXPECT_GT(r.stats[n - 1].accepted, 5 * r.stats[0].accepted);
  // k = 100 over [0, 1]: dopri5's real stability interval is ~3.3, so >= 30 steps.
  EXPECT_GE(r.stats[n - 1].accepted, 30u);
}

// (e) Backwards: from exp(sin 2) at t = 2 down to t = 0 must give exp(sin 0) = 1.
TEST(Integrate, IntegratesBackwards) {
  for (const char* method : {"dopri5", "tsit5", "bosh3"}) {
    IntegrateOptions o = options_for(method, 2.0, 0.0);
    o.controller.rtol = o.controller.atol = 1e-9;
    o.save_at = {1.0, 2.0, 0.0};
    const IntegrateResult r = integrate(cos_field, Matrix(1, 1, cos_exact(2.0)), o);
    ASSERT_TRUE(r.all_succeeded()) << r.failure_summary();
    EXPECT_NEAR(r.final_state(0, 0), 1.0, 1e-7) << method;
    EXPECT_NEAR(r.saved[0](0, 0), cos_exact(1.0), 1e-5) << method;  // Hermite, see SaveAt test
    EXPECT_EQ(r.saved[1](0, 0), cos_exact(2.0));                      // t0: the initial state itself
    EXPECT_EQ(r.saved[2](0, 0), r.final_state(0, 0));                 // t1: the end of the last step
  }
  const IntegrateResult f = integrate(cos_field, Matrix(1, 1, cos_exact(2.0)), options_for("rk4", 2.0, 0.0, 0.01));
  EXPECT_NEAR(f.final_state(0, 0), 1.0, 1e-9);
}

// (f) Dense output is cubic Hermite: error <= h^4/384 max|y''''| and order 3
// (error ratio 16 when h halves). Fixed dopri5 steps make h known; the step's
// own error (O(h^5) global) is far below the interpolation error.
TEST(Integrate, SaveAtHermiteDenseOutput) {
  std::vector<double> grid;
  for (int i = 0; i <= 2000; ++i) grid.push_back(0.001 * i);
  // max |y''''| of exp(sin t) on [0, 2], by a 5-point finite difference (step 1e-2).
  double m4 = 0.0;
  for (double t = 0.0; t <= 2.0; t += 0.001) {
    const double d = 1e-2;
    m4 = std::max(m4, std::abs(cos_exact(t - 2 * d) - 4 * cos_exact(t - d) + 6 * cos_exact(t) - 4 * cos_exact(t + d) +
                               cos_exact(t + 2 * d)) / std::pow(d, 4));
  }
  auto max_err = [&](double h) {
    IntegrateOptions o = options_for("dopri5", 0.0, 2.0, h);
    o.save_at = grid;
    const IntegrateResult r = integrate(cos_field, Matrix(1, 1, 1.0), o);
    double e = 0.0;
    for (std::size_t k = 0; k < grid.size(); ++k) e = std::max(e, std::abs(r.saved[k](0, 0) - cos_exact(grid[k])));
    return e;
  };
  const double e1 = max_err(0.1), e2 = max_err(0.05);
  EXPECT_LE(e1, 1.1 * std::pow(0.1, 4) / 384 * m4);  // 10% for the finite-difference m4 and the step error
  EXPECT_NEAR(std::log2(e1 / e2), 4.0, 0.3);          // local interpolation error O(h^4): order 3

  // Adaptive: saves at arbitrary times, unsorted, within 1e-4 (steps ~0.1-0.3 at rtol 1e-8 give
  // h^4/384 * m4 ~ 1e-4 at the largest step).
  IntegrateOptions o = options_for("tsit5", 0.0, 2.0);
  o.controller.rtol = o.controller.atol = 1e-8;
  o.save_at = {1.9, 0.37, 1.1, 0.0, 2.0};
  const IntegrateResult r = integrate(cos_field, Matrix(1, 1, 1.0), o);
  ASSERT_TRUE(r.all_succeeded());
  for (std::size_t k = 0; k < o.save_at.size(); ++k)
    EXPECT_NEAR(r.saved[k](0, 0), cos_exact(o.save_at[k]), 1e-4) << o.save_at[k];
  EXPECT_EQ(r.saved[3](0, 0), 1.0);
  EXPECT_EQ(r.saved[4](0, 0), r.final_state(0, 0));
}

// (g) Failures are per trajectory, with index, status and time; never thrown.
TEST(Integrate, MaxStepsFlaggedPerTrajectory) {
  Matrix y0(2, 2, std::vector<double>{1.0, 0.1, 1.0, 1000.0});
  IntegrateOptions o = options_for("dopri5", 0.0, 1.0);
  o.max_steps = 40;
  const IntegrateResult r = integrate(decay_field, y0, o);
  EXPECT_EQ(r.stats[0].status, TrajectoryStatus::success);
  EXPECT_NEAR(r.final_state(0, 0), std::exp(-0.1), 1e-5);
  ASSERT_EQ(r.stats[1].status, TrajectoryStatus::max_steps);
  EXPECT_EQ(r.stats[1].accepted + r.stats[1].rejected, 40u);
  // k = 1000 needs h <~ 3.3e-3: 40 attempts cannot pass t = 0.2.
  EXPECT_GT(r.stats[1].failure_time, 0.0);
  EXPECT_LT(r.stats[1].failure_time, 0.2);
  EXPECT_FALSE(r.all_succeeded());
  const std::string summary = r.failure_summary();
  EXPECT_NE(summary.find("trajectory 1"), std::string::npos) << summary;
  EXPECT_NE(summary.find("max_steps"), std::string::npos) << summary;
}

// dy/dt = -y in column 0; column 1 carries the row id and the field turns
// NaN for id 3 once t > 0.5.
VectorField nan_for_row_3_after_half() {
  return [](std::span<const double> t, MatrixView y, std::span<double> dy) {
    for (std::size_t r = 0; r < y.rows; ++r) {
      dy[2 * r] = (y(r, 1) == 3.0 && t[r] > 0.5) ? std::numeric_limits<double>::quiet_NaN() : -y(r, 0);
      dy[2 * r + 1] = 0.0;
    }
  };
}

// Rows (1, id).
Matrix decay_rows_with_ids(std::size_t n) {
  Matrix y0(n, 2);
  for (std::size_t i = 0; i < n; ++i) {
    y0(i, 0) = 1.0;
    y0(i, 1) = static_cast<double>(i);
  }
  return y0;
}

TEST(Integrate, NonFiniteFieldStopsOnlyThatRow) {
  const VectorField field = nan_for_row_3_after_half();
  const Matrix y0 = decay_rows_with_ids(6);
  IntegrateOptions o = options_for("dopri5", 0.0, 1.0);
  o.save_at = {0.25, 0.9};
  const IntegrateResult r = integrate(field, y0, o);
  for (std::size_t i = 0; i < 6; ++i) {
    if (i == 3) continue;
    EXPECT_EQ(r.stats[i].status, TrajectoryStatus::success) << i;
    EXPECT_NEAR(r.final_state(i, 0), std::exp(-1.0), 1e-5) << i;  // rtol = atol = 1e-6 default
  }
  ASSERT_EQ(r.stats[3].status, TrajectoryStatus::non_finite);
  // Stopped at the start of the first step with a stage past 0.5 (steps here are < 0.5 long).
  EXPECT_LE(r.stats[3].failure_time, 0.5);
  EXPECT_GT(r.stats[3].failure_time, 0.0);
  EXPECT_NEAR(r.final_state(3, 0), std::exp(-r.stats[3].failure_time), 1e-5);  // last good state, finite
  EXPECT_NEAR(r.saved[0](3, 0), std::exp(-0.25), 1e-5);
  EXPECT_TRUE(std::isnan(r.saved[1](3, 0)));  // never reached: NaN, flagged by the status
  EXPECT_NE(r.failure_summary().find("trajectory 3 (non_finite"), std::string::npos) << r.failure_summary();
}

TEST(Integrate, StepUnderflowAtBlowUp) {
  // y' = 1/(t - 0.5)^2: y = -1/(t - 0.5) + C is unbounded at t = 0.5, so steps shrink to min_step there.
  VectorField field = [](std::span<const double> t, MatrixView y, std::span<double> dy) {
    for (std::size_t r = 0; r < y.rows; ++r) dy[r] = 1.0 / ((t[r] - 0.5) * (t[r] - 0.5));
  };
  const IntegrateResult r = integrate(field, Matrix(1, 1, 2.0), options_for("dopri5", 0.0, 1.0));
  ASSERT_EQ(r.stats[0].status, TrajectoryStatus::step_underflow) << r.failure_summary();
  EXPECT_LT(r.stats[0].failure_time, 0.5);
  EXPECT_GT(r.stats[0].failure_time, 0.5 - 1e-3);
  EXPECT_TRUE(std::isfinite(r.final_state(0, 0)));
}

// (h) Chunks are independent: 1 and 2 threads give bitwise identical results.
TEST(Integrate, BitwiseIdenticalAcrossThreadCounts) {
  const std::size_t n = 300;
  Matrix y0(n, 2);
  for (std::size_t i = 0; i < n; ++i) {
    y0(i, 0) = 1.0 + 0.01 * static_cast<double>(i);
    y0(i, 1) = 0.1 + 0.3 * static_cast<double>(i % 37);
  }
  IntegrateOptions o = options_for("tsit5", 0.0, 2.0);
  o.chunk = 16;
  o.save_at = {0.5, 1.5};
  auto run = [&](int threads) {
    IntegrateResult r;
    tbb::task_arena(threads).execute([&] { r = integrate(decay_field, y0, o); });
    return r;
  };
  const IntegrateResult a = run(1), b = run(2);
  EXPECT_EQ(a.final_state, b.final_state);
  ASSERT_EQ(a.saved.size(), b.saved.size());
  for (std::size_t k = 0; k < a.saved.size(); ++k) EXPECT_EQ(a.saved[k], b.saved[k]);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(a.stats[i].accepted, b.stats[i].accepted);
  EXPECT_EQ(a.total_rhs_evaluations, b.total_rhs_evaluations);
  EXPECT_TRUE(a.all_succeeded());
}

// ------------------------------------------------------------------ StepSharing::per_chunk

// Rates 0.1 .. 100 (as in EachTrajectoryChoosesItsOwnSteps), 3 chunks of 5.
Matrix decay_rows(std::size_t n) {
  Matrix y0(n, 2);
  for (std::size_t i = 0; i < n; ++i) {
    y0(i, 0) = 1.0 + 0.1 * static_cast<double>(i % 3);
    y0(i, 1) = 0.1 * std::pow(10.0, 0.25 * static_cast<double>(i % 13));  // 0.1 .. 100
  }
  return y0;
}

// (j) per_chunk: the chunk steps with the max of its rows' error norms, so
// every row meets at least the per-trajectory accuracy: at rtol = atol = 1e-8
// each row is within the same 1e-6 of exp(-k t) as per-trajectory stepping
// (and the two agree within 2e-6). The chunk's rows share their step counts,
// the count of the stiffest row in the chunk at least.
TEST(Integrate, PerChunkSharingAgreesWithPerTrajectory) {
  const std::size_t n = 15;
  const Matrix y0 = decay_rows(n);
  IntegrateOptions o = options_for("dopri5", 0.0, 1.0);
  o.controller.rtol = o.controller.atol = 1e-8;
  o.chunk = 5;
  const IntegrateResult own = integrate(decay_field, y0, o);
  o.sharing = StepSharing::per_chunk;
  const IntegrateResult shared = integrate(decay_field, y0, o);
  ASSERT_TRUE(shared.all_succeeded()) << shared.failure_summary();
  for (std::size_t i = 0; i < n; ++i) {
    const double exact = y0(i, 0) * std::exp(-y0(i, 1));
    EXPECT_NEAR(shared.final_state(i, 0), exact, 1e-6) << "row " << i;
    EXPECT_NEAR(shared.final_state(i, 0), own.final_state(i, 0), 2e-6) << "row " << i;
    const std::size_t first = i / 5 * 5;
    EXPECT_EQ(shared.stats[i].accepted, shared.stats[first].accepted) << "row " << i;
    EXPECT_EQ(shared.stats[i].rejected, shared.stats[first].rejected) << "row " << i;
    EXPECT_EQ(shared.stats[i].rhs_evaluations, shared.stats[first].rhs_evaluations) << "row " << i;
  }
  for (std::size_t c = 0; c < 3; ++c) {
    std::size_t stiffest = 0;
    for (std::size_t i = 5 * c; i < 5 * c + 5; ++i) stiffest = std::max(stiffest, own.stats[i].accepted);
    // The shared step is never larger than the stiffest row's own choice would
    // be at the same error; allow 20% for the differing step histories.
    EXPECT_GE(static_cast<double>(shared.stats[5 * c].accepted), 0.8 * static_cast<double>(stiffest)) << c;
  }
  // One-row chunks: per_chunk is exactly per-trajectory stepping.
  o.chunk = 1;
  const IntegrateResult single = integrate(decay_field, y0, o);
  EXPECT_EQ(single.final_state, own.final_state);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(single.stats[i].accepted, own.stats[i].accepted);
}

// (k) per_chunk: every field call sees one time for all its rows (what the
// random-feature kernel shares), and results are bitwise identical for 1 and 2 threads.
TEST(Integrate, PerChunkSharingOneTimePerCallAndThreadIndependent) {
  const std::size_t n = 200;
  const Matrix y0 = decay_rows(n);
  std::atomic<int> mixed_calls{0};
  VectorField field = [&](std::span<const double> t, MatrixView y, std::span<double> dy) {
    for (std::size_t r = 1; r < t.size(); ++r)
      if (t[r] != t[0]) ++mixed_calls;
    decay_field(t, y, dy);
  };
  IntegrateOptions o = options_for("tsit5", 0.0, 2.0);
  o.sharing = StepSharing::per_chunk;
  o.initial_step = 1e-3;  // the automatic first step probes each row at its own trial time
  o.chunk = 16;
  o.save_at = {0.5, 1.5};
  auto run = [&](int threads) {
    IntegrateResult r;
    tbb::task_arena(threads).execute([&] { r = integrate(field, y0, o); });
    return r;
  };
  const IntegrateResult a = run(1), b = run(2);
  EXPECT_EQ(mixed_calls.load(), 0);
  ASSERT_TRUE(a.all_succeeded()) << a.failure_summary();
  EXPECT_EQ(a.final_state, b.final_state);
  for (std::size_t k = 0; k < a.saved.size(); ++k) EXPECT_EQ(a.saved[k], b.saved[k]);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(a.stats[i].accepted, b.stats[i].accepted);
  EXPECT_EQ(a.total_rhs_evaluations, b.total_rhs_evaluations);
  // Defaults (rtol = atol = 1e-6) over [0, 2]: within 1e-4 of exp(-2 k).
  for (std::size_t i = 0; i < n; i += 7) EXPECT_NEAR(a.final_state(i, 0), y0(i, 0) * std::exp(-2.0 * y0(i, 1)), 1e-4);
}

// (l) per_chunk failures stay per row: a row whose field turns NaN stops
// there; the rest of its chunk goes on to t1 and keeps its accuracy.
TEST(Integrate, PerChunkSharingDropsOnlyTheFailingRow) {
  const VectorField field = nan_for_row_3_after_half();
  const Matrix y0 = decay_rows_with_ids(6);
  IntegrateOptions o = options_for("dopri5", 0.0, 1.0);
  o.sharing = StepSharing::per_chunk;
  const IntegrateResult r = integrate(field, y0, o);
  for (std::size_t i = 0; i < 6; ++i) {
    if (i == 3) continue;
    EXPECT_EQ(r.stats[i].status, TrajectoryStatus::success) << i;
    EXPECT_NEAR(r.final_state(i, 0), std::exp(-1.0), 1e-5) << i;
  }
  ASSERT_EQ(r.stats[3].status, TrajectoryStatus::non_finite);
  EXPECT_LE(r.stats[3].failure_time, 0.5);
  EXPECT_GT(r.stats[3].failure_time, 0.0);
  EXPECT_NEAR(r.final_state(3, 0), std::exp(-r.stats[3].failure_time), 1e-5);
  EXPECT_LT(r.stats[3].accepted, r.stats[0].accepted);
  EXPECT_NE(r.failure_summary().find("trajectory 3 (non_finite"), std::string::npos) << r.failure_summary();
  expect_invalid([] { parse_step_sharing("per_batch"); }, "sharing");
  EXPECT_EQ(parse_step_sharing(to_string(StepSharing::per_chunk)), StepSharing::per_chunk);
}

// (i) Misuse throws InvalidArgument naming the field.
TEST(Integrate, BadOptionsNameTheField) {
  const Matrix y0(2, 1, 1.0);
  auto with = [&](auto edit) {
    return [&, edit] {
      IntegrateOptions o = options_for("dopri5", 0.0, 1.0);
      edit(o);
      integrate(cos_field, y0, o);
    };
  };
  expect_invalid(with([](IntegrateOptions& o) { o.controller.rtol = 0.0; }), "rtol");
  expect_invalid(with([](IntegrateOptions& o) { o.controller.atol = -1.0; }), "atol");
  expect_invalid([] { parse_rk_method("rk45"); }, "method");  // methods are an enum: only a name can be wrong
  expect_invalid(with([](IntegrateOptions& o) { o.t1 = o.t0; }), "t1");
  expect_invalid(with([](IntegrateOptions& o) { o.method = RkMethod::rk4; }), "fixed_step");
  expect_invalid(with([](IntegrateOptions& o) { o.save_at = {1.5}; }), "save_at");
  expect_invalid(with([](IntegrateOptions& o) { o.chunk = 0; }), "chunk");
  expect_invalid([] { tableau_by_name("nope"); }, "method");
  expect_invalid([] { integrate(cos_field, Matrix(1, 1, std::nan("")), options_for("dopri5", 0.0, 1.0)); },
                 "initial_state");
}

}  // namespace
