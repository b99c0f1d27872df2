#pragma once
// A progress line with elapsed time and ETA for long work (docs/studies.md: "Long
// work shows progress"), written to a stream (stderr by default):
//   label [##########----------] 42% 1m05s elapsed, ETA 1m30s  note
// ETA = elapsed * (total - done) / done, "ETA --" before any progress.
//
// Interactive streams (a terminal) redraw one line in place with '\r', at
// most every min_interval_seconds (default 0.2 s), blanking what a longer
// previous line left behind and truncating to the terminal's width; other
// streams (log files, pipes) get a plain line at most every
// min_interval_seconds (default 10 s), never one per update, except that a
// new note (a phase change) is written at once. finish() writes
// the final line "label [####] 100% done in 2m35s  note" (the percentage
// reached if less). advance() may be called from many threads at once.
#include <cstddef>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace gengap::cli {

// ProgressBar::Options (declared outside the class so that `Options = {}` can
// be a default argument of the constructor: GCC rejects a nested class's
// default member initializers in a default argument of its enclosing class).
struct ProgressBarOptions {
  bool enabled = true;                // false: writes nothing at all (--quiet)
  std::FILE* stream = stderr;
  std::optional<bool> interactive;    // default: isatty(fileno(stream))
  double min_interval_seconds = -1;   // < 0: 0.2 s interactive, 10 s otherwise
  std::size_t bar_width = 24;         // cells between the brackets
  // Monotonic seconds (tests inject a fake clock); empty: std::chrono::steady_clock.
  std::function<double()> clock;
};

class ProgressBar {
 public:
  using Options = ProgressBarOptions;

  // total_work: finite, >= 0, in any unit advance() uses (0: nothing to do).
  ProgressBar(std::string label, double total_work, Options options = {});
  ~ProgressBar();  // ends an interactive line left unfinished (no "done" line)
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Adds `work` (finite, >= 0) to the work done; redraws when the last draw is
  // at least min_interval_seconds old. `note` (e.g. the current setting)
  // replaces the previous one; empty keeps it.
  void advance(double work, std::string_view note = {});
  // Writes the final line (once; later calls do nothing). An empty note keeps
  // the last one.
  void finish(std::string_view note = {});

  double done() const;

  // "label [####----] 42% 1m05s elapsed, ETA 1m30s  note": `width` bar cells
  // (0: no bar), fraction done/total clamped to [0, 1] (total <= 0 counts as
  // complete), percent rounded down (100% only when complete), no trailing
  // blanks when the note is empty.
  static std::string format_line(std::string_view label, double done, double total, double elapsed_seconds,
                                 std::string_view note, std::size_t width);
  // "label [########] 100% done in 2m35s  note"
  static std::string format_final_line(std::string_view label, double done, double total, double elapsed_seconds,
                                       std::string_view note, std::size_t width);
  // 42s, 1m05s, 2h03m, 123h04m; "--" when negative or not finite.
  static std::string format_duration(double seconds);

 private:
  double now() const;
  void draw(const std::string& line, bool final);  // with mutex_ held

  std::string label_;
  double total_;
  Options options_;
  bool interactive_;
  double min_interval_;
  std::size_t columns_;  // terminal width (interactive), 0: unknown

  mutable std::mutex mutex_;
  double start_;
  double last_draw_;
  double done_ = 0.0;
  std::string note_;
  std::size_t drawn_length_ = 0;  // of the interactive line on screen
  bool line_open_ = false;        // an interactive line without its newline
  bool finished_ = false;
};

}  // namespace gengap::cli
