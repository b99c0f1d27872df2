// The `gengap run` program as a user runs it (GENGAP_CLI_PATH): the results
// contract on disk, identical numbers for any --threads, one-line errors that
// name the bad field with a non-zero exit, and results that a failed run
// leaves whole.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/generalization/npy.hpp"
#include "gengap/kernels/blas_runtime.hpp"

#ifndef GENGAP_CLI_PATH
#error "cli_test needs the gengap_cli target (GENGAP_CLI_PATH)"
#endif

namespace gengap {
namespace {

namespace fs = std::filesystem;

// Small enough to run in well under a second.
const std::string kSmall =
    " --quiet --set model.m=64 --set n=200 --set train_loss.draws_per_sample=16"
    " --set population_loss.time_nodes=64 --set population_loss.space_nodes=16";

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class Cli : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gengap_cli_test_" + std::to_string(::getpid()) + "_" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `gengap <arguments>` through the shell (arguments are trusted test strings).
  // `environment` ("NAME=value ...") is prepended to the command line.
  Outcome gengap(const std::string& arguments, const std::string& environment = "") const {
    const fs::path out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
    const std::string command =
        "env -u GENGAP_BLAS_REEXECUTED " + environment + " '" + GENGAP_CLI_PATH + "' " + arguments + " >'" + out.string() + "' 2>'" + err.string() + "'";
    const int status = std::system(command.c_str());
    Outcome o;
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    o.out = read(out);
    o.err = read(err);
    fs::remove(out);
    fs::remove(err);
    return o;
  }
  // Every regular file under `root` with its bytes.
  static std::map<std::string, std::string> snapshot(const fs::path& root) {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (entry.is_regular_file()) files[fs::relative(entry.path(), root).string()] = read(entry.path());
    }
    return files;
  }
  fs::path dir_;
};

std::vector<std::size_t> shape_of(const fs::path& path) { return read_npy(path).shape; }

TEST_F(Cli, RunWritesTheResultsContract) {
  const fs::path out = dir_ / "results";
  const Outcome o = gengap("run --out '" + out.string() + "'" + kSmall);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("min population loss"), std::string::npos) << o.out;

  std::istringstream csv(read(out / "curves.csv"));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "tau,loss_train,loss_pop,gap,norm_growth");
  std::vector<std::vector<double>> rows;
  while (std::getline(csv, line)) {
    std::vector<double> row;
    std::istringstream fields(line);
    std::string field;
    while (std::getline(fields, field, ',')) row.push_back(std::stod(field));
    ASSERT_EQ(row.size(), 5u) << line;
    rows.push_back(row);
  }
  ASSERT_EQ(rows.size(), 60u);
  for (const auto& row : rows) EXPECT_EQ(row[3], row[2] - row[1]);  // %.17g round-trips doubles exactly

  EXPECT_EQ(shape_of(out / "train.npy"), (std::vector<std::size_t>{200, 1}));
  EXPECT_EQ(shape_of(out / "eigenvalues.npy"), (std::vector<std::size_t>{64}));
  EXPECT_EQ(shape_of(out / "model" / "W.npy"), (std::vector<std::size_t>{64, 1}));
  EXPECT_EQ(shape_of(out / "model" / "U.npy"), (std::vector<std::size_t>{64, 16}));
  EXPECT_EQ(shape_of(out / "model" / "b.npy"), (std::vector<std::size_t>{64}));
  EXPECT_EQ(shape_of(out / "model" / "frequencies.npy"), (std::vector<std::size_t>{8}));
  EXPECT_EQ(shape_of(out / "model" / "A.npy"), (std::vector<std::size_t>{6, 1, 64}));
  const NpyArray tau = read_npy(out / "model" / "tau.npy");
  ASSERT_EQ(tau.values.size(), 6u);
  EXPECT_EQ(tau.values.front(), rows.front()[0]);
  EXPECT_EQ(tau.values.back(), rows.back()[0]);

  const auto model = nlohmann::json::parse(read(out / "model" / "model.json"));
  EXPECT_EQ(model["activation"], "relu");
  EXPECT_EQ(model["embedding"]["kind"], "fourier");
  EXPECT_EQ(model["output_scale"], "one");
  EXPECT_EQ(model["schedule"]["kind"], "ou");
  EXPECT_EQ(model["t_min"], 1e-3);
  EXPECT_EQ(model["T"], 5.0);
  EXPECT_EQ(model["weighting"], "sigma2");

  const auto config = nlohmann::json::parse(read(out / "config.json"));
  EXPECT_EQ(config["config"]["model"]["m"], 64);
  EXPECT_EQ(config["config"]["n"], 200);
  EXPECT_EQ(config["seed"], 0);
  for (const char* key : {"gengap_version", "compiler", "march", "xsimd_arch", "tbb_version", "threads"}) {
    EXPECT_TRUE(config["environment"].contains(key)) << key;
  }
  EXPECT_TRUE(config["environment"]["openblas"].contains("core"));
  EXPECT_TRUE(config["environment"]["openblas"].contains("config"));
  EXPECT_GT(config["timings"]["total"].get<double>(), 0.0);
  EXPECT_EQ(config["summary"]["tau_last"].get<double>(), rows.back()[0]);

  // Only the contract's files: no temporaries left behind.
  std::vector<std::string> names;
  for (const auto& [name, bytes] : snapshot(out)) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"config.json", "curves.csv", "eigenvalues.npy", "model/A.npy",
                                             "model/U.npy", "model/W.npy", "model/b.npy", "model/frequencies.npy",
                                             "model/model.json", "model/tau.npy", "train.npy"}));

  // A results folder's config.json reproduces the run.
  const fs::path again = dir_ / "again";
  ASSERT_EQ(gengap("run --quiet --out '" + again.string() + "' --config '" + (out / "config.json").string() + "'")
                .exit_code,
            0);
  EXPECT_EQ(read(again / "curves.csv"), read(out / "curves.csv"));
}

TEST_F(Cli, SameSeedSameBytesWhateverTheThreadCount) {
  const fs::path one = dir_ / "one", two = dir_ / "two", other = dir_ / "other";
  ASSERT_EQ(gengap("run --threads 1 --out '" + one.string() + "'" + kSmall).exit_code, 0);
  ASSERT_EQ(gengap("run --threads 2 --out '" + two.string() + "'" + kSmall).exit_code, 0);
  EXPECT_EQ(read(one / "curves.csv"), read(two / "curves.csv"));
  EXPECT_EQ(read(one / "model" / "A.npy"), read(two / "model" / "A.npy"));
  EXPECT_EQ(read(one / "train.npy"), read(two / "train.npy"));
  // ... and the seed is what decides them.
  ASSERT_EQ(gengap("run --seed 1 --out '" + other.string() + "'" + kSmall).exit_code, 0);
  EXPECT_NE(read(other / "curves.csv"), read(one / "curves.csv"));
}

// The OpenBLAS trap (kernels/blas_runtime.hpp): started with the slow SSE3
// "Prescott" kernels, the program re-executes itself on the kernels the CPU
// supports, and says so in config.json; GENGAP_ALLOW_SLOW_BLAS=1 keeps the slow
// kernels but warns on stderr. (A CPU without AVX2 has nothing faster: skip.)
TEST_F(Cli, NeverRunsSilentlyOnSlowBlasKernels) {
  const std::string recommended = gengap::blas_info().recommended_core;
  if (recommended.empty()) GTEST_SKIP() << "this CPU has no OpenBLAS core faster than the detected one";
  const fs::path fast = dir_ / "fast", slow = dir_ / "slow";
  ASSERT_EQ(gengap("run --quiet --out '" + fast.string() + "'" + kSmall, "OPENBLAS_CORETYPE=Prescott").exit_code, 0);
  const auto openblas = nlohmann::json::parse(read(fast / "config.json"))["environment"]["openblas"];
  EXPECT_EQ(openblas["core"].get<std::string>(), recommended);
  EXPECT_FALSE(openblas["slow_kernels"].get<bool>());

  const Outcome kept = gengap("run --quiet --out '" + slow.string() + "'" + kSmall,
                              "OPENBLAS_CORETYPE=Prescott GENGAP_ALLOW_SLOW_BLAS=1");
  ASSERT_EQ(kept.exit_code, 0);
  EXPECT_NE(kept.err.find("OpenBLAS runs Prescott kernels"), std::string::npos) << kept.err;
  EXPECT_EQ(nlohmann::json::parse(read(slow / "config.json"))["environment"]["openblas"]["core"], "Prescott");
}

TEST_F(Cli, BadInputFailsWithOneLineNamingTheField) {
  std::ofstream(dir_ / "plain_file") << "a regular file, not a folder\n";
  const std::string file_as_folder = (dir_ / "plain_file" / "results").string();
  const struct {
    std::string arguments;
    std::string field;
  } cases[] = {
      {"--set model.m=0", "model.m"},
      {"--set schedule.T=0.0005", "schedule.T"},
      {"--set schedule.T=NaN", "schedule.T"},
      {"--set model.activation=foo", "model.activation"},
      {"--set schedule.kind=bar", "schedule.kind"},
      {"--set model.foo=1", "model.foo"},
      {"--set n=-3", "n"},
      {"--set tau.saved=1", "tau.saved"},
      {"--set novalue", "set"},
      {"--config '" + (dir_ / "missing.json").string() + "'", "config"},
      {"--threads 0", "--threads"},
  };
  for (const auto& c : cases) {
    const fs::path out = dir_ / "never_created";
    const Outcome o = gengap("run --out '" + out.string() + "' " + c.arguments);
    EXPECT_EQ(o.exit_code, 2) << c.arguments;
    EXPECT_EQ(o.err.rfind("gengap: error: ", 0), 0u) << c.arguments << ": " << o.err;
    EXPECT_NE(o.err.find(c.field), std::string::npos) << c.arguments << ": " << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << c.arguments << ": " << o.err;
    EXPECT_FALSE(fs::exists(out)) << c.arguments;  // rejected before anything is written
  }
  const Outcome o = gengap("run --out '" + file_as_folder + "'" + kSmall);
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_EQ(o.err, "gengap: error: out: cannot create '" + file_as_folder + "': Not a directory\n");
}

TEST_F(Cli, FailedRunsLeaveResultsWhole) {
  const fs::path out = dir_ / "results";
  ASSERT_EQ(gengap("run --out '" + out.string() + "'" + kSmall).exit_code, 0);
  const auto before = snapshot(out);

  // Bad input: nothing changes.
  EXPECT_EQ(gengap("run --out '" + out.string() + "'" + kSmall + " --set model.m=0").exit_code, 2);
  EXPECT_EQ(snapshot(out), before);

  // A write that fails half-way (model/tau.npy cannot be replaced: a folder
  // now stands in its place): exit 1 naming the file; every file present is
  // a complete one, and config.json (written last) still describes the old run.
  fs::remove(out / "model" / "tau.npy");
  fs::create_directories(out / "model" / "tau.npy" / "blocker");
  const Outcome o = gengap("run --out '" + out.string() + "'" + kSmall + " --set seed=7");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.err.find("tau.npy"), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  const auto after = snapshot(out);
  EXPECT_EQ(after.at("config.json"), before.at("config.json"));
  for (const auto& [name, bytes] : after) {
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;
    if (name.ends_with(".npy")) {
      EXPECT_NO_THROW(parse_npy(bytes, name)) << name;
    }
  }
  EXPECT_EQ(after.at("curves.csv"), before.at("curves.csv"));
}

}  // namespace
}  // namespace gengap
