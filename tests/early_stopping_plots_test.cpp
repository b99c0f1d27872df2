// S1's figures (generalization/plots/early_stopping_plots.hpp): the series are the
// result's columns, non-positive KL estimates are left off the log axis (never
// clipped to a fake value), and rendering writes the three PNGs or removes a
// stale figure that has nothing to draw.
#include "gengap/generalization/plots/early_stopping_plots.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace gengap {
namespace {

namespace fs = std::filesystem;
constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// A synthetic result: 8 taus, KL by quadrature at all, by the ODE at even
// rows (one of them negative, as Monte Carlo noise makes near 0), 2 snapshots.
EarlyStoppingResult synthetic_result() {
  EarlyStoppingResult r;
  for (int i = 0; i < 8; ++i) {
    r.tau.push_back(std::pow(10.0, 3 + i));
    r.loss_train.push_back(0.4 - 0.03 * i);
    r.loss_pop.push_back(0.41 - 0.02 * i);
    r.gap.push_back(r.loss_pop.back() - r.loss_train.back());
    KlRow row;
    row.evaluated = true;
    row.quad = 2.0 / (1 + i);
    row.score_integral = 3.0 / (1 + i);
    if (i % 2 == 0) {
      row.ode = (i == 4) ? -0.01 : 2.1 / (1 + i);
      row.ode_se = 0.02;
    }
    r.kl.push_back(row);
  }
  for (int k = 0; k < 2; ++k) {
    DensitySnapshot s;
    s.index = 7 * k;
    s.tau = r.tau[s.index];
    for (int j = 0; j <= 40; ++j) {
      const double x = -6 + 0.3 * j;
      s.x.push_back(x);
      s.p0.push_back(0.5 * (std::exp(-0.5 * (x - 3) * (x - 3)) + std::exp(-0.5 * (x + 3) * (x + 3))) /
                     std::sqrt(2 * M_PI));
      s.p_theta.push_back(std::exp(-0.5 * x * x / 9) / std::sqrt(18 * M_PI));
    }
    r.densities.push_back(s);
  }
  return r;
}

TEST(EarlyStoppingPlots, LossFigureHoldsTheLossColumns) {
  const EarlyStoppingResult r = synthetic_result();
  const Figure f = early_stopping_loss_figure(r);
  ASSERT_EQ(f.panels.size(), 2u);
  ASSERT_EQ(f.panels[0].series.size(), 2u);
  EXPECT_TRUE(f.panels[0].log_x && f.panels[0].log_y);
  EXPECT_EQ(f.panels[0].series[0].y, r.loss_train);
  EXPECT_EQ(f.panels[0].series[1].y, r.loss_pop);
  EXPECT_EQ(f.panels[1].series[0].y, r.gap);
  EXPECT_FALSE(f.panels[1].log_y);  // the gap changes sign
  EXPECT_NO_THROW(f.validate());
}

TEST(EarlyStoppingPlots, KlFigureDropsNonPositiveEstimatesAndKeepsErrors) {
  const EarlyStoppingResult r = synthetic_result();
  const Figure f = early_stopping_kl_figure(r);
  ASSERT_EQ(f.panels.size(), 1u);
  ASSERT_EQ(f.panels[0].series.size(), 3u);
  const PlotSeries& quad = f.panels[0].series[0];
  const PlotSeries& ode = f.panels[0].series[1];
  const PlotSeries& paper = f.panels[0].series[2];
  for (std::size_t i = 0; i < r.tau.size(); ++i) {
    EXPECT_EQ(quad.y[i], r.kl[i].quad);
    EXPECT_EQ(paper.y[i], r.kl[i].score_integral);
    if (i % 2 == 1 || i == 4) {
      EXPECT_TRUE(std::isnan(ode.y[i])) << i;  // not computed, or <= 0 on a log axis
      EXPECT_TRUE(std::isnan(ode.y_error[i])) << i;
    } else {
      EXPECT_EQ(ode.y[i], r.kl[i].ode);
      EXPECT_EQ(ode.y_error[i], 0.02);
    }
  }
  EXPECT_NO_THROW(f.validate());
}

TEST(EarlyStoppingPlots, BoundsFigureHoldsTheBoundColumns) {
  EarlyStoppingResult r = synthetic_result();
  EXPECT_TRUE(early_stopping_bounds_figure(r).panels.empty());  // no bound terms computed
  r.norm_growth.assign(r.tau.size(), 1.0);
  for (std::size_t i = 0; i < r.tau.size(); ++i) {
    BoundRow b;
    b.score_matching = 1.0 + 0.1 * static_cast<double>(i);
    b.likelihood_bound = b.score_matching + 0.01;
    b.optimization_error = 1.0 / r.tau[i];
    b.optimization_bound = 4.0 / r.tau[i];
    b.monte_carlo_error = 1e-3;
    b.rademacher = 0.1;
    r.bounds.rows.push_back(b);
  }
  const Figure f = early_stopping_bounds_figure(r);
  ASSERT_EQ(f.panels.size(), 3u);
  ASSERT_EQ(f.panels[0].series.size(), 3u);  // KL (quadrature), likelihood bound, J_SM
  for (std::size_t i = 0; i < r.tau.size(); ++i) {
    EXPECT_EQ(f.panels[0].series[1].y[i], r.bounds.rows[i].likelihood_bound);
    EXPECT_EQ(f.panels[1].series[0].y[i], r.bounds.rows[i].optimization_error);
    EXPECT_EQ(f.panels[1].series[1].y[i], r.bounds.rows[i].optimization_bound);
  }
  // |L - L_n| (the synthetic gap is 0 at tau[0]: left off the log axis), Monte Carlo error,
  // norm growth, Rademacher term.
  ASSERT_EQ(f.panels[2].series.size(), 4u);
  EXPECT_TRUE(std::isnan(f.panels[2].series[0].y[0]) || f.panels[2].series[0].y[0] > 0.0);
  EXPECT_NO_THROW(f.validate());
}

TEST(EarlyStoppingPlots, NothingToDrawWithoutKlOrSnapshots) {
  EarlyStoppingResult r = synthetic_result();
  for (KlRow& row : r.kl) row = KlRow{};
  r.densities.clear();
  EXPECT_TRUE(early_stopping_kl_figure(r).panels.empty());
  EXPECT_TRUE(early_stopping_density_figure(r).panels.empty());
}

TEST(EarlyStoppingPlots, WritesThreePngsAndRemovesStaleFigures) {
  // The test command installs gnuplot (scripts/bootstrap.sh): its absence is a failure, not a skip.
  ASSERT_TRUE(gnuplot_available()) << "gnuplot is not installed (scripts/bootstrap.sh installs gnuplot-nox)";
  const fs::path dir = fs::temp_directory_path() / ("gengap_s1_plots_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  EarlyStoppingResult r = synthetic_result();
  const auto written = write_early_stopping_plots(dir, r);
  ASSERT_EQ(written.size(), 3u);
  for (const char* stem : {"losses", "kl", "densities"}) {
    std::ifstream png(dir / (std::string(stem) + ".png"), std::ios::binary);
    char signature[8] = {};
    png.read(signature, 8);
    EXPECT_EQ(std::string(signature, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << stem;
    EXPECT_TRUE(fs::exists(dir / (std::string(stem) + ".gp"))) << stem;
  }
  // A rerun without KL must not leave the old KL figure looking current.
  for (KlRow& row : r.kl) row = KlRow{};
  r.densities.clear();
  EXPECT_EQ(write_early_stopping_plots(dir, r).size(), 1u);
  EXPECT_FALSE(fs::exists(dir / "kl.png"));
  EXPECT_FALSE(fs::exists(dir / "kl.gp"));
  EXPECT_FALSE(fs::exists(dir / "densities.png"));
  EXPECT_TRUE(fs::exists(dir / "losses.png"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gengap
