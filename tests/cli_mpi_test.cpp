// `mpirun -np R gengap study ...` as a user runs it (GENGAP_MPI builds;
// OpenMPI's mpirun on the loopback, ranks oversubscribing the cores): the
// results folder equals the one-process folder for R = 1, 2, 3 (every file,
// byte for byte, but for what records the run rather than its numbers:
// timings, command line, environment, ranks), and so does one `gengap run`
// whose Gram rows and KL taus are split over 2 and 3 ranks; a bad input on one rank only
// is one line naming the key, exit 2, nothing written; the commands that do
// not distribute refuse R > 1; a rank killed mid-run and SIGUSR1 (the signal
// mpirun forwards) keep the finished settings whole, with status
// "interrupted" and the one-line last word.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "gengap/generalization/io/npy.hpp"
#include "gengap/generalization/studies/sweep/study.hpp"
#include "study_folder_checks.hpp"

#ifndef GENGAP_MPIEXEC
#error "the MPI tests need mpirun (GENGAP_MPIEXEC)"
#endif

namespace gengap {
namespace {

namespace fs = std::filesystem;
using testing_cli::Outcome;
using testing_cli::read;

// The capacity study of cli_study_test.cpp's size: a fraction of a second per setting.
const std::string kTiny =
    " --quiet --set n=150 --set train_loss.draws_per_sample=8 --set population_loss.time_nodes=48"
    " --set population_loss.space_nodes=12 --set tau.points=15 --set tau.saved=3 --set kl.test_points=100"
    " --set kl.rtol=1e-3 --set kl.atol=1e-3 --set kl.quadrature_rtol=1e-4 --set kl.quadrature_atol=1e-4"
    " --set kl.quadrature_nodes=65 --set kl.quadrature_tolerance=1e-2 --set kl.tau_stride=3"
    " --set kl.ode_tau_stride=100 --set kl.score_integral=false --set bounds.enabled=false";

// mpirun as root (CI) and without the single-copy mechanism that containers
// forbid (ptrace scope); -q: mpirun's own banners off, so stderr holds gengap's lines.
const std::vector<std::string> kMpiEnvironment = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
                                                  "OMPI_MCA_btl_vader_single_copy_mechanism=none"};

std::string environment_text() {
  std::string text = "env -u GENGAP_BLAS_REEXECUTED";
  for (const std::string& v : kMpiEnvironment) text += " " + v;
  return text;
}

class CliMpi : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gengap_cli_mpi_test_" + std::to_string(::getpid()) + "_" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `mpirun <launch>` where launch holds "-np R <gengap> args" groups (":"-separated).
  Outcome mpirun(const std::string& launch) const {
    const fs::path out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
    const std::string command = environment_text() + " '" GENGAP_MPIEXEC "' -q --oversubscribe " + launch + " >'" +
                                out.string() + "' 2>'" + err.string() + "'";
    const int status = std::system(command.c_str());
    Outcome o;
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    o.out = read(out);
    o.err = read(err);
    return o;
  }
  static std::string gengap(int ranks, const std::string& arguments) {
    return "-np " + std::to_string(ranks) + " '" GENGAP_CLI_PATH "' " + arguments;
  }
  fs::path dir_;
};

// What records the run rather than its numbers.
void strip_run_record(nlohmann::json& j) {
  if (j.is_object()) {
    for (const char* key : {"timings", "command", "environment", "distributed", "seconds"}) j.erase(key);
    for (auto& [key, value] : j.items()) strip_run_record(value);
  } else if (j.is_array()) {
    for (auto& value : j) strip_run_record(value);
  }
}

// Every file of `a` is in `b` with the same bytes, JSON without the run
// record, the study tables without their wall-time column; and nothing more.
void expect_same_folder(const fs::path& a, const fs::path& b) {
  const auto& columns = StudySettingSummary::columns();
  const std::size_t seconds = static_cast<std::size_t>(std::find(columns.begin(), columns.end(), "seconds") - columns.begin());
  ASSERT_LT(seconds, columns.size());
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(a)) {
    if (!entry.is_regular_file()) continue;
    const fs::path relative = fs::relative(entry.path(), a);
    const fs::path other = b / relative;
    ASSERT_TRUE(fs::exists(other)) << relative;
    ++files;
    if (relative.extension() == ".json") {
      nlohmann::json x = nlohmann::json::parse(read(entry.path())), y = nlohmann::json::parse(read(other));
      strip_run_record(x);
      strip_run_record(y);
      EXPECT_EQ(x, y) << relative;
    } else if (relative == "settings.csv") {
      const auto x = testing_cli::csv_rows(entry.path()), y = testing_cli::csv_rows(other);
      ASSERT_EQ(x.size(), y.size());
      for (std::size_t r = 0; r < x.size(); ++r) {
        ASSERT_EQ(x[r].size(), y[r].size());
        for (std::size_t c = 0; c < x[r].size(); ++c) {
          if (r > 0 && c == seconds) continue;
          EXPECT_EQ(x[r][c], y[r][c]) << relative << " row " << r << " column " << columns[c];
        }
      }
    } else if (relative == "summary.npy") {
      NpyArray x = read_npy(entry.path()), y = read_npy(other);
      ASSERT_EQ(x.shape, y.shape);
      for (std::size_t r = 0; r < x.shape[0]; ++r) x.values[r * x.shape[1] + seconds] = y.values[r * y.shape[1] + seconds] = 0;
      EXPECT_EQ(std::memcmp(x.values.data(), y.values.data(), x.values.size() * sizeof(double)), 0) << relative;
    } else {
      EXPECT_TRUE(read(entry.path()) == read(other)) << relative << " differs";
    }
  }
  std::size_t files_b = 0;
  for (const auto& entry : fs::recursive_directory_iterator(b)) files_b += entry.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, files_b);
  EXPECT_GT(files, 10u);
}

TEST_F(CliMpi, FolderIsTheOneProcessFolderForOneTwoAndThreeRanks) {
  const std::string study = "study capacity" + kTiny + " --set 'sweep.values=[8,16,32,64,128]'";
  const Outcome one = testing_cli::run_gengap(dir_, study + " --out '" + (dir_ / "one").string() + "'");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  for (const int ranks : {1, 2, 3}) {
    const fs::path out = dir_ / ("ranks" + std::to_string(ranks));
    const Outcome o = mpirun(gengap(ranks, study + " --out '" + out.string() + "'"));
    ASSERT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.err, "");
    if (ranks > 1) {
      EXPECT_NE(o.out.find(std::to_string(ranks) + " ranks x "), std::string::npos) << o.out;
    }
    EXPECT_EQ(o.out.find("rank 1"), std::string::npos) << "only rank 0 prints: " << o.out;
    expect_same_folder(dir_ / "one", out);
    const auto config = nlohmann::json::parse(read(out / "config.json"));
    EXPECT_EQ(config["status"], "complete");
    EXPECT_FALSE(fs::exists(out / ".config.json.interrupted"));
    if (ranks > 1) {
      // Rank 1 asks for work as soon as it starts: some settings came from it, each as one message.
      EXPECT_EQ(config["distributed"]["ranks"], ranks);
      EXPECT_GE(config["distributed"]["settings_from_other_ranks"].get<int>(), 1);
      EXPECT_GT(config["distributed"]["result_bytes_received"].get<double>(), 0.0);
    }
  }
}

TEST_F(CliMpi, BadInputOnOneRankIsOneLineExitTwoNothingWritten) {
  const fs::path out = dir_ / "never";
  const std::string good = "study capacity" + kTiny + " --out '" + out.string() + "'";
  for (const std::string& launch : {gengap(1, good) + " : " + gengap(1, good + " --set n=0"),
                                    gengap(1, good + " --set n=0") + " : " + gengap(2, good)}) {
    const Outcome o = mpirun(launch);
    EXPECT_EQ(o.exit_code, 2) << launch;
    EXPECT_EQ(o.err, "gengap: error: n: must be positive, got 0\n") << launch;
    EXPECT_FALSE(fs::exists(out));
  }
  // Valid but different on another rank: refused as well, before anything is written.
  const Outcome o = mpirun(gengap(1, good) + " : " + gengap(1, good + " --set seed=9"));
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_EQ(o.err.rfind("gengap: error: config: rank 1's study config differs from rank 0's", 0), 0u) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(CliMpi, OneRunOverRanksWritesTheOneProcessFolder) {
  // 3 lanes: one each for 3 ranks, 2 + 1 for 2 (an uneven split of the Gram rows).
  const std::string run = "run" + kTiny + " --set gram.lanes=3 --set bounds.enabled=true --set kl.ode_tau_stride=4";
  const Outcome one = testing_cli::run_gengap(dir_, run + " --out '" + (dir_ / "one").string() + "'");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  for (const int ranks : {2, 3}) {
    const fs::path out = dir_ / ("ranks" + std::to_string(ranks));
    const Outcome o = mpirun(gengap(ranks, run + " --out '" + out.string() + "'"));
    ASSERT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(o.err, "");
    expect_same_folder(dir_ / "one", out);
    const auto config = nlohmann::json::parse(read(out / "config.json"));
    EXPECT_EQ(config["distributed"]["ranks"], ranks);
    EXPECT_EQ(config["distributed"]["gram_lanes"], 3);
  }
}

TEST_F(CliMpi, CommandsThatDoNotDistributeRefuseSeveralRanks) {
  const fs::path out = dir_ / "never";
  const Outcome o = mpirun(gengap(2, "study smoothing --quiet --out '" + out.string() + "'"));
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_EQ(o.err.rfind("gengap: error: mpirun: gengap study smoothing runs in one process (2 ranks started)", 0), 0u)
      << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_FALSE(fs::exists(out));
}

// The pid of the rank `rank` of the gengap processes writing into `out`.
pid_t rank_pid(const fs::path& out, int rank) {
  const std::string wanted = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string cmdline = read(entry.path() / "cmdline");
    if (cmdline.find(out.string()) == std::string::npos || cmdline.find("--oversubscribe") != std::string::npos) continue;
    const std::string environ_text = read(entry.path() / "environ");
    std::string variable;
    std::istringstream in(environ_text);
    while (std::getline(in, variable, '\0')) {
      if (variable == wanted) return static_cast<pid_t>(std::stol(name));
    }
  }
  return -1;
}

// Starts a capacity study of 8 settings of ~1 s each on 2 ranks, waits until
// one setting is listed, then does `stop` (given mpirun's pid); returns
// mpirun's exit code and checks what stayed (with the last word on stderr
// and a consistent folder, or, without time for one, the instant record).
int stopped_run(const fs::path& dir, const std::function<void(pid_t mpirun, const fs::path& out)>& stop,
                std::string& err, bool last_word = true) {
  const fs::path out = dir / "capacity";
  std::vector<std::string> args = {"env"};
  args.insert(args.end(), kMpiEnvironment.begin(), kMpiEnvironment.end());
  for (const char* a : {GENGAP_MPIEXEC, "-q", "--oversubscribe", "-np", "2", GENGAP_CLI_PATH, "study", "capacity"}) {
    args.emplace_back(a);
  }
  std::istringstream tiny(kTiny);
  for (std::string word; tiny >> word;) args.push_back(word);
  for (const char* a : {"--set", "sweep.values=[512,520,528,536,544,552,560,568]", "--set", "sweep.max_parallel=1",
                        "--threads", "1", "--out"}) {
    args.emplace_back(a);
  }
  args.push_back(out.string());
  const pid_t pid = testing_cli::spawn_process(args, dir / "stdout.txt", dir / "stderr.txt");
  EXPECT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool listed = false;
  while (!listed && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!fs::exists(out / "config.json")) continue;
    try {
      listed = !nlohmann::json::parse(read(out / "config.json"))["settings"].empty();
    } catch (const nlohmann::json::exception&) {
    }
  }
  EXPECT_TRUE(listed) << read(dir / "stderr.txt");
  stop(pid, out);
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  err = read(dir / "stderr.txt");
  const auto config = nlohmann::json::parse(read(out / "config.json"));
  EXPECT_EQ(config["status"], "interrupted");
  if (!last_word) {
    // Killed within milliseconds: config.json (the instant record) lists complete settings only.
    EXPECT_GE(config["settings"].size(), 1u);
    for (const auto& entry : config["settings"]) {
      EXPECT_TRUE(fs::exists(out / entry["folder"].get<std::string>() / "config.json")) << entry["folder"];
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  const std::vector<std::size_t> kept = testing_cli::expect_consistent_folder(out, 8);
  EXPECT_GE(kept.size(), 1u);
  EXPECT_LT(kept.size(), 8u);
  const std::string line = "gengap: interrupted: kept " + std::to_string(kept.size()) + " of 8 settings in ";
  EXPECT_NE(err.find(line), std::string::npos) << err;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(CliMpi, AKilledRankStopsTheRunAndKeepsTheFinishedSettings) {
  std::string err;
  const int code = stopped_run(
      dir_,
      [](pid_t, const fs::path& out) {
        const pid_t worker = rank_pid(out, 1);
        ASSERT_GT(worker, 0);
        ASSERT_EQ(::kill(worker, SIGKILL), 0);
      },
      err);
  EXPECT_NE(code, 0);
}

// mpirun's Ctrl-C: SIGTERM and ~3 ms later SIGKILL to every rank. The
// signal handler's instant record still says "interrupted".
TEST_F(CliMpi, CtrlCOnMpirunStillRecordsTheInterruption) {
  std::string err;
  const int code = stopped_run(dir_, [](pid_t mpirun, const fs::path&) { ASSERT_EQ(::kill(mpirun, SIGINT), 0); }, err,
                               false);
  EXPECT_NE(code, 0);
}

TEST_F(CliMpi, SigusrOneStopsTheRunWithItsLastWord) {
  std::string err;
  const int code = stopped_run(dir_, [](pid_t mpirun, const fs::path&) { ASSERT_EQ(::kill(mpirun, SIGUSR1), 0); }, err);
  EXPECT_EQ(code, 130) << err;
}

}  // namespace
}  // namespace gengap
