// Figures drawn with gnuplot (generalization/plots/plot.hpp): a real PNG replaces
// the old one atomically, the data file holds exactly the series' numbers, the
// script re-renders from anywhere, bad figures are rejected naming the field
// before anything is written, and a missing or failing gnuplot is reported
// without leaving temporaries or a damaged PNG.
#include "gengap/generalization/plots/plot.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace gengap {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

bool is_png(const std::string& bytes) { return bytes.size() > 8 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0; }

// S1's first plot: losses and KL (with standard errors) against tau, log axes.
Figure loss_figure() {
  PlotPanel panel;
  panel.title = "losses";
  panel.x_label = "training time tau";
  panel.y_label = "loss";
  panel.log_x = true;
  panel.log_y = true;
  std::vector<double> tau, train, pop, kl, se;
  for (int i = 0; i < 30; ++i) {
    const double t = std::pow(10.0, 2.0 + 0.25 * i);
    tau.push_back(t);
    train.push_back(0.2 + 1.0 / (1.0 + 1e-4 * t));
    pop.push_back(0.25 + 1.0 / (1.0 + 1e-4 * t) + 1e-9 * t);
    kl.push_back(0.05 + 0.5 / (1.0 + 1e-4 * t));
    se.push_back(0.01 * kl.back());
  }
  panel.series.push_back({"L_n (empirical)", tau, train, {}, SeriesStyle::lines});
  panel.series.push_back({"L (population)", tau, pop, {}, SeriesStyle::lines_points});
  panel.series.push_back({"KL(p_0 || p_theta), ODE", tau, kl, se, SeriesStyle::lines});
  Figure figure;
  figure.title = "S1: it's {early} stopping";  // quote and enhanced-text characters shown literally
  figure.panels.push_back(panel);
  return figure;
}

class Plot : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gengap_plot_test_" + std::to_string(::getpid()) + "_" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void require_gnuplot() {
    ASSERT_TRUE(gnuplot_available()) << "gnuplot is not installed (scripts/bootstrap.sh installs gnuplot-nox)";
  }
  fs::path dir_;
};

TEST_F(Plot, WritesPngScriptAndDataAndNothingElse) {
  require_gnuplot();
  const Figure figure = loss_figure();
  const PlotFiles files = write_plot(figure, dir_ / "losses.png");
  EXPECT_EQ(files.script, dir_ / "losses.gp");
  EXPECT_EQ(files.data, dir_ / "losses.dat");
  const std::string png = read(dir_ / "losses.png");
  EXPECT_TRUE(is_png(png));
  // A 640 x 420 plot with axes, three curves and a legend compresses to tens
  // of kB; an empty or error image would be a few hundred bytes.
  EXPECT_GT(png.size(), 5000u);
  EXPECT_EQ(names_in(dir_), (std::set<std::string>{"losses.dat", "losses.gp", "losses.png"}));

  const std::string script = read(files.script);
  EXPECT_NE(script.find("set logscale x"), std::string::npos);
  EXPECT_NE(script.find("set logscale y"), std::string::npos);
  EXPECT_NE(script.find("'L\\_n (empirical)'"), std::string::npos) << script;
  EXPECT_NE(script.find("it''s \\{early\\} stopping"), std::string::npos) << script;
  EXPECT_NE(script.find("using 1:2:3 with yerrorlines"), std::string::npos) << script;

  // The data file holds the series' numbers exactly (%.17g round-trips), one
  // block per series in plot order.
  std::istringstream data(read(files.data));
  std::vector<std::vector<std::vector<double>>> blocks(1);
  std::string line;
  int blank = 0;
  while (std::getline(data, line)) {
    if (line.empty()) {
      if (++blank == 2) blocks.emplace_back();
      continue;
    }
    blank = 0;
    if (line[0] == '#') continue;
    std::istringstream fields(line);
    std::vector<double> row;
    for (double v; fields >> v;) row.push_back(v);
    blocks.back().push_back(row);
  }
  const auto& series = figure.panels[0].series;
  ASSERT_EQ(blocks.size(), series.size());
  for (std::size_t k = 0; k < series.size(); ++k) {
    ASSERT_EQ(blocks[k].size(), series[k].x.size()) << k;
    for (std::size_t i = 0; i < series[k].x.size(); ++i) {
      ASSERT_EQ(blocks[k][i].size(), series[k].y_error.empty() ? 2u : 3u);
      EXPECT_EQ(blocks[k][i][0], series[k].x[i]);
      EXPECT_EQ(blocks[k][i][1], series[k].y[i]);
      if (!series[k].y_error.empty()) { EXPECT_EQ(blocks[k][i][2], series[k].y_error[i]); }
    }
  }
}

TEST_F(Plot, LegendGoesOutsideWhenAsked) {
  Figure figure = loss_figure();
  EXPECT_NE(gnuplot_script(figure, dir_ / "a.png").find("set key inside right top"), std::string::npos);
  EXPECT_EQ(gnuplot_script(figure, dir_ / "a.png").find("set key outside"), std::string::npos);
  figure.panels[0].key_outside = true;
  EXPECT_NE(gnuplot_script(figure, dir_ / "a.png").find("set key outside right top"), std::string::npos);
  if (gnuplot_available()) { EXPECT_TRUE(is_png(read(write_plot(figure, dir_ / "outside.png").png))); }
}

TEST_F(Plot, DensitySnapshotsAsPanelsWithMissingValues) {
  require_gnuplot();
  std::vector<double> grid, target;
  for (int i = 0; i <= 200; ++i) {
    const double x = -8.0 + 0.08 * i;
    grid.push_back(x);
    target.push_back(0.5 * (std::exp(-0.5 * (x - 3) * (x - 3)) + std::exp(-0.5 * (x + 3) * (x + 3))) /
                     std::sqrt(2 * M_PI));
  }
  std::vector<std::vector<double>> learned;
  const std::vector<double> tau = {1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
  for (std::size_t k = 0; k < tau.size(); ++k) {
    std::vector<double> p(grid.size());
    for (std::size_t i = 0; i < grid.size(); ++i) p[i] = target[i] * (1.0 + 0.1 * k * std::sin(3 * grid[i]));
    learned.push_back(p);
  }
  learned[2][100] = std::numeric_limits<double>::quiet_NaN();  // a failed point: drawn as a gap
  const Figure figure = density_snapshot_figure("S1 densities", grid, target, learned, tau);
  ASSERT_EQ(figure.panels.size(), 6u);
  const PlotFiles files = write_plot(figure, dir_ / "plots" / "densities.png");  // folder created
  const std::string png = read(files.png);
  EXPECT_TRUE(is_png(png));
  EXPECT_GT(png.size(), 10000u);  // six panels of curves
  EXPECT_NE(read(files.script).find("set multiplot layout 2,3"), std::string::npos);
  EXPECT_NE(read(files.script).find("data index 11 "), std::string::npos);  // 6 panels x 2 curves
  EXPECT_NE(read(files.data).find(" ?\n"), std::string::npos);
  EXPECT_EQ(names_in(dir_ / "plots"), (std::set<std::string>{"densities.dat", "densities.gp", "densities.png"}));
}

// The script is the user's: run from another folder, it finds its data and
// writes the PNG beside itself.
TEST_F(Plot, ScriptRerendersFromAnotherFolder) {
  require_gnuplot();
  const PlotFiles files = write_plot(loss_figure(), dir_ / "losses.png");
  const std::string first = read(files.png);
  fs::remove(files.png);
  const std::string command = "cd / && gnuplot '" + files.script.string() + "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  EXPECT_EQ(read(files.png).size(), first.size());
  EXPECT_TRUE(is_png(read(files.png)));
}

TEST_F(Plot, BadFiguresNameTheFieldAndWriteNothing) {
  const fs::path png = dir_ / "bad.png";
  const auto with = [](auto change) {
    Figure f = loss_figure();
    change(f);
    return f;
  };
  const auto series = [](Figure& f, std::size_t k) -> PlotSeries& { return f.panels[0].series[k]; };
  expect_invalid([&] { write_plot(with([&](Figure& f) { series(f, 1).y.pop_back(); }), png); },
                 "panels[0].series[1].y");
  expect_invalid([&] { write_plot(with([&](Figure& f) { series(f, 2).y_error.pop_back(); }), png); },
                 "panels[0].series[2].y_error");
  expect_invalid([&] { write_plot(with([&](Figure& f) { series(f, 2).y_error[3] = -1.0; }), png); },
                 "panels[0].series[2].y_error");
  expect_invalid([&] { write_plot(with([&](Figure& f) { series(f, 0).x.clear(), series(f, 0).y.clear(); }), png); },
                 "panels[0].series[0].x");
  expect_invalid([&] { write_plot(with([&](Figure& f) { series(f, 0).x[0] = 0.0; }), png); },
                 "panels[0].series[0].x");  // log x axis
  expect_invalid([&] { write_plot(with([&](Figure& f) { series(f, 1).y[4] = -0.5; }), png); },
                 "panels[0].series[1].y");  // log y axis
  expect_invalid([&] { write_plot(with([&](Figure& f) { series(f, 1).y[4] = INFINITY; }), png); },
                 "panels[0].series[1].y");
  expect_invalid([&] { write_plot(with([&](Figure& f) { series(f, 1).x[2] = NAN; }), png); },
                 "panels[0].series[1].x");
  expect_invalid(
      [&] { write_plot(with([&](Figure& f) { series(f, 0).y.assign(series(f, 0).x.size(), NAN); }), png); },
      "panels[0].series[0].y");
  expect_invalid([&] { write_plot(with([&](Figure& f) { f.panels[0].series.clear(); }), png); }, "panels[0].series");
  expect_invalid([&] { write_plot(with([&](Figure& f) { f.panels.clear(); }), png); }, "panels");
  expect_invalid([&] { write_plot(with([&](Figure& f) { f.columns = 2; }), png); }, "columns");
  expect_invalid([&] { write_plot(loss_figure(), dir_ / "bad.jpg"); }, "png");
  const std::vector<double> grid = {0, 1, 2}, target = {1, 2, 3};
  expect_invalid([&] { density_snapshot_figure("t", grid, target, {{1, 2, 3}}, std::vector<double>{1, 2}); }, "tau");
  // Non-positive values are fine on linear axes.
  EXPECT_NO_THROW(with([&](Figure& f) { f.panels[0].log_x = f.panels[0].log_y = false, series(f, 0).x[0] = -1; })
                      .validate());
  EXPECT_TRUE(names_in(dir_).empty());
}

TEST_F(Plot, MissingGnuplotIsReportedAndTheScriptKept) {
  PlotOptions options;
  options.gnuplot = (dir_ / "no-such-gnuplot").string();
  try {
    write_plot(loss_figure(), dir_ / "losses.png", options);
    ADD_FAILURE() << "expected GnuplotNotFound";
  } catch (const GnuplotNotFound& e) {
    EXPECT_NE(std::string(e.what()).find("gnuplot"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(gnuplot_available(options));
  // The user can still render it elsewhere.
  EXPECT_EQ(names_in(dir_), (std::set<std::string>{"losses.dat", "losses.gp"}));
}

// A gnuplot that fails (here `false`, exit 1, no image) leaves the previous
// PNG byte for byte and no temporary.
TEST_F(Plot, FailingGnuplotLeavesThePreviousPng) {
  require_gnuplot();
  write_plot(loss_figure(), dir_ / "losses.png");
  const std::string before = read(dir_ / "losses.png");
  PlotOptions options;
  options.gnuplot = "false";
  EXPECT_THROW(write_plot(loss_figure(), dir_ / "losses.png", options), std::runtime_error);
  options.gnuplot = "true";  // exits 0 but writes no image
  EXPECT_THROW(write_plot(loss_figure(), dir_ / "losses.png", options), std::runtime_error);
  EXPECT_EQ(read(dir_ / "losses.png"), before);
  EXPECT_EQ(names_in(dir_), (std::set<std::string>{"losses.dat", "losses.gp", "losses.png"}));
}

}  // namespace
}  // namespace gengap
