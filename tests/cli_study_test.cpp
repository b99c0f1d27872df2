// `gengap study` as a user runs it (GENGAP_CLI_PATH): the results folder of a
// tiny capacity study (files, config.json, settings.csv, summary.npy, one S1
// folder per setting), one-line errors naming the key with exit code 2 and
// nothing written, and Ctrl-C: exit code 130 with the finished settings kept
// whole and listed consistently, and no temporary file left anywhere.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "study_folder_checks.hpp"
#include "gengap/generalization/io/npy.hpp"
#include "gengap/generalization/plots/plot.hpp"

namespace gengap {
namespace {

namespace fs = std::filesystem;
using testing_cli::Outcome;
using testing_cli::read;
using testing_cli::expect_consistent_folder;

// Each setting in well under a second: KL at 6 of 15 taus by quadrature
// (loose tolerances) and at the 3 saved ones by Monte Carlo over 100 points.
const std::vector<std::string> kTiny = {
    "--quiet", "--set", "n=150", "--set", "train_loss.draws_per_sample=8", "--set", "population_loss.time_nodes=48",
    "--set", "population_loss.space_nodes=12", "--set", "tau.points=15", "--set", "tau.saved=3", "--set",
    "kl.test_points=100", "--set", "kl.rtol=1e-3", "--set", "kl.atol=1e-3", "--set", "kl.quadrature_rtol=1e-4",
    "--set", "kl.quadrature_atol=1e-4", "--set", "kl.quadrature_nodes=65", "--set", "kl.quadrature_tolerance=1e-2",
    "--set", "kl.tau_stride=3", "--set", "kl.ode_tau_stride=100", "--set", "kl.score_integral=false", "--set",
    "bounds.enabled=false"};

std::string joined(const std::vector<std::string>& arguments) {
  std::string text;
  for (const std::string& a : arguments) text += " '" + a + "'";
  return text;
}

class CliStudy : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gengap_cli_study_test_" + std::to_string(::getpid()) + "_" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  Outcome gengap(const std::string& arguments) const { return testing_cli::run_gengap(dir_, arguments); }
  fs::path dir_;
};


TEST_F(CliStudy, WritesACompleteConsistentFolder) {
  const fs::path out = dir_ / "capacity";
  const Outcome o = gengap("study capacity --out '" + out.string() + "' --threads 2 --set 'sweep.values=[8,16,32]'" +
                           joined(kTiny));
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("gengap study capacity (S3)"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("min_tau KL vs m: slope"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("paper: -0.8"), std::string::npos) << o.out;

  const auto config = nlohmann::json::parse(read(out / "config.json"));
  EXPECT_EQ(config["study"], "capacity");
  EXPECT_EQ(config["status"], "complete");
  EXPECT_EQ(config["config"]["sweep"]["values"], nlohmann::json::parse("[8.0, 16.0, 32.0]"));
  EXPECT_EQ(config["config"]["n"], 150);
  EXPECT_FALSE(config["config"]["model"].contains("m"));
  EXPECT_TRUE(config["environment"].contains("gengap_version"));
  EXPECT_GT(config["timings"]["total"].get<double>(), 0.0);
  ASSERT_EQ(config["summary"]["fits"].size(), 3u);
  EXPECT_EQ(config["summary"]["fits"][0]["name"], "kl_best_vs_m");
  EXPECT_EQ(config["summary"]["fits"][0]["fit"]["points"], 3);
  EXPECT_EQ(expect_consistent_folder(out, 3), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_TRUE(fs::exists(out / "settings" / "1_model.m=16" / "config.json"));
  const auto s1 = nlohmann::json::parse(read(out / "settings" / "1_model.m=16" / "config.json"));
  EXPECT_EQ(s1["config"]["model"]["m"], 16);
  // The fixed tau (1e5 per feature) is in the setting's grid.
  EXPECT_EQ(s1["config"]["tau"]["include"], nlohmann::json::parse("[1600000.0]"));
  if (gnuplot_available()) {
    for (const char* png : {"kl.png", "densities.png", "fits.png"}) EXPECT_TRUE(fs::exists(out / "plots" / png)) << png;
  }

  // The folder's config.json repeats the run's configuration.
  const fs::path again = dir_ / "again";
  const Outcome repeat = gengap("study capacity --config '" + (out / "config.json").string() + "' --out '" +
                                again.string() + "' --quiet --set 'sweep.values=[8]'");
  ASSERT_EQ(repeat.exit_code, 0) << repeat.err;
  EXPECT_EQ(read(again / "settings" / "0_model.m=8" / "curves.csv"), read(out / "settings" / "0_model.m=8" / "curves.csv"));
}

TEST_F(CliStudy, DiffusionTimeReportsTheBoundAndBothMinimisers) {
  const fs::path out = dir_ / "diffusion-time";
  const Outcome o = gengap("study diffusion-time --out '" + out.string() +
                           "' --threads 2 --set 'sweep.values=[0.5,2,6]' --set model.embedding=linear --set model.m=64" +
                           joined(kTiny));
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("gengap study diffusion-time (S5)"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("bound terms (R = 5"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("argmin_T bound vs argmin_T measured KL:"), std::string::npos) << o.out;
  const auto config = nlohmann::json::parse(read(out / "config.json"));
  EXPECT_EQ(config["status"], "complete");
  EXPECT_EQ(config["config"]["sweep"]["bound_R"], 5.0);
  EXPECT_FALSE(config["config"]["schedule"].contains("T"));
  ASSERT_EQ(config["summary"]["minimizers"].size(), 4u);
  EXPECT_EQ(config["summary"]["minimizers"][0]["name"], "bound_fixed");
  EXPECT_TRUE(config["summary"]["argmin_agrees_fixed"].is_boolean());
  EXPECT_EQ(expect_consistent_folder(out, 3), (std::vector<std::size_t>{0, 1, 2}));
  const std::string csv = read(out / "settings.csv");
  EXPECT_NE(csv.find(",bound_fixed,"), std::string::npos);
  if (gnuplot_available()) { EXPECT_TRUE(fs::exists(out / "plots" / "bound.png")); }
}

TEST_F(CliStudy, BadInputExitsTwoWithOneLineNamingTheKey) {
  const fs::path out = dir_ / "never";
  const struct {
    std::string arguments, message;
  } cases[] = {
      {"study capacity --set 'sweep.values=[16,-1]'", "gengap: error: sweep.values[1]: must be positive"},
      {"study capacity --set sweep.values=16,32", "gengap: error: sweep.values: expected an array of numbers"},
      {"study capacity --set sweep.speed=2", "gengap: error: sweep.speed: unknown key"},
      {"study capacity --set model.m=64", "gengap: error: model.m: set by the capacity study's sweep.values"},
      {"study sample-size --set kl.rtol=fast", "gengap: error: kl.rtol: expected a number"},
      {"study modes-shift --set sweep.fixed_tau=0", "gengap: error: sweep.fixed_tau: must be positive"},
      {"study capacitance", "gengap: error: study: unknown study 'capacitance'"},
  };
  for (const auto& c : cases) testing_cli::expect_rejected(dir_, c.arguments, c.message, out);
}

TEST_F(CliStudy, InterruptKeepsTheFinishedSettingsWhole) {
  const fs::path out = dir_ / "capacity";
  // One setting at a time, cheapest first; the later ones take seconds, so
  // the interrupt lands while some are unfinished.
  std::vector<std::string> arguments = {"study", "capacity", "--out", out.string(), "--threads", "2", "--set",
                                        "sweep.values=[8,16,256,512,1024]", "--set", "sweep.max_parallel=1"};
  arguments.insert(arguments.end(), kTiny.begin(), kTiny.end());
  const pid_t pid = testing_cli::spawn_gengap(arguments, dir_ / "stdout.txt", dir_ / "stderr.txt");
  ASSERT_GT(pid, 0);
  const fs::path first = out / "settings" / "0_model.m=8" / "config.json";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(first) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(fs::exists(first)) << read(dir_ / "stderr.txt");
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 130);

  const std::string err = read(dir_ / "stderr.txt");
  const auto config = nlohmann::json::parse(read(out / "config.json"));
  EXPECT_EQ(config["status"], "interrupted");
  const std::vector<std::size_t> kept = expect_consistent_folder(out, 5);
  ASSERT_GE(kept.size(), 1u);
  EXPECT_LT(kept.size(), 5u);
  EXPECT_EQ(kept.front(), 0u);
  const std::string line = "gengap: interrupted: kept " + std::to_string(kept.size()) + " of 5 settings in ";
  EXPECT_NE(err.find(line), std::string::npos) << err;
}

}  // namespace
}  // namespace gengap
