#pragma once
// Figures drawn with gnuplot, shared by every study: a Figure is one or more
// panels (gnuplot multiplot, `columns` per row), each with a title, axis
// labels, linear or log axes and a legend of series y(x), optionally with
// error bars y +- y_error.
//
// write_plot(figure, "dir/kl.png") writes beside the PNG
//   dir/kl.dat  the numbers: one block per series, in plot order, blocks
//               separated by two blank lines (gnuplot `index k`); columns
//               x y [y_error], %.17g; "?" marks a missing (NaN) y
//   dir/kl.gp   the script, editable: `gnuplot dir/kl.gp` re-renders
//               dir/kl.png from dir/kl.dat (paths relative to the script;
//               `gnuplot -e "output='other.png'" dir/kl.gp` renders elsewhere)
// both atomically (atomic_file.hpp), then runs gnuplot on the script with its
// output set to a temporary "<name>.png.tmp.XXXXXX" in the same folder, checks
// that the result is a PNG and renames it over dir/kl.png (after fsync): the
// PNG is either the previous one or the complete new one, never half-written,
// and no temporary remains. The terminal is pngcairo when gnuplot has it,
// png otherwise (chosen by the script).
//
// Errors: an invalid figure throws InvalidArgument naming the field
// ("panels[0].series[1].y: ...") before anything is written; when gnuplot
// cannot be started GnuplotNotFound (the data and script are written, so the
// plot can be rendered elsewhere; callers decide whether that is fatal); when
// gnuplot fails, std::runtime_error with gnuplot's first message lines.
#include <cstddef>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace gengap {

enum class SeriesStyle { lines, points, lines_points };

struct PlotSeries {
  std::string label;             // legend entry (empty: none)
  std::vector<double> x;         // finite; > 0 on a log x axis
  std::vector<double> y;         // same length; NaN = missing point; +-Inf rejected; > 0 on a log y axis
  std::vector<double> y_error;   // empty (no error bars) or same length, >= 0 (NaN only where y is NaN)
  SeriesStyle style = SeriesStyle::lines;
};

struct PlotPanel {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;
  bool log_y = false;
  // The legend right of the plot area instead of inside its top right corner
  // (many series: it would hide curves).
  bool key_outside = false;
  std::vector<PlotSeries> series;  // >= 1, each with >= 1 point and at least one finite y
};

struct Figure {
  std::string title;               // above all panels (multiplot title); the panel title if one panel
  std::vector<PlotPanel> panels;   // >= 1
  std::size_t columns = 0;         // panels per row; 0: min(panels, 3)
  std::size_t panel_width = 640;   // pixels per panel
  std::size_t panel_height = 420;

  // InvalidArgument naming the field: panels, columns, panel_width,
  // panel_height, panels[i].series, panels[i].series[j].{x,y,y_error}.
  void validate() const;
};

struct PlotOptions {
  std::string gnuplot = "gnuplot";  // program (searched on PATH when it has no '/')
};

struct PlotFiles {
  std::filesystem::path png;
  std::filesystem::path script;  // <stem>.gp
  std::filesystem::path data;    // <stem>.dat
};

class GnuplotNotFound : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The script and data file contents for a figure rendered to `png` (what
// write_plot writes; exposed for tests and for callers that render later).
std::string gnuplot_script(const Figure& figure, const std::filesystem::path& png);
std::string gnuplot_data(const Figure& figure);

// Validates, writes the data and script beside `png` (which must end in
// ".png"; InvalidArgument "png" otherwise; its folder is created if missing),
// renders and renames (see above).
PlotFiles write_plot(const Figure& figure, const std::filesystem::path& png, const PlotOptions& options = {});

// True when `gnuplot --version` runs and exits 0.
bool gnuplot_available(const PlotOptions& options = {});

// Density snapshots (study S1): one panel per snapshot k with the target
// density and the learned one on the same grid, titled "tau = <tau[k]>".
// grid: G points; target: G values; learned[k]: G values; tau: one per
// snapshot. Shapes are checked by Figure::validate (write_plot).
Figure density_snapshot_figure(std::string title, std::span<const double> grid, std::span<const double> target,
                               const std::vector<std::vector<double>>& learned, std::span<const double> tau,
                               std::string x_label = "x", std::string y_label = "density");

}  // namespace gengap
