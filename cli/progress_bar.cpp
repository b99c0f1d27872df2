// ProgressBar: a rate-limited progress line with ETA (see progress_bar.hpp).
#include "progress_bar.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "gengap/kernels/error.hpp"

namespace gengap::cli {
namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Fraction done in [0, 1]: nothing to do (total <= 0) is complete; NaN counts as none.
double fraction_done(double done, double total) {
  if (!(total > 0.0)) return 1.0;
  if (!(done > 0.0)) return 0.0;
  return std::min(done / total, 1.0);
}

// "label [#####-----] 42%": cells and percent rounded down, so a bar shows
// full and 100% only when the work is complete.
std::string bar_and_percent(std::string_view label, double fraction, std::size_t width) {
  std::string s(label);
  if (!s.empty()) s += ' ';
  if (width > 0) {
    const auto filled = std::min(width, static_cast<std::size_t>(fraction * static_cast<double>(width)));
    s += '[';
    s.append(filled, '#');
    s.append(width - filled, '-');
    s += "] ";
  }
  s += std::to_string(std::min(100, static_cast<int>(fraction * 100.0))) + "%";
  return s;
}

std::string with_note(std::string s, std::string_view note) {
  if (!note.empty()) {
    s += "  ";
    s += note;
  }
  return s;
}

// Columns of the terminal behind `stream`, 0 when unknown.
std::size_t terminal_columns(std::FILE* stream) {
  winsize size{};
  if (::ioctl(::fileno(stream), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 0;
}

}  // namespace

std::string ProgressBar::format_duration(double seconds) {
  if (!(seconds >= 0.0) || !std::isfinite(seconds)) return "--";
  if (seconds >= 9999.5 * 3600.0) return ">9999h";
  const long long total = std::llround(seconds);
  char buffer[32];
  if (total < 60) {
    std::snprintf(buffer, sizeof buffer, "%llds", total);
  } else if (total < 3600) {
    std::snprintf(buffer, sizeof buffer, "%lldm%02llds", total / 60, total % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%lldh%02lldm", total / 3600, (total % 3600) / 60);
  }
  return buffer;
}

std::string ProgressBar::format_line(std::string_view label, double done, double total, double elapsed_seconds,
                                     std::string_view note, std::size_t width) {
  const double fraction = fraction_done(done, total);
  const double elapsed = std::max(0.0, elapsed_seconds);
  std::string eta = "--";
  if (fraction >= 1.0) {
    eta = format_duration(0.0);
  } else if (fraction > 0.0) {
    eta = format_duration(elapsed * (total - done) / done);
  }
  return with_note(bar_and_percent(label, fraction, width) + " " + format_duration(elapsed) + " elapsed, ETA " + eta,
                   note);
}

std::string ProgressBar::format_final_line(std::string_view label, double done, double total,
                                           double elapsed_seconds, std::string_view note, std::size_t width) {
  return with_note(bar_and_percent(label, fraction_done(done, total), width) + " done in " +
                       format_duration(std::max(0.0, elapsed_seconds)),
                   note);
}

ProgressBar::ProgressBar(std::string label, double total_work, Options options)
    : label_(std::move(label)), total_(total_work), options_(std::move(options)) {
  if (!std::isfinite(total_work) || total_work < 0.0) {
    throw InvalidArgument("total_work", "must be finite and >= 0, got " + std::to_string(total_work));
  }
  if (options_.stream == nullptr) options_.enabled = false;
  interactive_ = options_.enabled && options_.interactive.value_or(::isatty(::fileno(options_.stream)) == 1);
  min_interval_ = options_.min_interval_seconds >= 0.0 ? options_.min_interval_seconds
                                                       : (interactive_ ? 0.2 : 10.0);
  columns_ = interactive_ ? terminal_columns(options_.stream) : 0;
  start_ = last_draw_ = now();
  if (interactive_) {
    const std::lock_guard lock(mutex_);
    draw(format_line(label_, 0.0, total_, 0.0, {}, options_.bar_width), false);
  }
}

ProgressBar::~ProgressBar() {
  const std::lock_guard lock(mutex_);
  if (line_open_) {
    std::fputc('\n', options_.stream);
    std::fflush(options_.stream);
  }
}

double ProgressBar::now() const { return options_.clock ? options_.clock() : steady_seconds(); }

double ProgressBar::done() const {
  const std::lock_guard lock(mutex_);
  return done_;
}

void ProgressBar::advance(double work, std::string_view note) {
  if (!std::isfinite(work) || work < 0.0) {
    throw InvalidArgument("work", "must be finite and >= 0, got " + std::to_string(work));
  }
  const std::lock_guard lock(mutex_);
  done_ += work;
  // A log gets a new note (a setting entering its next phase) at once: the
  // phase after it may be silent for many minutes (dsyevd at m = 16384), and a
  // rate-limited note would stay unwritten all that time.
  const bool new_note_in_log = !interactive_ && !note.empty() && note != note_;
  if (!note.empty()) note_ = note;
  if (finished_ || !options_.enabled) return;
  const double t = now();
  if (t - last_draw_ < min_interval_ && !new_note_in_log) return;
  last_draw_ = t;
  draw(format_line(label_, done_, total_, t - start_, note_, options_.bar_width), false);
}

void ProgressBar::finish(std::string_view note) {
  const std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (!note.empty()) note_ = note;
  if (!options_.enabled) return;
  draw(format_final_line(label_, done_, total_, now() - start_, note_, options_.bar_width), true);
}

void ProgressBar::draw(const std::string& line, bool final) {
  std::FILE* out = options_.stream;
  if (!interactive_) {
    std::fprintf(out, "%s\n", line.c_str());
    std::fflush(out);
    return;
  }
  // One line redrawn in place: a line as wide as the terminal would wrap and
  // the next '\r' would return to the wrong row, so keep it one column short.
  std::string shown = line;
  if (columns_ > 1 && shown.size() >= columns_) shown.resize(columns_ - 1);
  std::string text = "\r" + shown;
  if (drawn_length_ > shown.size()) text.append(drawn_length_ - shown.size(), ' ');  // blank the leftovers
  drawn_length_ = shown.size();
  if (final) text += '\n';
  std::fputs(text.c_str(), out);
  std::fflush(out);
  line_open_ = !final;
}

}  // namespace gengap::cli
