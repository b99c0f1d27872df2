// `gengap study smoothing` as a user runs it (GENGAP_CLI_PATH): the results
// folder of a tiny S6 run (config.json, rows.csv, rows.npy, histograms, samples,
// training sets, plots), the table on stdout, and one-line errors naming the
// key with exit code 2 and nothing written, and Ctrl-C: exit code 130 with
// the finished rows kept and listed consistently.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "gengap/generalization/io/npy.hpp"
#include "gengap/generalization/plots/plot.hpp"

namespace gengap {
namespace {

namespace fs = std::filesystem;
using testing_cli::Outcome;
using testing_cli::read;

// Two dimensions, 5 points, one smoothing width and one small model: ~2 s.
const std::string kTiny =
    " --quiet --threads 2 --set 'dims=[1,2]' --set segment.points=5 --set sampler.samples=200"
    " --set 'smoothing.deltas=[0.5]' --set 'model.tau_positions=[1]' --set model.m=32"
    " --set train_loss.draws_per_sample=128 --set likelihood.heldout_points=20";

class CliSmoothingStudy : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gengap_cli_smoothing_test_" + std::to_string(::getpid()) + "_" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  Outcome gengap(const std::string& arguments) const { return testing_cli::run_gengap(dir_, arguments); }
  fs::path dir_;
};

TEST_F(CliSmoothingStudy, WritesACompleteConsistentFolder) {
  const fs::path out = dir_ / "smoothing";
  // A stale samples file from an earlier run must not survive.
  fs::create_directories(out / "samples");
  { std::ofstream(out / "samples" / "d7_model_3.npy") << "old"; }
  const Outcome o = gengap("study smoothing --out '" + out.string() + "'" + kTiny);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("gengap study smoothing (S6)"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("empirical"), std::string::npos) << o.out;

  const auto config = nlohmann::json::parse(read(out / "config.json"));
  EXPECT_EQ(config["study"], "smoothing");
  EXPECT_EQ(config["status"], "complete");
  EXPECT_EQ(config["config"]["model"]["m"], 32);
  EXPECT_TRUE(config["environment"].contains("gengap_version"));
  ASSERT_EQ(config["rows"].size(), 6u);
  EXPECT_EQ(config["rows_total"], 6);
  EXPECT_EQ(config["rows"][0]["label"], "d=1 empirical");
  EXPECT_EQ(config["rows"][4]["score"], "smoothed");

  // rows.csv and rows.npy hold the same rows; every samples file listed exists with N x d.
  std::istringstream csv(read(out / "rows.csv"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0].rfind("label,score,d,kind,variant,delta", 0), 0u) << lines[0];
  const std::size_t columns = config["columns"].size();
  EXPECT_EQ(static_cast<std::size_t>(std::count(lines[1].begin(), lines[1].end(), ',')), columns + 1);
  const NpyArray table = read_npy(out / "rows.npy");
  EXPECT_EQ(table.shape, (std::vector<std::size_t>{6, columns}));
  for (std::size_t r = 0; r < 6; ++r) {
    const auto& row = config["rows"][r];
    EXPECT_EQ(table.values[r * columns + 7], row["memorized_fraction"].get<double>());
    const NpyArray samples = read_npy(out / row["samples_file"].get<std::string>());
    EXPECT_EQ(samples.shape, (std::vector<std::size_t>{200, row["d"].get<std::size_t>()}));
  }
  EXPECT_FALSE(fs::exists(out / "samples" / "d7_model_3.npy"));
  EXPECT_EQ(read_npy(out / "histograms.npy").shape, (std::vector<std::size_t>{6, 32}));  // 8 bins x 4 spacings
  EXPECT_EQ(read_npy(out / "training" / "d2.npy").shape, (std::vector<std::size_t>{5, 2}));
  if (gnuplot_available()) {
    for (const char* png : {"histograms_d1.png", "histograms_d2.png", "memorization.png", "likelihood.png"})
      EXPECT_TRUE(fs::exists(out / "plots" / png)) << png;
  }
  for (const auto& entry : fs::recursive_directory_iterator(out))
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();

  // The folder's config.json repeats the run: the same samples.
  const fs::path again = dir_ / "again";
  const Outcome repeat = gengap("study smoothing --config '" + (out / "config.json").string() + "' --out '" +
                                again.string() + "' --quiet --set 'dims=[2]' --set model.enabled=false");
  ASSERT_EQ(repeat.exit_code, 0) << repeat.err;
  EXPECT_EQ(read(again / "samples" / "d2_smoothed_0.npy"), read(out / "samples" / "d2_smoothed_0.npy"));
}

TEST_F(CliSmoothingStudy, BadInputExitsTwoWithOneLineNamingTheKey) {
  const fs::path out = dir_ / "never";
  const struct {
    std::string arguments, message;
  } cases[] = {
      {"study smoothing --set 'smoothing.deltas=[0.5,-1]'", "gengap: error: smoothing.deltas[1]: must be positive"},
      {"study smoothing --set segment.width=3", "gengap: error: segment.width: unknown key"},
      {"study smoothing --set target.mu=2", "gengap: error: target: unknown key"},
      {"study smoothing --set model.m=0", "gengap: error: model.m: "},
      {"study smoothing --set sampler.method=leapfrog", "gengap: error: sampler.method: "},
      {"study smoothing --set 'dims=[0]'", "gengap: error: dims[0]: "},
  };
  for (const auto& c : cases) testing_cli::expect_rejected(dir_, c.arguments, c.message, out);
}

TEST_F(CliSmoothingStudy, InterruptKeepsTheFinishedRowsWhole) {
  // d = 1 takes a second; the models in d = 16 take seconds each, so the
  // interrupt lands with rows unfinished.
  const fs::path out = dir_ / "smoothing";
  const std::vector<std::string> arguments = {"study", "smoothing", "--out", out.string(), "--quiet", "--threads", "2",
                                              "--set", "dims=[1,16]", "--set", "sampler.samples=300", "--set",
                                              "likelihood.heldout_points=40", "--set", "model.tau_positions=[0.5,1]"};
  const pid_t pid = testing_cli::spawn_gengap(arguments, dir_ / "stdout.txt", dir_ / "stderr.txt");
  ASSERT_GT(pid, 0);
  const auto finished_rows = [&] {
    try {
      return nlohmann::json::parse(read(out / "config.json"))["rows"].size();
    } catch (const std::exception&) {
      return std::size_t{0};  // not written yet
    }
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (finished_rows() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(finished_rows(), 0u) << read(dir_ / "stderr.txt");
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 130);

  // config.json, rows.csv, rows.npy and samples/ describe the same finished rows.
  const auto config = nlohmann::json::parse(read(out / "config.json"));
  EXPECT_EQ(config["status"], "interrupted");
  const std::size_t kept = config["rows"].size(), total = config["rows_total"].get<std::size_t>();
  EXPECT_GE(kept, 1u);
  EXPECT_LT(kept, total);
  const std::string csv = read(out / "rows.csv");
  EXPECT_EQ(static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')), kept + 1);
  EXPECT_EQ(read_npy(out / "rows.npy").shape.front(), kept);
  std::size_t samples = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(out / "samples")) ++samples;
  EXPECT_EQ(samples, kept);
  for (const auto& row : config["rows"]) EXPECT_TRUE(fs::exists(out / row["samples_file"].get<std::string>()));
  for (const auto& entry : fs::recursive_directory_iterator(out))
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  const std::string line = "gengap: interrupted: kept " + std::to_string(kept) + " of " + std::to_string(total) + " rows";
  EXPECT_NE(read(dir_ / "stderr.txt").find(line), std::string::npos) << read(dir_ / "stderr.txt");
}

}  // namespace
}  // namespace gengap
