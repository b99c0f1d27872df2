#include "gengap/generalization/plots/plot.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "gengap/generalization/io/atomic_file.hpp"
#include "gengap/kernels/error.hpp"

extern char** environ;

namespace gengap {
namespace {

std::string number(double value) {
  if (std::isnan(value)) return "?";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

// A gnuplot single-quoted string (no escapes inside except '' for ').
std::string gnuplot_string(std::string_view text) {
  std::string out = "'";
  for (const char ch : text) {
    if (ch == '\'') {
      out += "''";
    } else if (ch == '\n' || ch == '\r') {
      out += ' ';
    } else {
      out += ch;
    }
  }
  return out + "'";
}

// User text shown literally under the enhanced-text terminal (which is kept
// for the 10^{k} tick labels of log axes): its control characters escaped.
std::string literal(std::string_view text) {
  std::string out;
  for (const char ch : text) {
    if (std::string_view("\\_^@&~{}").find(ch) != std::string_view::npos) out += '\\';
    out += ch;
  }
  return gnuplot_string(out);
}

std::string field_name(std::size_t panel, std::size_t series, std::string_view member) {
  return "panels[" + std::to_string(panel) + "].series[" + std::to_string(series) + "]" +
         (member.empty() ? "" : "." + std::string(member));
}

void validate_series(const PlotSeries& s, const PlotPanel& panel, std::size_t p, std::size_t k) {
  const auto field = [&](std::string_view member) { return field_name(p, k, member); };
  require(!s.x.empty(), field("x"), "empty series");
  require(s.y.size() == s.x.size(), field("y"),
          std::to_string(s.y.size()) + " values, but x has " + std::to_string(s.x.size()));
  require(s.y_error.empty() || s.y_error.size() == s.x.size(), field("y_error"),
          std::to_string(s.y_error.size()) + " values, but x has " + std::to_string(s.x.size()));
  bool any_finite = false;
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    const std::string at = " at index " + std::to_string(i);
    require(std::isfinite(s.x[i]), field("x"), "non-finite value" + at);
    require(!panel.log_x || s.x[i] > 0.0, field("x"),
            "value " + number(s.x[i]) + at + " is not positive on a log x axis");
    const double y = s.y[i];
    require(!std::isinf(y), field("y"), "infinite value" + at);
    if (std::isnan(y)) {
      require(s.y_error.empty() || std::isnan(s.y_error[i]) || std::isfinite(s.y_error[i]), field("y_error"),
              "infinite value" + at);
      continue;
    }
    any_finite = true;
    require(!panel.log_y || y > 0.0, field("y"), "value " + number(y) + at + " is not positive on a log y axis");
    if (!s.y_error.empty()) {
      require(std::isfinite(s.y_error[i]) && s.y_error[i] >= 0.0, field("y_error"),
              "must be finite and >= 0, got " + number(s.y_error[i]) + at);
    }
  }
  require(any_finite, field("y"), "no finite value (nothing to draw)");
}

std::size_t columns_of(const Figure& figure) {
  return figure.columns > 0 ? figure.columns : std::min<std::size_t>(figure.panels.size(), 3);
}

std::string plot_style(const PlotSeries& s) {
  const bool errors = !s.y_error.empty();
  switch (s.style) {
    case SeriesStyle::points:
      return errors ? "yerrorbars pt 7 ps 0.6" : "points pt 7 ps 0.6";
    case SeriesStyle::lines_points:
      return errors ? "yerrorlines pt 7 ps 0.5 lw 2" : "linespoints pt 7 ps 0.5 lw 2";
    case SeriesStyle::lines:
      break;
  }
  return errors ? "yerrorlines pt 7 ps 0.3 lw 2" : "lines lw 2";
}

// The folder a path lives in ("." for a bare name).
std::filesystem::path folder_of(const std::filesystem::path& path) {
  return path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
}

struct ProcessOutcome {
  int exit_code = -1;
  std::string output;  // stdout and stderr interleaved
};

// Runs argv[0] (searched on PATH) with stdin from /dev/null and stdout+stderr
// captured. Throws GnuplotNotFound when the program cannot be started.
ProcessOutcome run_process(const std::vector<std::string>& arguments) {
  std::array<int, 2> pipe_fds{};
  if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("cannot create a pipe for gnuplot: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  std::vector<char*> argv;
  for (const std::string& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawn_error = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (spawn_error != 0) {
    ::close(pipe_fds[0]);
    throw GnuplotNotFound("cannot run '" + arguments[0] + "' (" + std::strerror(spawn_error) +
                          "): install gnuplot (Debian: apt-get install gnuplot-nox) to draw plots");
  }
  ProcessOutcome outcome;
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    outcome.output.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

// The first few non-empty lines of gnuplot's messages, joined.
std::string first_lines(const std::string& text, std::size_t count) {
  std::string out;
  std::size_t start = 0, taken = 0;
  while (start < text.size() && taken < count) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    const auto first = line.find_first_not_of(" \t^");
    if (first != std::string::npos) {
      out += (out.empty() ? "" : " | ") + line.substr(first);
      ++taken;
    }
    start = end + 1;
  }
  return out.empty() ? "(no message)" : out;
}

bool has_png_signature(const std::string& path) {
  static constexpr unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  unsigned char head[8] = {};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  const std::size_t got = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  return got == sizeof head && std::memcmp(head, signature, sizeof head) == 0;
}

}  // namespace

void Figure::validate() const {
  require(!panels.empty(), "panels", "a figure needs at least one panel");
  require(columns <= panels.size(), "columns",
          "must be at most the number of panels (" + std::to_string(panels.size()) + "), got " +
              std::to_string(columns));
  require(panel_width >= 64 && panel_width <= 8192, "panel_width",
          "must be in [64, 8192] pixels, got " + std::to_string(panel_width));
  require(panel_height >= 64 && panel_height <= 8192, "panel_height",
          "must be in [64, 8192] pixels, got " + std::to_string(panel_height));
  for (std::size_t p = 0; p < panels.size(); ++p) {
    require(!panels[p].series.empty(), "panels[" + std::to_string(p) + "].series", "a panel needs at least one series");
    for (std::size_t k = 0; k < panels[p].series.size(); ++k) validate_series(panels[p].series[k], panels[p], p, k);
  }
}

std::string gnuplot_data(const Figure& figure) {
  std::string out = "# gengap plot data: one block per series (gnuplot index), columns x y [y_error]; ? = missing\n";
  bool first = true;
  for (std::size_t p = 0; p < figure.panels.size(); ++p) {
    for (const PlotSeries& s : figure.panels[p].series) {
      if (!first) out += "\n\n";
      first = false;
      out += "# panel " + std::to_string(p) + ": " + s.label + "\n";
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        out += number(s.x[i]) + ' ' + number(s.y[i]);
        if (!s.y_error.empty()) out += ' ' + (std::isnan(s.y[i]) ? std::string("?") : number(s.y_error[i]));
        out += '\n';
      }
    }
  }
  return out;
}

std::string gnuplot_script(const Figure& figure, const std::filesystem::path& png) {
  const std::string stem = png.stem().string();
  const std::size_t columns = columns_of(figure);
  const std::size_t rows = (figure.panels.size() + columns - 1) / columns;
  const bool multiplot = figure.panels.size() > 1;
  const std::size_t width = columns * figure.panel_width;
  const std::size_t height = rows * figure.panel_height + (multiplot && !figure.title.empty() ? 30 : 0);

  std::string s;
  s += "# Written by gengap (generalization/plots/plot.hpp). Edit freely, then re-render with\n";
  s += "#   gnuplot " + stem + ".gp      (writes " + stem + ".png beside this script from " + stem + ".dat)\n";
  s += "#   gnuplot -e \"output='other.png'\" " + stem + ".gp\n";
  s += "script_dir = ''\n";
  s += "do for [i = strlen(ARG0):1:-1] { if (script_dir eq '' && ARG0[i:i] eq '/') { script_dir = ARG0[1:i] } }\n";
  s += "if (!exists('output')) { output = script_dir." + gnuplot_string(stem + ".png") + " }\n";
  s += "data = script_dir." + gnuplot_string(stem + ".dat") + "\n";
  const std::string size = std::to_string(width) + "," + std::to_string(height);
  s += "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n";
  s += "  set terminal pngcairo size " + size + " enhanced font 'sans,10'\n";
  s += "} else {\n";
  s += "  set terminal png size " + size + " enhanced\n";
  s += "}\n";
  s += "set encoding utf8\n";
  s += "set output output\n";
  s += "set datafile missing '?'\n";
  s += "set grid\n";
  s += "set key spacing 1.2\n";
  if (multiplot) {
    s += "set multiplot layout " + std::to_string(rows) + "," + std::to_string(columns);
    if (!figure.title.empty()) s += " title " + literal(figure.title) + " font ',12'";
    s += "\n";
  }
  std::size_t block = 0;
  for (std::size_t p = 0; p < figure.panels.size(); ++p) {
    const PlotPanel& panel = figure.panels[p];
    std::string title = panel.title;
    if (!multiplot && !figure.title.empty()) {
      title = panel.title.empty() ? figure.title : figure.title + " - " + panel.title;
    }
    s += "\n# panel " + std::to_string(p) + "\n";
    s += "unset logscale\n";
    s += "set format x '% h'\nset format y '% h'\n";
    s += "set title " + literal(title) + "\n";
    s += "set xlabel " + literal(panel.x_label) + "\n";
    s += "set ylabel " + literal(panel.y_label) + "\n";
    if (panel.log_x) s += "set logscale x\nset format x '10^{%L}'\n";
    if (panel.log_y) s += "set logscale y\nset format y '10^{%L}'\n";
    s += panel.key_outside ? "set key outside right top\n" : "set key inside right top\n";
    s += "plot ";
    for (std::size_t k = 0; k < panel.series.size(); ++k) {
      const PlotSeries& series = panel.series[k];
      if (k > 0) s += ", \\\n     ";
      s += "data index " + std::to_string(block++) + " using 1:2" + (series.y_error.empty() ? "" : ":3") + " with " +
           plot_style(series) + (series.label.empty() ? std::string(" notitle") : " title " + literal(series.label));
    }
    s += "\n";
  }
  if (multiplot) s += "unset multiplot\n";
  s += "set output\n";
  return s;
}

PlotFiles write_plot(const Figure& figure, const std::filesystem::path& png, const PlotOptions& options) {
  figure.validate();
  require(png.extension() == ".png" && !png.stem().empty(), "png",
          "the image's name must end in .png, got '" + png.string() + "'");
  require(!options.gnuplot.empty(), "gnuplot", "empty program name");
  PlotFiles files{png, png, png};
  files.script.replace_extension(".gp");
  files.data.replace_extension(".dat");

  ensure_directory(folder_of(png), "png");
  write_file_atomically(files.data, gnuplot_data(figure));
  write_file_atomically(files.script, gnuplot_script(figure, png));

  replace_file_atomically(png, [&](const std::filesystem::path& temporary) {
    const ProcessOutcome outcome =
        run_process({options.gnuplot, "-e", "output=" + gnuplot_string(temporary.string()), files.script.string()});
    if (outcome.exit_code != 0) {
      throw std::runtime_error("gnuplot failed on '" + files.script.string() + "' (exit " +
                               std::to_string(outcome.exit_code) + "): " + first_lines(outcome.output, 3));
    }
    if (!has_png_signature(temporary.string())) {
      throw std::runtime_error("gnuplot wrote no PNG for '" + files.script.string() + "': " +
                               first_lines(outcome.output, 3));
    }
  });
  return files;
}

bool gnuplot_available(const PlotOptions& options) {
  try {
    return run_process({options.gnuplot, "--version"}).exit_code == 0;
  } catch (const GnuplotNotFound&) {
    return false;
  }
}

Figure density_snapshot_figure(std::string title, std::span<const double> grid, std::span<const double> target,
                               const std::vector<std::vector<double>>& learned, std::span<const double> tau,
                               std::string x_label, std::string y_label) {
  require(!learned.empty(), "learned", "no snapshot");
  require(learned.size() == tau.size(), "tau",
          std::to_string(tau.size()) + " times for " + std::to_string(learned.size()) + " snapshots");
  Figure figure;
  figure.title = std::move(title);
  for (std::size_t k = 0; k < learned.size(); ++k) {
    char heading[64];
    std::snprintf(heading, sizeof heading, "τ = %.4g", tau[k]);
    PlotPanel panel;
    panel.title = heading;
    panel.x_label = x_label;
    panel.y_label = y_label;
    panel.series.push_back({"target p_0", {grid.begin(), grid.end()}, {target.begin(), target.end()}, {},
                            SeriesStyle::lines});
    panel.series.push_back({"learned p_θ", {grid.begin(), grid.end()}, learned[k], {}, SeriesStyle::lines});
    figure.panels.push_back(std::move(panel));
  }
  return figure;
}

}  // namespace gengap
