// `gengap likelihood` (study S7) as a user runs it (GENGAP_CLI_PATH), on a
// model written by `gengap run`: the output equals the library's answer,
// integrates to one, agrees with Hutchinson's estimator, does not depend on
// the thread count; failed points are NaN with exit 3; bad input is one line
// naming the field, exit 2, nothing written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/generalization/io/npy.hpp"
#include "gengap/generalization/io/saved_model.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/likelihood.hpp"
#include "gengap/solvers/random_feature_likelihood.hpp"
#include "cli_support.hpp"


namespace gengap {
namespace {

namespace fs = std::filesystem;

// A small S1 model (m = 64, n = 200) whose Fourier embedding has scale 1
// instead of 30, so that the ODE needs ~2000 evaluations per point (scale 30:
// ~5000) and every likelihood run here takes a fraction of a second.
const std::string kModelSettings =
    " --quiet --set model.m=64 --set n=200 --set train_loss.draws_per_sample=16"
    " --set population_loss.time_nodes=64 --set population_loss.space_nodes=16 --set model.embedding=fourier --set model.embedding_scale=1";

using testing_cli::Outcome;
using testing_cli::read;

fs::path& suite_dir() {
  static fs::path dir;
  return dir;
}

Outcome gengap(const std::string& arguments) { return testing_cli::run_gengap(suite_dir(), arguments); }

std::string quote(const fs::path& path) { return "'" + path.native() + "'"; }

class CliLikelihood : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_dir() = fs::temp_directory_path() / ("gengap_cli_likelihood_test_" + std::to_string(::getpid()));
    fs::remove_all(suite_dir());
    fs::create_directories(suite_dir());
    const Outcome o = gengap("run --out " + quote(suite_dir() / "s1") + kModelSettings);
    ASSERT_EQ(o.exit_code, 0) << o.err;
    // 200 test points from the target 1/2 N(-3, 1) + 1/2 N(3, 1), as a vector (d = 1).
    std::vector<double> x(200);
    const CounterRng rng(11, 99);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = (i % 2 == 0 ? -3.0 : 3.0) + rng.normal(i);
    write_npy(suite_dir() / "x.npy", x);
  }
  static void TearDownTestSuite() { fs::remove_all(suite_dir()); }

  void SetUp() override {
    dir_ = suite_dir() / testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
  }

  static fs::path model() { return suite_dir() / "s1" / "model"; }
  static fs::path data() { return suite_dir() / "x.npy"; }
  // `gengap likelihood --model <model> --data <data> --out <dir_/name> <extra> --quiet`
  Outcome likelihood(const std::string& name, const std::string& extra = "",
                     const fs::path& data_file = data()) const {
    return gengap("likelihood --model " + quote(model()) + " --data " + quote(data_file) + " --out " +
                  quote(dir_ / name) + " " + extra + " --quiet");
  }
  fs::path dir_;
};

std::vector<double> values(const fs::path& path) { return read_npy(path).values; }

TEST_F(CliLikelihood, WritesWhatTheLibraryComputes) {
  const Outcome o = likelihood("logp.npy");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("bits/dim="), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("evaluations per point"), std::string::npos) << o.out;
  EXPECT_TRUE(o.err.empty()) << o.err;  // --quiet
  EXPECT_EQ(read_npy(dir_ / "logp.npy").shape, (std::vector<std::size_t>{200}));

  // The library on the same model, data and default options (dopri5,
  // rtol = atol = 1e-5, the model's t_min, last saved tau): bitwise the same,
  // since results do not depend on the thread count.
  const SavedModel saved = load_model(model());
  const Matrix x = read_npy(data()).to_matrix();
  const LikelihoodResult r =
      log_likelihood_random_features(saved.setup.schedule, saved.features, saved.weights.back(), saved.setup, x,
                                     LikelihoodOptions{});
  EXPECT_EQ(values(dir_ / "logp.npy"), r.log_p);

  const auto j = nlohmann::json::parse(read(dir_ / "logp.json"));
  EXPECT_EQ(j["tau_index"], 5);
  EXPECT_EQ(j["tau"].get<double>(), saved.tau.back());
  EXPECT_EQ(j["options"]["divergence"], "exact");
  EXPECT_EQ(j["options"]["method"], "dopri5");
  EXPECT_EQ(j["options"]["rtol"].get<double>(), 1e-5);
  EXPECT_EQ(j["options"]["t_min"].get<double>(), 1e-3);
  EXPECT_EQ(j["summary"]["failed"], 0);
  EXPECT_EQ(j["summary"]["mean_log_p"].get<double>(), r.mean_log_p());
  EXPECT_EQ(j["summary"]["mean_bits_per_dim"].get<double>(), r.mean_bits_per_dim());
  EXPECT_EQ(j["summary"]["rhs_evaluations"]["total"].get<std::size_t>(), r.total_rhs_evaluations);
  EXPECT_TRUE(j["environment"].contains("gengap_version"));
  EXPECT_GT(j["timings"]["likelihood"].get<double>(), 0.0);
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
}

// The learned density is the prior pushed through the flow, so exp(log p)
// integrates to one. Tolerance 2e-2: at rtol = 1e-5 the ODE's error in log p
// is at most 0.017 per point on this model (measured against rtol = 1e-9),
// i.e. a relative error of the density within e^0.017 - 1; the trapezoid rule
// (step 0.05; halving the grid changes the sum by < 1e-3) and the tails beyond
// |x| = 16 (log p < -8 there) add < 2e-3. A wrong divergence term (sign,
// scale c(t)/m, the d f(t) part) changes the mass by factors like e^{T}.
TEST_F(CliLikelihood, DensityIntegratesToOne) {
  std::vector<double> grid(641);
  for (std::size_t i = 0; i < grid.size(); ++i) grid[i] = -16.0 + 0.05 * static_cast<double>(i);
  write_npy(dir_ / "grid.npy", Matrix(grid.size(), 1, grid));  // the N x 1 form
  const Outcome o = likelihood("grid_logp.npy", "", dir_ / "grid.npy");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const std::vector<double> lp = values(dir_ / "grid_logp.npy");
  double mass = 0.0;
  for (std::size_t i = 0; i + 1 < grid.size(); ++i) mass += 0.5 * 0.05 * (std::exp(lp[i]) + std::exp(lp[i + 1]));
  EXPECT_NEAR(mass, 1.0, 2e-2);
  EXPECT_LT(std::max(lp.front(), lp.back()), -6.0);  // the tails left out are negligible
}

// Hutchinson's estimator in the same run: with Rademacher probes in d = 1,
// eps^T (ds/dx) eps = ds/dx exactly, so it is the exact divergence through a
// central difference of the score instead of the model's closed form; per
// point they agree within the ODE's error at rtol = 1e-5 (0.017 measured,
// tolerance 0.05). With 4 Gaussian probes per point the estimate is
// unbiased: the mean over 200 points is within 4 standard errors (from the
// probes' spread) of the exact mean.
TEST_F(CliLikelihood, AgreesWithHutchinson) {
  ASSERT_EQ(likelihood("exact.npy").exit_code, 0);
  const Outcome rademacher = likelihood("rademacher.npy", "--divergence hutchinson");
  ASSERT_EQ(rademacher.exit_code, 0) << rademacher.err;
  const Outcome gaussian =
      likelihood("gaussian.npy", "--divergence hutchinson --probes 4 --probe-distribution gaussian --seed 3");
  ASSERT_EQ(gaussian.exit_code, 0) << gaussian.err;
  EXPECT_NE(gaussian.out.find("4 gaussian probes"), std::string::npos) << gaussian.out;

  const std::vector<double> exact = values(dir_ / "exact.npy"), rad = values(dir_ / "rademacher.npy"),
                            gauss = values(dir_ / "gaussian.npy"), se = values(dir_ / "gaussian_se.npy");
  ASSERT_EQ(se.size(), exact.size());
  double difference = 0.0, variance = 0.0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    EXPECT_NEAR(rad[i], exact[i], 0.05) << i;
    EXPECT_GT(se[i], 0.0) << i;
    difference += gauss[i] - exact[i];
    variance += se[i] * se[i];
  }
  const double n = static_cast<double>(exact.size());
  EXPECT_LT(std::abs(difference / n), 4.0 * std::sqrt(variance) / n);
  const auto j = nlohmann::json::parse(read(dir_ / "gaussian.json"));
  EXPECT_EQ(j["options"]["probes"], 4);
  EXPECT_EQ(j["options"]["probe_distribution"], "gaussian");
  EXPECT_NEAR(j["summary"]["mean_log_p_probe_se"].get<double>(), std::sqrt(variance) / n, 1e-12);
}

TEST_F(CliLikelihood, SameBytesWhateverTheThreadCountAndTauIndexChosen) {
  ASSERT_EQ(likelihood("one.npy", "--threads 1").exit_code, 0);
  ASSERT_EQ(likelihood("two.npy", "--threads 2").exit_code, 0);
  EXPECT_EQ(read(dir_ / "one.npy"), read(dir_ / "two.npy"));

  ASSERT_EQ(likelihood("first.npy", "--tau-index 0").exit_code, 0);
  const auto j = nlohmann::json::parse(read(dir_ / "first.json"));
  EXPECT_EQ(j["tau_index"], 0);
  EXPECT_EQ(j["tau"].get<double>(), read_npy(model() / "tau.npy").values.front());
  EXPECT_NE(values(dir_ / "first.npy"), values(dir_ / "one.npy"));
}

// Points whose trajectory fails (here: 20 step attempts are far too few) are
// NaN in the output and counted; the run still writes everything and exits 3.
TEST_F(CliLikelihood, FailedPointsAreNanWithExitCode3) {
  const Outcome o = likelihood("logp.npy", "--max-steps 20");
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_NE(o.err.find("points failed"), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  const std::vector<double> lp = values(dir_ / "logp.npy");
  const auto failed =
      static_cast<std::size_t>(std::count_if(lp.begin(), lp.end(), [](double v) { return std::isnan(v); }));
  EXPECT_EQ(failed, lp.size());
  const auto j = nlohmann::json::parse(read(dir_ / "logp.json"));
  EXPECT_EQ(j["summary"]["failed"].get<std::size_t>(), failed);
  EXPECT_TRUE(j["summary"]["mean_log_p"].is_null());
  EXPECT_EQ(j["summary"]["first_failures"][0]["status"], "max_steps");
}

TEST_F(CliLikelihood, BadInputFailsWithOneLineNamingTheField) {
  write_npy(dir_ / "two_columns.npy", Matrix(10, 2, 0.5));
  std::vector<double> with_nan(5, 1.0);
  with_nan[3] = std::numeric_limits<double>::quiet_NaN();
  write_npy(dir_ / "nan.npy", with_nan);
  const std::vector<std::size_t> empty_shape = {0, 1};
  write_npy(dir_ / "empty.npy", std::span<const double>{}, empty_shape);
  std::ofstream(dir_ / "text.npy") << "not an npy file\n";
  const std::string m = " --model " + quote(model()), x = " --data " + quote(data()),
                    out = " --out " + quote(dir_ / "never.npy");
  const struct {
    std::string arguments;
    std::string field;
  } cases[] = {
      {" --model " + quote(dir_ / "missing") + x + out, "model"},
      {" --model " + quote(suite_dir()) + x + out, "model"},  // a folder without model.json
      {m + " --data " + quote(dir_ / "missing.npy") + out, "data"},
      {m + " --data " + quote(dir_ / "two_columns.npy") + out, "data"},
      {m + " --data " + quote(dir_ / "nan.npy") + out, "data"},
      {m + " --data " + quote(dir_ / "empty.npy") + out, "data"},
      {m + " --data " + quote(dir_ / "text.npy") + out, "data"},
      {m + x + out + " --tau-index 6", "tau_index"},
      {m + x + out + " --tau-index -1", "tau_index"},
      {m + x + out + " --rtol 0", "rtol"},
      {m + x + out + " --atol -1e-5", "atol"},
      {m + x + out + " --t-min 5", "t_min"},
      {m + x + out + " --t-min 0", "t_min"},
      {m + x + out + " --method rk45", "method"},
      {m + x + out + " --divergence approximate", "divergence"},
      {m + x + out + " --probes 4", "probes"},
      {m + x + out + " --divergence hutchinson --probes 0", "probes"},
      {m + x + out + " --divergence hutchinson --probe-distribution uniform", "probe_distribution"},
      {m + x + " --out " + quote(dir_ / "logp.txt"), "out"},
      {m + x + " --out " + quote(dir_ / "two_columns.npy" / "logp.npy"), "out"},
      {m + x, "--out"},
  };
  for (const auto& c : cases) {
    const Outcome o = gengap("likelihood" + c.arguments);
    EXPECT_EQ(o.exit_code, 2) << c.arguments;
    EXPECT_EQ(o.err.rfind("gengap: error: " + c.field, 0), 0u) << c.arguments << ": " << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << c.arguments << ": " << o.err;
    EXPECT_FALSE(fs::exists(dir_ / "never.npy")) << c.arguments;
    EXPECT_FALSE(fs::exists(dir_ / "never.json")) << c.arguments;
  }
}

}  // namespace
}  // namespace gengap
