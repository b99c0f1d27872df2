#include "digits_study_command.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "config_overrides.hpp"
#include "gengap/generalization/io/atomic_file.hpp"
#include "gengap/generalization/io/detail/config_json.hpp"
#include "gengap/generalization/io/digits.hpp"
#include "gengap/generalization/io/npy.hpp"
#include "gengap/generalization/io/run_record.hpp"
#include "gengap/generalization/plots/digit_grid.hpp"
#include "gengap/generalization/plots/digits_study_plots.hpp"
#include "gengap/generalization/studies/digits/digits_study.hpp"
#include "interrupt.hpp"
#include "progress_bar.hpp"
#include "results_writer.hpp"
#include "study_output.hpp"
#include "world.hpp"

namespace gengap::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string csv_text(const std::vector<std::string>& columns, const std::vector<std::vector<double>>& rows) {
  std::string csv;
  for (std::size_t k = 0; k < columns.size(); ++k) csv += (k ? "," : "") + columns[k];
  csv += '\n';
  for (const std::vector<double>& r : rows) append_csv_row(csv, r);
  return csv;
}

nlohmann::ordered_json setting_json(const DigitsSetting& s) {
  nlohmann::ordered_json j;
  const std::vector<double> values = s.row();
  for (std::size_t k = 0; k < values.size(); ++k) j[DigitsSetting::columns()[k]] = detail::number_or_null(values[k]);
  return j;
}

// The folder's shared files, rewritten after every finished row; callers hold
// the interrupt's write mutex.
class DigitsFolder {
 public:
  DigitsFolder(fs::path out, const DigitsStudyConfig& config, nlohmann::ordered_json record)
      : out_(std::move(out)), config_(config), record_(std::move(record)), start_(Clock::now()) {}

  void add(const DigitsRow& row, const Matrix& training) {
    write_npy(out_ / "samples" / (row.file_stem() + ".npy"), row.samples);
    const std::size_t pairs = std::min(config_.images.pairs, row.samples.rows());
    if (pairs > 0) {
      Matrix left(pairs, row.samples.cols()), right(pairs, row.samples.cols());
      for (std::size_t i = 0; i < pairs; ++i) {
        for (std::size_t j = 0; j < row.samples.cols(); ++j) {
          left(i, j) = row.samples(i, j);
          right(i, j) = training(row.nearest_index[i], j);
        }
      }
      DigitGridOptions options;
      options.lower = config_.data.lower;
      options.upper = config_.data.upper;
      write_digit_pairs_png(out_ / "images" / (row.file_stem() + ".png"), left.view(), right.view(), options);
    }
    rows_.push_back(row.row());
    labels_.push_back(row.label());
    seconds_.push_back(row.seconds);
  }
  void add_setting(const DigitsSetting& setting) {
    settings_.push_back(setting);
    settings_.back().rows.clear();
    for (const DigitsRow& r : setting.rows) {
      DigitsRow kept = r;
      kept.samples = Matrix();  // on disk only
      settings_.back().rows.push_back(std::move(kept));
    }
    fits_ = fit_digits_timescales(settings_, config_.metrics.fit_confidence);
  }
  std::size_t rows() const { return rows_.size(); }
  const std::vector<DigitsSetting>& settings() const { return settings_; }
  const DigitsFits& fits() const { return fits_; }

  void write(const std::string& status, bool plots) {
    write_file_atomically(out_ / "rows.csv", csv_text(DigitsRow::columns(), rows_));
    std::vector<std::vector<double>> settings, curves;
    for (const DigitsSetting& s : settings_) {
      settings.push_back(s.row());
      for (std::size_t k = 0; k < s.curve_tau.size(); ++k)
        curves.push_back({double(s.n), s.curve_tau[k], s.curve_train[k], s.curve_heldout[k]});
    }
    write_file_atomically(out_ / "settings.csv", csv_text(DigitsSetting::columns(), settings));
    write_file_atomically(out_ / "curves.csv", csv_text({"n", "tau", "train_loss", "heldout_loss"}, curves));
    if (plots) plots_ = plots_record([&] { return write_digits_plots(out_ / "plots", settings_, fits_); });
    write_record(status);
  }

  void write_record(const std::string& status) {
    nlohmann::ordered_json record = record_;
    record["status"] = status;
    nlohmann::ordered_json per_row = nlohmann::ordered_json::object();
    for (std::size_t k = 0; k < labels_.size(); ++k) per_row[labels_[k]] = seconds_[k];
    record["timings"] = {{"rows", per_row}, {"total", std::chrono::duration<double>(Clock::now() - start_).count()}};
    record["rows_total"] = digits_study_rows(config_);
    record["rows_done"] = rows_.size();
    nlohmann::ordered_json settings = nlohmann::ordered_json::array();
    for (const DigitsSetting& s : settings_) settings.push_back(setting_json(s));
    record["settings"] = settings;
    nlohmann::ordered_json fits = fits_.to_json();
    fits["claim"] =
        "Bonnaire et al. 2025 (arXiv 2505.17638): tau_gen roughly independent of n (slope 0), tau_mem growing "
        "linearly with n (slope 1)";
    record["fits"] = fits;
    record["columns"] = {{"rows", DigitsRow::columns()}, {"settings", DigitsSetting::columns()}};
    record["plots"] = plots_;
    write_file_atomically(out_ / "config.json", record.dump(2) + "\n");
  }

  const nlohmann::ordered_json& plots() const { return plots_; }

 private:
  fs::path out_;
  const DigitsStudyConfig& config_;
  nlohmann::ordered_json record_;
  Clock::time_point start_;
  std::vector<std::vector<double>> rows_;
  std::vector<std::string> labels_;
  std::vector<double> seconds_;
  std::vector<DigitsSetting> settings_;
  DigitsFits fits_;
  nlohmann::ordered_json plots_ = nlohmann::ordered_json::object();
};

void print_settings(const std::vector<DigitsSetting>& settings) {
  std::printf("  %6s %10s %10s %12s %10s %9s %11s %8s %9s %8s\n", "n", "tau_gen", "tau_best", "tau_mem_loss", "tau_mem",
              "L rise", "best test", "NN test", "memorised", "time");
  for (const DigitsSetting& s : settings) {
    double best = NAN, memorised = 0.0;
    for (const DigitsRow& r : s.rows) {
      if (std::isfinite(r.test_bits) && !(r.test_bits >= best)) best = r.test_bits;
      memorised = std::max(memorised, r.memorization.memorized_fraction);
    }
    std::printf("  %6zu %10s %10s %12s %10s %9s %11s %8s %9s %7.0fs\n", s.n, format_number(s.tau_gen, "%.3g").c_str(),
                format_number(s.tau_best, "%.3g").c_str(), format_number(s.tau_mem_loss, "%.3g").c_str(),
                format_number(s.tau_mem, "%.3g").c_str(), format_number(s.overfit_rise, "%.3g").c_str(),
                format_number(best, "%.4g").c_str(),
                format_number(s.heldout_nearest_median, "%.3g").c_str(), format_number(memorised, "%.3f").c_str(),
                s.seconds);
  }
}

void print_fit(const char* name, const PowerLawFit& fit) {
  if (fit.points < 3) {
    std::printf("  %-12s no fit (fewer than 3 sizes reached it)\n", name);
    return;
  }
  std::printf("  %-12s slope %.3f, %.0f%% CI [%.3f, %.3f], R^2 %.3f (%zu sizes)\n", name, fit.slope,
              100.0 * fit.confidence, fit.slope_low, fit.slope_high, fit.r_squared, fit.points);
}

}  // namespace

int digits_study(const StudyCommandOptions& options) {
  require_single_process("study digits");
  DigitsStudyConfig config = digits_study_config_from_json(options.layered());
  config.validate();
  const DigitsData data = load_study_digits(config);  // a missing file or bad size fails here, before any write
  const fs::path out(options.out.empty() ? "results/digits" : options.out);
  ensure_directory(out, "out");
  ensure_directory(out / "samples", "out");
  ensure_directory(out / "images", "out");

  const int threads = options.threads > 0 ? static_cast<int>(options.threads) : tbb::info::default_concurrency();
  const tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));

  nlohmann::ordered_json record;
  record["study"] = "digits";
  record["command"] = options.command_line;
  record["seed"] = config.model_base.seed;
  record["config"] = to_json(config);
  record["environment"] = environment_record();
  DigitsFolder folder(out, config, std::move(record));

  const std::size_t total = digits_study_rows(config);
  ProgressBarOptions bar_options;
  bar_options.enabled = !options.quiet;
  ProgressBar bar("gengap study digits", double(total), bar_options);

  InterruptExit interrupt([&] {
    if (!options.quiet && ::isatty(::fileno(stderr))) std::fputc('\n', stderr);
    try {
      folder.write_record("interrupted");
    } catch (const std::exception&) {
      // The previous config.json stays: it describes the same finished rows.
    }
    std::fprintf(stderr, "gengap: interrupted: kept %zu of %zu rows in %s (listed in config.json)\n", folder.rows(),
                 total, out.string().c_str());
  });

  {
    const std::lock_guard lock(interrupt.write_mutex());
    // Samples and images of a previous run into the same place would pass for this run's.
    for (const char* sub : {"samples", "images"})
      for (const auto& entry : fs::directory_iterator(out / sub)) fs::remove(entry.path());
    std::vector<double> order(data.order.begin(), data.order.end());
    write_npy(out / "split.npy", std::span<const double>(order));
    folder.write("running", false);
  }

  DigitsStudyCallbacks callbacks;
  callbacks.on_phase = [&](const std::string& phase) { bar.advance(0.0, phase); };
  callbacks.on_row = [&](const DigitsRow& row) {
    const std::lock_guard lock(interrupt.write_mutex());
    folder.add(row, data.training(row.n));
    folder.write("running", false);
    bar.advance(1.0, row.label() + " done");
  };
  callbacks.on_setting = [&](const DigitsSetting& setting) {
    const std::lock_guard lock(interrupt.write_mutex());
    folder.add_setting(setting);
    folder.write("running", true);
  };
  callbacks.stop_requested = [&] { return interrupt.interrupted(); };

  const DigitsStudyResult result = run_recording_status(
      interrupt.write_mutex(), [&] { return run_digits_study(config, callbacks); },
      [&](const std::string& status) { folder.write_record(status); });
  bar.finish();

  const RandomFeatureModelConfig& m = config.model_base;
  std::printf("gengap study digits: %zu training sizes, %zu test digits in [%g, %g]; m=%zu (%s), K=%zu, %s T=%g "
              "t_min=%g; %zu samples, NLL of %zu train + %zu test digits; seed=%llu, %d threads\n",
              config.data.sizes.size(), config.data.held_out, config.data.lower, config.data.upper, m.model.m,
              std::string(to_string(m.model.output_scale)).c_str(), m.train_loss.draws_per_sample,
              std::string(to_string(m.schedule.kind)).c_str(), m.schedule.T, m.schedule.t_min, config.sampler.samples,
              config.likelihood.points, config.likelihood.points, static_cast<unsigned long long>(m.seed), threads);
  print_settings(folder.settings());
  std::printf("  tau_gen: argmin test NLL; tau_best: argmin held-out DSM loss; tau_mem_loss: L_test risen half of its "
              "final rise above its minimum; tau_mem: memorised fraction >= %g (nearest / second < %.3g)\n",
              config.metrics.memorized_fraction, config.metrics.ratio_threshold);
  std::printf("  log-log slopes against n (Bonnaire et al.: tau_gen ~ n^0, tau_mem ~ n^1):\n");
  print_fit("tau_gen", result.fits.tau_gen);
  print_fit("tau_best", result.fits.tau_best);
  print_fit("tau_mem_loss", result.fits.tau_mem_loss);
  print_fit("tau_mem", result.fits.tau_mem);
  std::printf("  time: %.1f s\n", result.seconds);
  std::printf("  results: %s (config.json, rows.csv, settings.csv, curves.csv, samples/, images/, split.npy)\n",
              out.string().c_str());
  print_plots(folder.plots(), out / "plots");
  return 0;
}

}  // namespace gengap::cli
