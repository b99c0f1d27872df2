#include "gengap/generalization/plots/smoothing_study_plots.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "gengap/generalization/plots/plot.hpp"

namespace gengap {
namespace {

// The histogram as a step curve (two points per bin) with the uniform density
// and the training points (at u = i / (n - 1), on the axis).
PlotPanel histogram_panel(const SmoothingStudyConfig& c, const SmoothingRow& r) {
  PlotPanel panel;
  char memorised[32];
  std::snprintf(memorised, sizeof memorised, " (memorised %.3g)", r.memorization.memorized_fraction);
  panel.title = r.score_label() + memorised;
  panel.x_label = "position along the segment u";
  panel.y_label = "density of samples";
  PlotSeries steps{"samples", {}, {}, {}, SeriesStyle::lines};
  const SegmentHistogram& h = r.histogram;
  for (std::size_t b = 0; b < h.density.size(); ++b) {
    steps.x.insert(steps.x.end(), {h.edges[b], h.edges[b + 1]});
    steps.y.insert(steps.y.end(), {h.density[b], h.density[b]});
  }
  double top = 1.0;
  for (const double y : steps.y) top = std::max(top, y);
  // Training points as vertical lines: one comb (up and back down at each
  // point, along the axis between them), since a missing y does not break a
  // gnuplot line.
  PlotSeries points{"training points", {}, {}, {}, SeriesStyle::lines};
  for (std::size_t i = 0; i < c.segment.points; ++i) {
    const double u = double(i) / double(c.segment.points - 1);
    points.x.insert(points.x.end(), {u, u, u});
    points.y.insert(points.y.end(), {0.0, top, 0.0});
  }
  panel.series.push_back(std::move(points));
  panel.series.push_back(std::move(steps));
  panel.series.push_back(PlotSeries{"uniform", {0.0, 1.0}, {1.0, 1.0}, {}, SeriesStyle::lines});
  return panel;
}

// One curve per d of `value` against delta / h (kind smoothed, with s_n at
// 0) or against tau (kind model).
PlotPanel curves_panel(const SmoothingStudyConfig& c, std::span<const SmoothingRow> rows, bool against_tau,
                       double (*value)(const SmoothingRow&), double (*error)(const SmoothingRow&), std::string y_label) {
  PlotPanel panel;
  panel.x_label = against_tau ? "training time tau" : "smoothing width delta / h (0: s_n)";
  panel.y_label = std::move(y_label);
  panel.log_x = against_tau;
  for (const std::size_t d : c.dims) {
    PlotSeries s{"d = " + std::to_string(d), {}, {}, {}, SeriesStyle::lines_points};
    for (const SmoothingRow& r : rows) {
      if (r.dim != d) continue;
      const bool wanted = against_tau ? r.kind == SmoothingScoreKind::model
                                      : r.kind != SmoothingScoreKind::model;
      if (!wanted || !std::isfinite(value(r))) continue;
      s.x.push_back(against_tau ? r.tau : (r.kind == SmoothingScoreKind::empirical ? 0.0 : r.delta_per_spacing));
      s.y.push_back(value(r));
      if (error) s.y_error.push_back(std::isfinite(error(r)) ? error(r) : 0.0);
    }
    if (!s.x.empty()) panel.series.push_back(std::move(s));
  }
  return panel;
}

}  // namespace

std::vector<std::filesystem::path> write_smoothing_plots(const std::filesystem::path& dir,
                                                         const SmoothingStudyConfig& config,
                                                         std::span<const SmoothingRow> rows) {
  std::vector<std::filesystem::path> written;
  for (const std::size_t d : config.dims) {
    Figure figure;
    figure.title = "S6 smoothing, d = " + std::to_string(d) + ": where the samples fall along the training segment";
    for (const SmoothingRow& r : rows) {
      if (r.dim == d) figure.panels.push_back(histogram_panel(config, r));
    }
    if (figure.panels.empty()) continue;
    figure.columns = std::min<std::size_t>(figure.panels.size(), 4);
    figure.panel_width = 520;
    figure.panel_height = 340;
    written.push_back(write_plot(figure, dir / ("histograms_d" + std::to_string(d) + ".png")).png);
  }

  const auto memorised = [](const SmoothingRow& r) { return r.memorization.memorized_fraction; };
  const auto tv = [](const SmoothingRow& r) { return r.histogram.total_variation_to_uniform; };
  const auto heldout = [](const SmoothingRow& r) { return r.heldout_log_likelihood; };
  const auto heldout_se = [](const SmoothingRow& r) { return r.heldout_log_likelihood_se; };
  const auto gap = [](const SmoothingRow& r) { return r.likelihood_gap; };
  const auto figure_of = [&](std::string title, std::vector<PlotPanel> candidates) {
    Figure figure;
    figure.title = std::move(title);
    for (PlotPanel& p : candidates) {
      if (!p.series.empty()) figure.panels.push_back(std::move(p));
    }
    figure.columns = 2;
    return figure;
  };
  std::vector<PlotPanel> memorization_panels{
      curves_panel(config, rows, false, memorised, nullptr, "memorised fraction"),
      curves_panel(config, rows, true, memorised, nullptr, "memorised fraction"),
      curves_panel(config, rows, false, tv, nullptr, "TV distance to uniform along the segment"),
      curves_panel(config, rows, true, tv, nullptr, "TV distance to uniform along the segment")};
  memorization_panels[0].title = "smoothing the empirical score";
  memorization_panels[1].title = "training the random-feature score";
  Figure memorization = figure_of("S6 smoothing: memorisation and interpolation", std::move(memorization_panels));
  if (!memorization.panels.empty()) written.push_back(write_plot(memorization, dir / "memorization.png").png);

  std::vector<PlotPanel> likelihood_panels{
      curves_panel(config, rows, false, heldout, heldout_se, "held-out log-likelihood (nats)"),
      curves_panel(config, rows, true, heldout, heldout_se, "held-out log-likelihood (nats)"),
      curves_panel(config, rows, false, gap, nullptr, "train - held-out log-likelihood"),
      curves_panel(config, rows, true, gap, nullptr, "train - held-out log-likelihood")};
  Figure likelihood = figure_of("S6 smoothing: likelihood of held-out points on the segment", std::move(likelihood_panels));
  if (!likelihood.panels.empty()) written.push_back(write_plot(likelihood, dir / "likelihood.png").png);
  return written;
}

}  // namespace gengap
