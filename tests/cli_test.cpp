// The `gengap run` program as a user runs it (GENGAP_CLI_PATH): the results
// contract on disk, identical numbers for any --threads, one-line errors that
// name the bad field with a non-zero exit, and results that a failed run
// leaves whole.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/generalization/io/npy.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "cli_support.hpp"


namespace gengap {
namespace {

namespace fs = std::filesystem;

// Small enough to run in about a second: the KL at 11 of the 60 taus
// (quadrature at every 10th and the saved ones, Monte Carlo over 200 test
// points at every 20th and the saved ones) with loose ODE tolerances.
const std::string kSmall =
    " --quiet --set model.m=64 --set n=200 --set train_loss.draws_per_sample=16 --set model.embedding=fourier"
    " --set population_loss.time_nodes=64 --set population_loss.space_nodes=16"
    " --set kl.test_points=200 --set kl.rtol=1e-3 --set kl.atol=1e-3 --set kl.quadrature_rtol=1e-4"
    " --set kl.quadrature_atol=1e-4 --set kl.tau_stride=10 --set kl.ode_tau_stride=20";

using testing_cli::Outcome;
using testing_cli::read;

class Cli : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gengap_cli_test_" + std::to_string(::getpid()) + "_" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Outcome gengap(const std::string& arguments, const std::string& environment = "") const {
    return testing_cli::run_gengap(dir_, arguments, environment);
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
  EXPECT_NE(o.out.find("min KL(p0||p_theta) [quadrature]"), std::string::npos) << o.out;

  std::istringstream csv(read(out / "curves.csv"));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line,
            "tau,loss_train,loss_pop,gap,norm_growth,kl_ode,kl_ode_se,kl_quad,kl_quad_error,kl_mass,kl_flags,"
            "kl_ode_evaluations,kl_quad_evaluations,kl_ode_failed,kl_quad_nodes,kl_score_integral,"
            "score_matching,likelihood_bound,optimization_error,optimization_bound,loss_train_second,"
            "monte_carlo_error,rademacher,theorem_tau4_mn,theorem_tau3_m2,theorem_inv_tau,theorem_inv_m");
  std::vector<std::vector<double>> rows;
  while (std::getline(csv, line)) {
    std::vector<double> row;
    std::istringstream fields(line);
    std::string field;
    while (std::getline(fields, field, ',')) row.push_back(std::stod(field));  // "nan" parses as NaN
    ASSERT_EQ(row.size(), 27u) << line;
    rows.push_back(row);
  }
  ASSERT_EQ(rows.size(), 60u);
  for (const auto& row : rows) {
    EXPECT_EQ(row[3], row[2] - row[1]);  // %.17g round-trips doubles exactly
    // Bound terms at every tau: J_SM > 0, the likelihood bound above it (KL(p_T||pi) >= 0),
    // the optimisation error within [0, its bound], a positive Monte Carlo error.
    for (std::size_t c = 16; c < 27; ++c) EXPECT_TRUE(std::isfinite(row[c])) << c;
    EXPECT_GT(row[16], 0.0);
    EXPECT_GE(row[17], row[16]);
    EXPECT_GE(row[18], 0.0);
    EXPECT_LE(row[18], row[19]);
    EXPECT_GT(row[21], 0.0);
  }
  // KL columns: quadrature at rows 0, 10, ..., 50 and the saved 12, 24, 35, 47, 59; Monte
  // Carlo at 0, 20, 40 and the saved ones. Elsewhere every KL column is nan.
  const std::vector<std::size_t> quadrature_rows = {0, 10, 12, 20, 24, 30, 35, 40, 47, 50, 59};
  const std::vector<std::size_t> ode_rows = {0, 12, 20, 24, 35, 40, 47, 59};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const bool quadrature = std::count(quadrature_rows.begin(), quadrature_rows.end(), i) > 0;
    const bool ode = std::count(ode_rows.begin(), ode_rows.end(), i) > 0;
    EXPECT_EQ(std::isfinite(row[7]), quadrature) << i;                    // kl_quad
    EXPECT_EQ(std::isfinite(row[15]), quadrature) << i;                   // kl_score_integral
    EXPECT_EQ(std::isfinite(row[8]) && std::isfinite(row[9]), quadrature) << i;  // error, mass
    EXPECT_EQ(std::isfinite(row[5]) && std::isfinite(row[6]), ode) << i;  // kl_ode, kl_ode_se
    EXPECT_EQ(std::isfinite(row[10]), quadrature || ode) << i;            // kl_flags
    if (quadrature) {
      EXPECT_GT(row[7], 0.0) << i;
      EXPECT_NEAR(row[9], 1.0, 1e-2) << i;  // mass (loose ODE here: the flag may be set)
      EXPECT_GE(row[14], 129.0) << i;       // at least the initial grid
    }
    if (quadrature && ode) { EXPECT_NEAR(row[5], row[7], 4.0 * row[6] + 0.01) << i; }
  }

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
  EXPECT_EQ(config["config"]["kl"]["test_points"], 200);
  EXPECT_EQ(config["summary"]["kl"]["source"], "quadrature");
  EXPECT_EQ(config["summary"]["kl"]["kl_last"].get<double>(), rows.back()[7]);
  const std::size_t best = config["summary"]["kl"]["best_index"].get<std::size_t>();
  EXPECT_EQ(config["summary"]["kl"]["kl_best"].get<double>(), rows[best][7]);
  EXPECT_GT(config["summary"]["kl"]["floor"].get<double>(), 0.0);
  for (const char* phase : {"kl_setup", "kl_quadrature", "kl_ode"}) EXPECT_TRUE(config["timings"].contains(phase)) << phase;

  // Density snapshots at the 6 saved taus: x ascending, p_0 and p_theta, as .npy and .csv.
  std::istringstream snapshots(read(out / "densities" / "snapshots.csv"));
  std::getline(snapshots, line);
  EXPECT_EQ(line, "snapshot,row,tau,kl_quad,kl_ode,kl_mass");
  for (std::size_t k = 0; k < 6; ++k) {
    const NpyArray density = read_npy(out / "densities" / ("snapshot_" + std::to_string(k) + ".npy"));
    ASSERT_EQ(density.shape.size(), 2u);
    EXPECT_EQ(density.shape[1], 3u);
    EXPECT_GT(density.shape[0], 100u);
    for (std::size_t j = 1; j < density.shape[0]; ++j) EXPECT_LT(density.values[3 * (j - 1)], density.values[3 * j]);
    const std::string text = read(out / "densities" / ("snapshot_" + std::to_string(k) + ".csv"));
    EXPECT_EQ(text.rfind("x,p0,p_theta\n", 0), 0u);
    EXPECT_EQ(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')), density.shape[0] + 1);
    ASSERT_TRUE(std::getline(snapshots, line));
    EXPECT_EQ(line.rfind(std::to_string(k) + ",", 0), 0u) << line;
  }

  // Only the contract's files: no temporaries left behind.
  std::vector<std::string> names;
  for (const auto& [name, bytes] : snapshot(out)) names.push_back(name);
  std::vector<std::string> expected = {"config.json", "curves.csv"};
  for (std::size_t k = 0; k < 6; ++k) {
    expected.push_back("densities/snapshot_" + std::to_string(k) + ".csv");
    expected.push_back("densities/snapshot_" + std::to_string(k) + ".npy");
  }
  expected.push_back("densities/snapshots.csv");
  for (const char* name : {"eigenvalues.npy", "model/A.npy", "model/U.npy", "model/W.npy", "model/b.npy",
                           "model/frequencies.npy", "model/model.json", "model/tau.npy"})
    expected.push_back(name);
  // The plots with their gnuplot scripts and data (scripts/bootstrap.sh installs gnuplot).
  for (const char* stem : {"bounds", "densities", "kl", "losses"}) {
    for (const char* extension : {".dat", ".gp", ".png"}) expected.push_back(std::string("plots/") + stem + extension);
  }
  expected.push_back("train.npy");
  EXPECT_EQ(names, expected);
  const auto record = nlohmann::json::parse(read(out / "config.json"));
  EXPECT_EQ(record["plots"]["files"], nlohmann::json::parse(R"(["losses.png", "kl.png", "densities.png", "bounds.png"])"))
      << record["plots"].dump();
  EXPECT_EQ(read(out / "plots" / "kl.png").compare(0, 8, "\x89PNG\r\n\x1a\n"), 0);

  // A results folder's config.json reproduces the run.
  const fs::path again = dir_ / "again";
  ASSERT_EQ(gengap("run --quiet --out '" + again.string() + "' --config '" + (out / "config.json").string() + "'")
                .exit_code,
            0);
  EXPECT_EQ(read(again / "curves.csv"), read(out / "curves.csv"));

  // A rerun with fewer saved taus and no quadrature leaves no stale snapshot behind.
  ASSERT_EQ(gengap("run --out '" + out.string() + "'" + kSmall + " --set tau.saved=3 --set kl.quadrature=false").exit_code, 0);
  EXPECT_FALSE(fs::exists(out / "densities" / "snapshot_0.npy"));
  EXPECT_FALSE(fs::exists(out / "densities" / "snapshots.csv"));
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
  const std::string small = kSmall + " --set kl.enabled=false";  // the kernels matter here, not the KL
  ASSERT_EQ(gengap("run --quiet --out '" + fast.string() + "'" + small, "OPENBLAS_CORETYPE=Prescott").exit_code, 0);
  const auto openblas = nlohmann::json::parse(read(fast / "config.json"))["environment"]["openblas"];
  EXPECT_EQ(openblas["core"].get<std::string>(), recommended);
  EXPECT_FALSE(openblas["slow_kernels"].get<bool>());

  const Outcome kept = gengap("run --quiet --out '" + slow.string() + "'" + small,
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
      {"--set model.m=1000000000", "model.m"},  // would need exabytes: named, not std::bad_alloc
      {"--set schedule.T=0.0005", "schedule.T"},
      {"--set schedule.T=NaN", "schedule.T"},
      {"--set model.activation=foo", "model.activation"},
      {"--set schedule.kind=bar", "schedule.kind"},
      {"--set model.foo=1", "model.foo"},
      {"--set n=-3", "n"},
      {"--set tau.saved=1", "tau.saved"},
      {"--set kl.rtol=0", "kl.rtol"},
      {"--set kl.quadrature_nodes=8", "kl.quadrature_nodes"},
      {"--set kl.bogus=1", "kl.bogus"},
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
