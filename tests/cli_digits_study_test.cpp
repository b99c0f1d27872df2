// `gengap study digits` as a user runs it (GENGAP_CLI_PATH): the results
// folder of a tiny run (config.json with settings and fits, rows.csv,
// settings.csv, curves.csv, samples, digit images, split, plots), the table
// on stdout, and one-line errors naming the key (or the missing file) with
// exit code 2 and nothing written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
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

// Three sizes (a fit needs three), a small model, three taus: ~3 s.
const std::string kTiny =
    " --quiet --threads 2 --set 'data.sizes=[24,48,96]' --set data.held_out=64 --set model.m=128"
    " --set train_loss.draws_per_sample=32 --set tau.points=3 --set tau.curve_points=21"
    " --set heldout_loss.draws_per_sample=8 --set sampler.samples=24 --set likelihood.points=6 --set images.pairs=4";

class CliDigitsStudy : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gengap_cli_digits_test_" + std::to_string(::getpid()) + "_" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  Outcome gengap(const std::string& arguments) const { return testing_cli::run_gengap(dir_, arguments); }
  fs::path dir_;
};

std::size_t lines_of(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

TEST_F(CliDigitsStudy, WritesACompleteConsistentFolder) {
  const fs::path out = dir_ / "digits";
  fs::create_directories(out / "images");
  { std::ofstream(out / "images" / "n7_tau9.png") << "old"; }  // a stale image must not survive
  const Outcome o = gengap("study digits --out '" + out.string() + "'" + kTiny);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("gengap study digits: 3 training sizes"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("tau_mem_loss"), std::string::npos) << o.out;

  const auto config = nlohmann::json::parse(read(out / "config.json"));
  EXPECT_EQ(config["study"], "digits");
  EXPECT_EQ(config["status"], "complete");
  EXPECT_EQ(config["config"]["model"]["output_scale"], "denoiser");
  EXPECT_EQ(config["rows_total"], 9);
  EXPECT_EQ(config["rows_done"], 9);
  ASSERT_EQ(config["settings"].size(), 3u);
  EXPECT_EQ(config["settings"][2]["n"], 96);
  EXPECT_TRUE(config["fits"]["tau_best"].is_object());  // three sizes: fitted
  EXPECT_TRUE(config["fits"]["tau_best"].contains("slope_low"));
  EXPECT_NE(config["fits"]["claim"].get<std::string>().find("Bonnaire"), std::string::npos);

  EXPECT_EQ(lines_of(read(out / "rows.csv")), 10u);
  EXPECT_EQ(lines_of(read(out / "settings.csv")), 4u);
  EXPECT_EQ(lines_of(read(out / "curves.csv")), 1u + 3u * 21u);
  EXPECT_EQ(read_npy(out / "samples" / "n48_tau2.npy").shape, (std::vector<std::size_t>{24, 64}));
  EXPECT_EQ(read_npy(out / "split.npy").shape, (std::vector<std::size_t>{1797}));
  const std::string png = read(out / "images" / "n96_tau1.png");
  EXPECT_EQ(png.substr(1, 3), "PNG");
  EXPECT_FALSE(fs::exists(out / "images" / "n7_tau9.png"));
  if (gnuplot_available()) {
    for (const char* plot : {"likelihood.png", "losses.png", "samples.png", "timescales.png"})
      EXPECT_TRUE(fs::exists(out / "plots" / plot)) << plot;
  }
  for (const auto& entry : fs::recursive_directory_iterator(out))
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();

  // The folder's config.json repeats the run: the same samples.
  const fs::path again = dir_ / "again";
  const Outcome repeat = gengap("study digits --config '" + (out / "config.json").string() + "' --out '" +
                                again.string() + "' --quiet --set 'data.sizes=[48]'");
  ASSERT_EQ(repeat.exit_code, 0) << repeat.err;
  EXPECT_EQ(read(again / "samples" / "n48_tau1.npy"), read(out / "samples" / "n48_tau1.npy"));
}

TEST_F(CliDigitsStudy, BadInputExitsTwoWithOneLineNamingTheKey) {
  const fs::path out = dir_ / "never";
  const struct {
    std::string arguments, message;
  } cases[] = {
      {"study digits --set 'data.sizes=[64,32]'", "gengap: error: data.sizes[1]: must be above the previous size"},
      {"study digits --set 'data.sizes=[1700]'", "gengap: error: data.sizes[0]: at most 1541 digits"},
      {"study digits --set data.file=/nonexistent/digits.csv.gz", "gengap: error: digits: cannot open /nonexistent/digits.csv.gz"},
      {"study digits --set data.shape=3", "gengap: error: data.shape: unknown key"},
      {"study digits --set model.output_scale=sideways", "gengap: error: model.output_scale: "},
      {"study digits --set tau.points=1", "gengap: error: tau.points: "},
  };
  for (const auto& c : cases) testing_cli::expect_rejected(dir_, c.arguments, c.message, out);
}

}  // namespace
}  // namespace gengap
