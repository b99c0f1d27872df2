#include "gengap/generalization/plots/digits_study_plots.hpp"

#include <cmath>
#include <string>

#include "gengap/generalization/plots/plot.hpp"

namespace gengap {
namespace {

std::string size_label(std::size_t n) { return "n = " + std::to_string(n); }

// One curve per n of a row quantity against tau.
PlotPanel rows_panel(const std::vector<DigitsSetting>& settings, std::string title, std::string y_label,
                     double (*value)(const DigitsRow&), double (*error)(const DigitsRow&)) {
  PlotPanel panel;
  panel.title = std::move(title);
  panel.x_label = "training time tau";
  panel.y_label = std::move(y_label);
  panel.log_x = true;
  panel.key_outside = settings.size() > 4;
  for (const DigitsSetting& s : settings) {
    PlotSeries series{size_label(s.n), {}, {}, {}, SeriesStyle::lines_points};
    for (const DigitsRow& r : s.rows) {
      if (!std::isfinite(value(r))) continue;
      series.x.push_back(r.tau);
      series.y.push_back(value(r));
      if (error) series.y_error.push_back(std::isfinite(error(r)) ? error(r) : 0.0);
    }
    if (!series.x.empty()) panel.series.push_back(std::move(series));
  }
  return panel;
}

// One curve per n of a fine-grid curve.
PlotPanel curve_panel(const std::vector<DigitsSetting>& settings, std::string title, std::string y_label, bool gap) {
  PlotPanel panel;
  panel.title = std::move(title);
  panel.x_label = "training time tau";
  panel.y_label = std::move(y_label);
  panel.log_x = true;
  panel.key_outside = settings.size() > 4;
  for (const DigitsSetting& s : settings) {
    PlotSeries series{size_label(s.n), s.curve_tau, s.curve_heldout, {}, SeriesStyle::lines};
    if (gap)
      for (std::size_t k = 0; k < series.y.size(); ++k) series.y[k] -= s.curve_train[k];
    if (!series.x.empty()) panel.series.push_back(std::move(series));
  }
  return panel;
}

void add_timescale(PlotPanel& panel, const std::vector<DigitsSetting>& settings, const std::string& name,
                   double DigitsSetting::*member, const PowerLawFit& fit) {
  PlotSeries points{name, {}, {}, {}, SeriesStyle::points};
  for (const DigitsSetting& s : settings) {
    if (std::isfinite(s.*member) && s.*member > 0.0) points.x.push_back(double(s.n)), points.y.push_back(s.*member);
  }
  if (points.x.empty()) return;
  if (fit.points >= 3) {
    char label[96];
    std::snprintf(label, sizeof label, "%s fit: slope %.2f [%.2f, %.2f]", name.c_str(), fit.slope, fit.slope_low,
                  fit.slope_high);
    PlotSeries line{label, {points.x.front(), points.x.back()}, {}, {}, SeriesStyle::lines};
    for (const double x : line.x) line.y.push_back(fit.predict(x));
    panel.series.push_back(std::move(points));
    panel.series.push_back(std::move(line));
    return;
  }
  panel.series.push_back(std::move(points));
}

}  // namespace

std::vector<std::filesystem::path> write_digits_plots(const std::filesystem::path& dir,
                                                      const std::vector<DigitsSetting>& settings,
                                                      const DigitsFits& fits) {
  std::vector<std::filesystem::path> written;
  if (settings.empty()) return written;
  const auto write = [&](Figure figure, const char* file) {
    std::vector<PlotPanel> kept;
    for (PlotPanel& p : figure.panels)
      if (!p.series.empty()) kept.push_back(std::move(p));
    if (kept.empty()) return;
    figure.panels = std::move(kept);
    written.push_back(write_plot(figure, dir / file).png);
  };

  Figure likelihood;
  likelihood.title = "digits (d = 64): negative log-likelihood by the probability-flow ODE";
  likelihood.panels = {
      rows_panel(settings, "test digits", "NLL (bits / dim)", [](const DigitsRow& r) { return r.test_bits; },
                 [](const DigitsRow& r) { return r.test_bits_se; }),
      rows_panel(settings, "training digits", "NLL (bits / dim)", [](const DigitsRow& r) { return r.train_bits; },
                 [](const DigitsRow& r) { return r.train_bits_se; })};
  likelihood.columns = 2;
  write(std::move(likelihood), "likelihood.png");

  Figure losses;
  losses.title = "digits: denoising score-matching losses along the exact flow";
  losses.panels = {curve_panel(settings, "held-out loss L_test", "L_test", false),
                   curve_panel(settings, "generalization gap", "L_test - L_n", true)};
  losses.columns = 2;
  write(std::move(losses), "losses.png");

  Figure samples;
  samples.title = "digits: reverse-SDE samples against the training digits";
  samples.panels = {rows_panel(settings, "memorised (nearest / second nearest < 1/3)", "memorised fraction",
                               [](const DigitsRow& r) { return r.memorization.memorized_fraction; }, nullptr),
                    rows_panel(settings, "distance to the nearest training digit", "median nearest distance",
                               [](const DigitsRow& r) { return r.memorization.median_nearest; }, nullptr)};
  PlotSeries reference{"held-out digits (largest n)", {}, {}, {}, SeriesStyle::lines};
  const DigitsSetting& last = settings.back();
  if (!last.rows.empty() && std::isfinite(last.heldout_nearest_median)) {
    reference.x = {last.rows.front().tau, last.rows.back().tau};
    reference.y = {last.heldout_nearest_median, last.heldout_nearest_median};
    samples.panels[1].series.push_back(std::move(reference));
  }
  samples.columns = 2;
  write(std::move(samples), "samples.png");

  Figure timescales;
  timescales.title = "digits: timescales against the training-set size";
  PlotPanel panel;
  panel.x_label = "training digits n";
  panel.y_label = "tau";
  panel.log_x = panel.log_y = true;
  panel.key_outside = true;
  add_timescale(panel, settings, "tau_gen (argmin test NLL)", &DigitsSetting::tau_gen, fits.tau_gen);
  add_timescale(panel, settings, "tau_best (argmin L_test)", &DigitsSetting::tau_best, fits.tau_best);
  add_timescale(panel, settings, "tau_mem_loss (half the rise of L_test)", &DigitsSetting::tau_mem_loss, fits.tau_mem_loss);
  add_timescale(panel, settings, "tau_mem (memorised >= threshold)", &DigitsSetting::tau_mem, fits.tau_mem);
  timescales.panels = {std::move(panel)};
  timescales.panel_width = 900;
  write(std::move(timescales), "timescales.png");
  return written;
}

}  // namespace gengap
