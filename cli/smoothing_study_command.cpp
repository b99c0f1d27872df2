#include "smoothing_study_command.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>

#include "config_overrides.hpp"
#include "gengap/generalization/io/atomic_file.hpp"
#include "gengap/generalization/io/npy.hpp"
#include "gengap/generalization/io/run_record.hpp"
#include "gengap/generalization/studies/smoothing/smoothing_study.hpp"
#include "gengap/generalization/plots/smoothing_study_plots.hpp"
#include "interrupt.hpp"
#include "progress_bar.hpp"
#include "results_writer.hpp"
#include "study_output.hpp"
#include "world.hpp"

namespace gengap::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string csv_text(const std::vector<SmoothingRow>& rows) {
  std::string csv = "label,score";
  for (const std::string& name : SmoothingRow::columns()) csv += "," + name;
  csv += '\n';
  for (const SmoothingRow& r : rows) {
    std::string numbers;
    append_csv_row(numbers, r.row());
    csv += "\"" + r.label() + "\"," + std::string(to_string(r.kind)) + "," + numbers;
  }
  return csv;
}

// The folder's shared files, rewritten after every finished row; callers hold
// the interrupt's write mutex.
class SmoothingFolder {
 public:
  SmoothingFolder(fs::path out, const SmoothingStudyConfig& config, nlohmann::ordered_json record)
      : out_(std::move(out)), config_(config), record_(std::move(record)), start_(Clock::now()) {}

  void add(const SmoothingRow& row) {
    write_npy(out_ / "samples" / (row.file_stem() + ".npy"), row.samples);
    rows_.push_back(row);
    rows_.back().samples = Matrix();  // kept on disk only
  }
  const std::vector<SmoothingRow>& rows() const { return rows_; }

  void write(const std::string& status, bool plots) {
    write_file_atomically(out_ / "rows.csv", csv_text(rows_));
    std::vector<double> table, histograms;
    for (const SmoothingRow& r : rows_) {
      const std::vector<double> row = r.row();
      table.insert(table.end(), row.begin(), row.end());
      histograms.insert(histograms.end(), r.histogram.density.begin(), r.histogram.density.end());
    }
    const std::size_t shape[] = {rows_.size(), SmoothingRow::columns().size()};
    write_npy(out_ / "rows.npy", table, shape);
    if (!rows_.empty()) {
      const std::size_t bins = rows_.front().histogram.density.size();
      const std::size_t histogram_shape[] = {rows_.size(), bins};
      write_npy(out_ / "histograms.npy", histograms, histogram_shape);
      write_npy(out_ / "histogram_edges.npy", std::span<const double>(rows_.front().histogram.edges));
    }
    if (plots) plots_ = plots_record([&] { return write_smoothing_plots(out_ / "plots", config_, rows_); });
    write_record(status);
  }

  void write_record(const std::string& status) {
    nlohmann::ordered_json record = record_;
    record["status"] = status;
    nlohmann::ordered_json per_row = nlohmann::ordered_json::object();
    for (const SmoothingRow& r : rows_) per_row[r.label()] = r.seconds;
    record["timings"] = {{"rows", per_row}, {"total", std::chrono::duration<double>(Clock::now() - start_).count()}};
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const SmoothingRow& r : rows_) rows.push_back(r.to_json());
    record["rows_total"] = smoothing_study_rows(config_);
    record["rows"] = rows;
    record["columns"] = SmoothingRow::columns();
    record["plots"] = plots_;
    write_file_atomically(out_ / "config.json", record.dump(2) + "\n");
  }

  const nlohmann::ordered_json& plots() const { return plots_; }

 private:
  fs::path out_;
  const SmoothingStudyConfig& config_;
  nlohmann::ordered_json record_;
  Clock::time_point start_;
  std::vector<SmoothingRow> rows_;
  nlohmann::ordered_json plots_ = nlohmann::ordered_json::object();
};

void print_table(const std::vector<SmoothingRow>& rows) {
  std::printf("  %-4s %-10s %8s %9s %9s %6s %6s %7s %10s %8s %10s %8s %8s\n", "d", "score", "delta/h", "tau",
              "memorised", "TV", "KS", "outside", "log p test", "+-", "train-test", "KL", "time");
  for (const SmoothingRow& r : rows) {
    std::string failed;
    if (r.sampler_failed + r.likelihood_failed > 0) {
      failed = "  (" + std::to_string(r.sampler_failed) + " samples, " + std::to_string(r.likelihood_failed) +
               " likelihood points failed)";
    }
    std::printf("  %-4zu %-10s %8s %9s %9s %6s %6s %7s %10s %8s %10s %8s %7.1fs%s\n", r.dim,
                std::string(to_string(r.kind)).c_str(), format_number(r.delta_per_spacing, "%g").c_str(),
                format_number(r.tau, "%.3g").c_str(), format_number(r.memorization.memorized_fraction, "%.3f").c_str(),
                format_number(r.histogram.total_variation_to_uniform, "%.3f").c_str(),
                format_number(r.histogram.ks_to_uniform, "%.3f").c_str(),
                format_number(r.histogram.outside_fraction(), "%.3f").c_str(),
                format_number(r.heldout_log_likelihood, "%.4g").c_str(),
                format_number(r.heldout_log_likelihood_se, "%.2g").c_str(),
                format_number(r.likelihood_gap, "%.4g").c_str(), format_number(r.kl, "%.4g").c_str(), r.seconds,
                failed.c_str());
  }
}

}  // namespace

int smoothing_study(const StudyCommandOptions& options) {
  require_single_process("study smoothing");
  // Everything the user typed is checked before anything is computed or written.
  SmoothingStudyConfig config =
      smoothing_study_config_from_json(options.layered());
  config.validate();
  const fs::path out(options.out.empty() ? "results/smoothing" : options.out);
  ensure_directory(out, "out");
  ensure_directory(out / "samples", "out");
  ensure_directory(out / "training", "out");

  const int threads = options.threads > 0 ? static_cast<int>(options.threads) : tbb::info::default_concurrency();
  const tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));

  nlohmann::ordered_json record;
  record["study"] = "smoothing";
  record["label"] = "S6";
  record["command"] = options.command_line;
  record["seed"] = config.model_base.seed;
  record["config"] = to_json(config);
  record["environment"] = environment_record();
  SmoothingFolder folder(out, config, std::move(record));

  const std::size_t total = smoothing_study_rows(config);
  ProgressBarOptions bar_options;
  bar_options.enabled = !options.quiet;
  ProgressBar bar("gengap study smoothing", double(total), bar_options);

  InterruptExit interrupt([&] {
    if (!options.quiet && ::isatty(::fileno(stderr))) std::fputc('\n', stderr);
    try {
      folder.write_record("interrupted");
    } catch (const std::exception&) {
      // The previous config.json stays: it describes the same finished rows.
    }
    std::fprintf(stderr, "gengap: interrupted: kept %zu of %zu rows in %s (listed in config.json)\n",
                 folder.rows().size(), total, out.string().c_str());
  });

  {
    const std::lock_guard lock(interrupt.write_mutex());
    // Samples of a previous run into the same place would pass for this run's.
    for (const auto& entry : fs::directory_iterator(out / "samples")) fs::remove(entry.path());
    for (const std::size_t d : config.dims) {
      write_npy(out / "training" / ("d" + std::to_string(d) + ".npy"), segment_training_set(config, d));
    }
    folder.write("running", false);
  }

  SmoothingStudyCallbacks callbacks;
  callbacks.on_row_start = [&](std::size_t, std::size_t, const std::string& label) { bar.advance(0.0, label); };
  callbacks.on_row = [&](const SmoothingRow& row) {
    const std::lock_guard lock(interrupt.write_mutex());
    folder.add(row);
    // Plots when a dimension is complete (the histograms figure is per d).
    const std::size_t done = folder.rows().size();
    const std::size_t per_dim = total / config.dims.size();
    folder.write("running", done % per_dim == 0);
    bar.advance(1.0, row.label() + " done");
  };
  callbacks.stop_requested = [&] { return interrupt.interrupted(); };

  const SmoothingStudyResult result = run_recording_status(
      interrupt.write_mutex(), [&] { return run_smoothing_study(config, callbacks); },
      [&](const std::string& status) { folder.write_record(status); });
  bar.finish();

  const Schedule& s = config.schedule();
  std::printf("gengap study smoothing (S6): %zu points on [-%g, %g] (spacing h = %g) in d = {", config.segment.points,
              config.segment.half_length, config.segment.half_length, config.spacing());
  for (std::size_t i = 0; i < config.dims.size(); ++i) std::printf("%s%zu", i ? ", " : "", config.dims[i]);
  std::printf("}; %s T=%g t_min=%g; %zu samples by %s; %s kernel; model m=%zu; seed=%llu, %d threads\n",
              std::string(to_string(s.kind)).c_str(), s.T, s.t_min, config.sampler.samples, config.sampler.method.c_str(),
              std::string(to_string(config.smoothing.kernel)).c_str(), config.model_base.model.m,
              static_cast<unsigned long long>(config.model_base.seed), threads);
  print_table(folder.rows());
  std::printf("  memorised: nearest / second-nearest training distance < %.3g; TV, KS: the samples' position along the "
              "segment against uniform; log p test: mean over %zu held-out points uniform on the segment\n",
              config.metrics.ratio_threshold, config.likelihood.heldout_points);
  std::printf("  time: %.1f s\n", result.seconds);
  std::printf("  results: %s (config.json, rows.csv, rows.npy, histograms.npy, samples/, training/)\n",
              out.string().c_str());
  print_plots(folder.plots(), out / "plots");
  return 0;
}

}  // namespace gengap::cli
