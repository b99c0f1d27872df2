#include "study_command.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "config_overrides.hpp"
#include "gengap/generalization/io/atomic_file.hpp"
#include "gengap/generalization/io/npy.hpp"
#include "gengap/generalization/io/run_record.hpp"
#include "gengap/generalization/studies/sweep/distributed_study.hpp"
#include "gengap/generalization/studies/sweep/study.hpp"
#include "gengap/generalization/plots/study_plots.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"
#include "interrupt.hpp"
#include "progress_bar.hpp"
#include "results_writer.hpp"
#include "digits_study_command.hpp"
#include "smoothing_study_command.hpp"
#include "study_output.hpp"
#include "world.hpp"

namespace gengap::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

StudyConfig build_config(StudyKind kind, const StudyCommandOptions& options) {
  StudyConfig config =
      study_config_from_json(kind, options.layered());
  config.validate();
  return config;
}

std::string folder_name(const StudyConfig& config, std::size_t k) {
  return std::to_string(k) + "_" + config.setting_label(k);
}

// Folders a previous run into the same place left behind ("<digits>_..."):
// they would pass for this run's settings.
void remove_stale_settings(const fs::path& dir) {
  if (!fs::is_directory(dir)) return;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const std::size_t underscore = name.find('_');
    if (underscore == 0 || underscore == std::string::npos) continue;
    if (name.find_first_not_of("0123456789") != underscore) continue;
    fs::remove_all(entry.path());
  }
}

std::string csv_text(const std::vector<StudySetting>& finished) {
  std::string csv;
  for (const std::string& name : StudySettingSummary::columns()) csv += (csv.empty() ? "" : ",") + name;
  csv += '\n';
  for (const StudySetting& s : finished) append_csv_row(csv, s.summary.row());
  return csv;
}

// The study folder's own files, rewritten as a whole after every finished
// setting; callers hold the interrupt's write mutex.
class StudyFolder {
 public:
  StudyFolder(fs::path out, const StudyConfig& config, nlohmann::ordered_json record)
      : out_(std::move(out)), config_(config), record_(std::move(record)), start_(Clock::now()) {}

  void add(const StudySetting& setting) {
    const auto at = std::lower_bound(finished_.begin(), finished_.end(), setting.summary.index,
                                     [](const StudySetting& s, std::size_t k) { return s.summary.index < k; });
    finished_.insert(at, setting);
  }
  const std::vector<StudySetting>& finished() const { return finished_; }
  StudySummary summary() const {
    std::vector<StudySettingSummary> rows;
    for (const StudySetting& s : finished_) rows.push_back(s.summary);
    return summarize_study(config_, rows);
  }

  // Everything: table, array, plots, then config.json.
  void write(const std::string& status) {
    write_file_atomically(out_ / "settings.csv", csv_text(finished_));
    const std::size_t columns = StudySettingSummary::columns().size();
    std::vector<double> table;
    for (const StudySetting& s : finished_) {
      const std::vector<double> row = s.summary.row();
      table.insert(table.end(), row.begin(), row.end());
    }
    const std::size_t shape[] = {finished_.size(), columns};
    write_npy(out_ / "summary.npy", table, shape);
    const StudySummary summary = this->summary();
    plots_ = plots_record([&] { return write_study_plots(out_ / "plots", config_, finished_, summary); });
    write_record(status, summary);
  }

  // config.json alone (the interrupt's last word: no plots, no gnuplot).
  void write_record(const std::string& status) { write_record(status, summary()); }
  // What write_record(status) would write.
  std::string record_text(const std::string& status) const { return record_json(status, summary()).dump(2) + "\n"; }

  const nlohmann::ordered_json& plots() const { return plots_; }

 private:
  void write_record(const std::string& status, const StudySummary& summary) {
    write_file_atomically(out_ / "config.json", record_json(status, summary).dump(2) + "\n");
  }
  nlohmann::ordered_json record_json(const std::string& status, const StudySummary& summary) const {
    nlohmann::ordered_json record = record_;
    record["status"] = status;
    nlohmann::ordered_json timings;
    nlohmann::ordered_json per_setting = nlohmann::ordered_json::object();
    for (const StudySetting& s : finished_) per_setting[config_.setting_label(s.summary.index)] = s.summary.seconds;
    timings["settings"] = per_setting;
    timings["total"] = std::chrono::duration<double>(Clock::now() - start_).count();
    record["timings"] = timings;
    if (record.contains("distributed")) {
      // What crossed the network: each setting computed elsewhere came as one message.
      std::size_t bytes = 0, remote = 0;
      for (const StudySetting& s : finished_) {
        bytes += s.message_bytes;
        remote += s.rank != 0 ? 1 : 0;
      }
      record["distributed"]["settings_from_other_ranks"] = remote;
      record["distributed"]["result_bytes_received"] = bytes;
    }
    record["summary"] = summary.to_json();
    nlohmann::ordered_json settings = nlohmann::ordered_json::array();
    for (const StudySetting& s : finished_) {
      nlohmann::ordered_json entry;
      entry["index"] = s.summary.index;
      entry["key"] = swept_key(config_.kind);
      entry["value"] = s.summary.value;
      entry["folder"] = "settings/" + folder_name(config_, s.summary.index);
      entry["summary"] = s.summary.to_json();
      settings.push_back(entry);
    }
    record["settings"] = settings;
    record["summary_columns"] = StudySettingSummary::columns();
    record["plots"] = plots_;
    return record;
  }

  fs::path out_;
  const StudyConfig& config_;
  nlohmann::ordered_json record_;
  Clock::time_point start_;
  std::vector<StudySetting> finished_;
  nlohmann::ordered_json plots_ = nlohmann::ordered_json::object();
};

// One S1 results folder per setting, exactly as `gengap run` writes it, with
// the setting's place in the study.
void write_setting_folder(const fs::path& dir, const StudyConfig& config, const StudySetting& s,
                          const StudyCommandOptions& options) {
  ensure_directory(dir, "out");
  const EarlyStoppingResult& r = s.result;
  nlohmann::ordered_json record;
  record["study"] = "s1_early_stopping";
  record["part_of"] = {{"study", to_string(config.kind)},
                       {"setting", s.summary.index},
                       {"key", swept_key(config.kind)},
                       {"value", s.summary.value}};
  record["command"] = options.command_line;
  record["seed"] = r.config.seed;
  record["config"] = to_json(r.config);
  // Where it was computed: another rank's host, threads and OpenBLAS core in a distributed run.
  record["environment"] = s.environment.empty() ? environment_record() : s.environment;
  if (world().size() > 1) record["distributed"] = {{"rank", s.rank}, {"message_bytes", s.message_bytes}};
  record["timings"] = r.timings.to_json();
  record["summary"] = r.summary.to_json();
  write_results(dir, r, std::move(record));
}

std::string values_text(const StudyConfig& c) {
  std::string text;
  for (const double v : c.sweep.values) text += (text.empty() ? "" : ", ") + format_number(v, "%g");
  return "{" + text + "}";
}

void print_header(const StudyConfig& c, int threads, std::size_t in_flight) {
  const EarlyStoppingConfig& b = c.base;
  const std::string key(swept_key(c.kind));
  std::string base;
  const auto add = [&](const std::string& name, const std::string& text) {
    if (name != key) base += (base.empty() ? "" : ", ") + name + "=" + text;
  };
  add("target.mu", format_number(b.target.mu, "%g"));
  add("n", std::to_string(b.n));
  add("model.m", c.sweep.m_per_n ? "round(" + format_number(*c.sweep.m_per_n, "%g") + " n)" : std::to_string(b.model.m));
  const std::string train_loss = b.train_loss.method == TrainLossMethod::monte_carlo
                                     ? "K=" + std::to_string(b.train_loss.draws_per_sample)
                                     : "train quadrature " + std::to_string(b.train_loss.time_nodes) + "x" +
                                           std::to_string(b.train_loss.noise_nodes);
  std::string schedule = std::string(to_string(b.schedule.kind));
  if (c.kind != StudyKind::diffusion_time) schedule += " T=" + format_number(b.schedule.T, "%g");  // else swept
  schedule += " t_min=" + format_number(b.schedule.t_min, "%g");
  std::printf("gengap study %s (%s): %s in %s; %s, %s/%s, %s, %s, seed=%llu, %s, %zu settings at once\n",
              std::string(to_string(c.kind)).c_str(), std::string(study_label(c.kind)).c_str(), key.c_str(),
              values_text(c).c_str(), base.c_str(), std::string(to_string(b.model.activation)).c_str(),
              std::string(to_string(b.model.embedding)).c_str(), schedule.c_str(), train_loss.c_str(),
              static_cast<unsigned long long>(b.seed), processes_text(threads).c_str(), in_flight);
}

// The per-setting table: columns depend on the study (fixed tau, threshold).
void print_table(const StudyConfig& c, const std::vector<StudySetting>& finished) {
  const bool per_feature = c.sweep.tau_unit == TauUnit::per_feature;
  const std::string tau = per_feature ? "tau/m" : "tau";
  const bool fixed = c.sweep.fixed_tau.has_value();
  const bool threshold = c.kind == StudyKind::capacity;
  std::string header = "  " + std::string(swept_key(c.kind));
  header.resize(std::max<std::size_t>(header.size(), 12), ' ');
  std::printf("%s %10s %9s %10s %8s", header.c_str(), "min KL", "+-", per_feature ? "tau*/m" : "tau*", "interior");
  if (fixed) std::printf(" %14s", ("KL(" + tau + "=" + format_number(*c.sweep.fixed_tau, "%g") + ")").c_str());
  if (threshold) std::printf(" %16s", (tau + "(KL<=" + format_number(c.sweep.kl_threshold, "%g") + ")").c_str());
  std::printf(" %11s %21s %8s %9s\n", "L-L_n(tau*)", "mass range", "flagged", "time");
  for (const StudySetting& s : finished) {
    const StudySettingSummary& r = s.summary;
    std::string value = "  " + format_number(r.value, "%g");
    value.resize(std::max<std::size_t>(header.size(), value.size()), ' ');
    std::printf("%s %10s %9s %10s %8s", value.c_str(), format_number(r.kl_best, "%.5g").c_str(),
                format_number(r.kl_best_error, "%.2g").c_str(), format_number(r.tau_best / r.tau_scale).c_str(),
                r.kl_available ? (r.interior_minimum ? "yes" : "no") : "-");
    if (fixed) std::printf(" %14s", format_number(r.kl_fixed_tau, "%.5g").c_str());
    if (threshold) std::printf(" %16s", format_number(r.tau_threshold / r.tau_scale).c_str());
    const std::string mass = std::isfinite(r.mass_min) ? "[" + format_number(r.mass_min, "%.6f") + ", " +
                                                             format_number(r.mass_max, "%.6f") + "]"
                                                       : "-";
    std::printf(" %11s %21s %8s %8.1fs\n", format_number(r.gap_best, "%.3g").c_str(), mass.c_str(),
                (std::to_string(r.kl_flagged) + "/" + std::to_string(r.kl_evaluated)).c_str(), r.seconds);
  }
}

// Diffusion-time: the bound's terms per T, then the minimisers.
void print_bound_table(const StudyConfig& c, const std::vector<StudySetting>& finished, const StudySummary& summary) {
  if (c.kind != StudyKind::diffusion_time) return;
  std::printf("  bound terms (R = %g; model at the fixed tau, then at tau*):\n", c.sweep.bound_R.value_or(0.0));
  std::printf("  %-8s %11s %11s %11s %11s %11s %11s %11s %9s %11s %9s\n", "T", "KL(pT||pi)", "data-only", "I_T",
              "encoder", "generator", "L_n", "bound", "+-se", "bound(tau*)", "+-se");
  for (const StudySetting& s : finished) {
    const StudySettingSummary& r = s.summary;
    std::printf("  %-8s %11s %11s %11s %11s %11s %11s %11s %9s %11s %9s\n", format_number(r.value, "%g").c_str(),
                format_number(r.prior_kl, "%.4g").c_str(), format_number(r.prior_kl_data, "%.4g").c_str(),
                format_number(r.information, "%.4g").c_str(), format_number(r.encoder_term, "%.4g").c_str(),
                format_number(r.generator_term_fixed, "%.4g").c_str(), format_number(r.train_loss_fixed, "%.4g").c_str(),
                format_number(r.bound_fixed, "%.5g").c_str(), format_number(r.bound_se_fixed, "%.2g").c_str(),
                format_number(r.bound_best, "%.5g").c_str(), format_number(r.bound_se_best, "%.2g").c_str());
  }
  std::printf("  (+-se: the score-norm statistic L_T's Monte Carlo standard error, the bound's only random term)\n");
  std::printf("  minimisers over T (grid point; refined by a parabola in log T):\n");
  for (const StudyMinimizer& m : summary.minimizers) {
    if (m.minimum) {
      std::printf("    %s: T = %g (refined %.3g%s), value %.5g\n", m.description.c_str(), c.sweep.values.at(m.setting),
                  m.minimum->x, m.minimum->interior ? "" : ", at an end of the grid", m.minimum->value);
    } else {
      std::printf("    %s: none (%s)\n", m.description.c_str(), m.skipped.c_str());
    }
  }
  const auto agreement = [](const std::optional<bool>& b) { return !b ? "unknown" : *b ? "agree" : "differ"; };
  std::printf("  argmin_T bound vs argmin_T measured KL: %s at the fixed tau, %s at tau*\n",
              agreement(summary.argmin_agrees_fixed), agreement(summary.argmin_agrees_best));
}

void print_fits(const StudySummary& summary) {
  if (summary.fits.empty()) return;
  std::printf("  rates (least squares on log-log):\n");
  for (const StudyFit& f : summary.fits) {
    std::printf("    %s: ", f.description.c_str());
    if (f.fit) {
      const PowerLawFit& p = *f.fit;
      std::printf("slope %.3g [%.0f%% CI %.3g, %.3g], R^2 %.3f, %zu points", p.slope, 100.0 * p.confidence, p.slope_low,
                  p.slope_high, p.r_squared, p.points);
    } else {
      std::printf("no fit (%s)", f.skipped.c_str());
    }
    std::printf("; paper: %s\n", f.paper_claim.c_str());
  }
}

// A rank other than 0 of a distributed run: computes the settings rank 0
// hands out; rank 0 prints and writes everything. SIGTERM (mpirun's word when
// another rank ended or the run was interrupted) ends it quietly, exit 130.
int study_worker(const StudyConfig& config) {
  const InterruptExit interrupt([] {});
  // SIGUSR1 is rank 0's to answer (mpirun forwards it to every rank): a
  // worker that ended at once would make mpirun kill rank 0 mid-sentence.
  // The workers end when rank 0 does (mpirun's SIGTERM, above).
  std::signal(SIGUSR1, SIG_IGN);
  run_study_distributed(config, world());
  return 0;
}

}  // namespace

std::shared_ptr<StudyCommandOptions> add_study_command(CLI::App& app) {
  auto options = std::make_shared<StudyCommandOptions>();
  CLI::App* study = app.add_subcommand(
      "study", "Studies S2-S5: S1 swept over one parameter (modes-shift: target.mu, capacity: model.m, sample-size: n, "
      "diffusion-time: schedule.T with seed 000's bound); "
      "S6 smoothing: empirical, smoothed and trained scores on a segment of training points; "
      "digits: memorisation and generalization on the 8 x 8 handwritten digits (d = 64)");
  study->add_option("name", options->study, "modes-shift | capacity | sample-size | diffusion-time | smoothing | digits")
      ->required();
  study->add_option("--out", options->out, "Results folder (created if missing; default results/<name>)");
  add_config_options(*study, *options,
                     {"JSON config file (S2-S4: S1's keys plus \"sweep\"; smoothing: its keys; "
                      "as in config.json's \"config\")",
                      "Override one config key, dotted (e.g. --set sweep.values=[16,64,256] --set n=500); repeatable",
                      "No progress bar on stderr"});
  return options;
}

int study(const StudyCommandOptions& options) {
  if (options.study == "smoothing") return smoothing_study(options);  // S6: not a sweep of S1
  if (options.study == "digits") return digits_study(options);
  // Everything the user typed is checked, on every rank of a distributed
  // run, before anything is computed or written; a bad input on any rank
  // stops all of them with its one-line error.
  StudyKind kind = StudyKind::modes_shift;
  StudyConfig config;
  std::exception_ptr input_error;
  try {
    kind = parse_study_kind(options.study);
    config = build_config(kind, options);
  } catch (...) {
    input_error = std::current_exception();
  }
  agree_across_ranks(input_error);
  require_same_study_config(config, world());

  const int threads = options.threads > 0 ? static_cast<int>(options.threads) : tbb::info::default_concurrency();
  const tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  const ScopedBlasThreads single_threaded_blas(1);
  if (!speaks_for_run()) return study_worker(config);

  const fs::path out(options.out.empty() ? "results/" + std::string(to_string(kind)) : options.out);
  ensure_directory(out, "out");
  ensure_directory(out / "settings", "out");
  const int ranks = world().size();
  const std::size_t in_flight = std::min(config.settings(), study_slots_per_rank(config) * static_cast<std::size_t>(ranks));

  nlohmann::ordered_json record;
  record["study"] = to_string(kind);
  record["label"] = study_label(kind);
  record["command"] = options.command_line;
  record["seed"] = config.base.seed;
  record["config"] = to_json(config);
  record["environment"] = environment_record();
  if (ranks > 1) record["distributed"] = {{"ranks", ranks}, {"slots_per_rank", study_slots_per_rank(config)}};
  StudyFolder folder(out, config, std::move(record));

  // Progress: each setting's estimated phase costs, advanced as its next phase starts.
  std::vector<std::vector<std::pair<std::string, double>>> costs(config.settings());
  std::vector<std::size_t> current(config.settings(), 0);  // phases of setting k completed so far
  // Work of setting k's current phase already credited by on_phase_progress.
  std::vector<double> partial(config.settings(), 0.0);
  std::mutex progress_mutex;  // current and partial: progress comes from many threads
  double total = 0.0;
  for (std::size_t k = 0; k < config.settings(); ++k) {
    costs[k] = estimated_phase_costs(config.setting(k));
    for (const auto& [phase, cost] : costs[k]) total += cost;
  }
  ProgressBarOptions bar_options;
  bar_options.enabled = !options.quiet;
  ProgressBar bar("gengap study " + std::string(to_string(kind)), total, bar_options);
  std::size_t done = 0;  // settings finished (under the write mutex)

  InterruptExit interrupt([&] {
    // The watcher holds the write mutex: no setting is half-written, `folder` is consistent.
    if (!options.quiet && ::isatty(::fileno(stderr))) std::fputc('\n', stderr);
    try {
      folder.write_record("interrupted");
    } catch (const std::exception&) {
      // The previous config.json stays: it describes the same finished settings.
    }
    std::fprintf(stderr, "gengap: interrupted: kept %zu of %zu settings in %s (complete folders, listed in config.json)%s\n",
                 folder.finished().size(), config.settings(), out.string().c_str(),
                 ranks > 1 ? "; a distributed run stops as a whole when any rank is signalled or dies (mpirun names it)" : "");
  });

  {
    const std::lock_guard lock(interrupt.write_mutex());
    remove_stale_settings(out / "settings");
    folder.write("running");
    interrupt.prepare_instant_record(out / "config.json", folder.record_text("interrupted"));
  }

  StudyCallbacks callbacks;
  callbacks.on_phase = [&](std::size_t k, std::string_view phase) {
    // Calls for one setting come in order from the thread running it.
    const std::lock_guard lock(progress_mutex);
    const auto& phases = costs[k];
    std::size_t j = current[k];
    while (j < phases.size() && phases[j].first != phase) ++j;
    double work = -partial[k];
    // Entering phase j completes the phases before it.
    for (std::size_t i = current[k]; i < j && i < phases.size(); ++i) work += phases[i].second;
    current[k] = std::min(j, phases.size());
    partial[k] = 0.0;
    bar.advance(std::max(0.0, work), config.setting_label(k) + ": " + std::string(phase));
  };
  callbacks.on_phase_progress = [&](std::size_t k, double fraction) {
    const std::lock_guard lock(progress_mutex);
    if (current[k] >= costs[k].size()) return;
    const double credit = std::clamp(fraction, 0.0, 1.0) * costs[k][current[k]].second;
    if (credit <= partial[k]) return;  // concurrent calls may arrive out of order
    bar.advance(credit - partial[k]);
    partial[k] = credit;
  };
  callbacks.on_setting = [&](const StudySetting& s) {
    const std::lock_guard lock(interrupt.write_mutex());
    const std::size_t k = s.summary.index;
    write_setting_folder(out / "settings" / folder_name(config, k), config, s, options);
    folder.add(s);
    // The instant record stays armed through the setting's own folder (config.json
    // does not list it yet) and is re-armed once config.json lists it.
    interrupt.withdraw_instant_record();
    folder.write("running");
    interrupt.prepare_instant_record(out / "config.json", folder.record_text("interrupted"));
    ++done;
    double rest = 0.0;
    {
      const std::lock_guard progress_lock(progress_mutex);
      rest = -partial[k];
      for (std::size_t i = current[k]; i < costs[k].size(); ++i) rest += costs[k][i].second;
      current[k] = costs[k].size();
      partial[k] = 0.0;
    }
    rest = std::max(0.0, rest);
    bar.advance(rest, config.setting_label(k) + " done (" + std::to_string(done) + "/" +
                          std::to_string(config.settings()) + " settings)");
  };
  callbacks.stop_requested = [&] { return interrupt.interrupted(); };

  const StudyResult result = run_recording_status(
      interrupt.write_mutex(), [&] { return run_study_distributed(config, world(), callbacks); },
      [&](const std::string& status) {
        interrupt.withdraw_instant_record();
        folder.write_record(status);
      });
  // The phase costs were added up in another order: what rounding left over.
  bar.advance(std::max(0.0, total - bar.done()));
  bar.finish();

  print_header(config, threads, in_flight);
  print_table(config, folder.finished());
  print_bound_table(config, folder.finished(), folder.summary());
  print_fits(folder.summary());
  std::printf("  time: %.1f s\n", result.seconds);
  std::printf("  results: %s (config.json, settings.csv, summary.npy, settings/<k>_%s=<value>/)\n",
              out.string().c_str(), std::string(swept_key(kind)).c_str());
  print_plots(folder.plots(), out / "plots");
  return 0;
}

}  // namespace gengap::cli
