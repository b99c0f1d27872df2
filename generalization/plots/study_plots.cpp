#include "gengap/generalization/plots/study_plots.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace gengap {
namespace {

std::string tau_axis(const StudyConfig& c) {
  return c.sweep.tau_unit == TauUnit::per_feature ? "training time tau / m (per feature)" : "training time tau";
}

std::string title(const StudyConfig& c, const std::string& what) {
  return std::string(study_label(c.kind)) + " " + std::string(to_string(c.kind)) + ": " + what;
}

std::string format(const char* pattern, double a, double b = 0.0, double c = 0.0) {
  char text[160];
  std::snprintf(text, sizeof text, pattern, a, b, c);
  return text;
}

}  // namespace

Figure study_kl_figure(const StudyConfig& config, std::span<const StudySetting> settings) {
  PlotPanel panel;
  panel.x_label = tau_axis(config);
  panel.y_label = "KL";
  panel.log_x = panel.log_y = true;
  panel.key_outside = true;  // one entry per setting (up to 10): inside it covers the curves
  for (const StudySetting& s : settings) {
    const EarlyStoppingResult& r = s.result;
    const bool quadrature = r.summary.kl_available ? r.summary.kl_source == "quadrature" : r.config.kl.quadrature;
    PlotSeries series;
    series.label = config.setting_label(s.summary.index);
    // Only the evaluated taus: a line through missing points would break up.
    for (std::size_t i = 0; i < r.kl.size() && i < r.tau.size(); ++i) {
      const double kl = quadrature ? r.kl[i].quad : r.kl[i].ode;
      if (!r.kl[i].evaluated || !(kl > 0.0) || !std::isfinite(kl)) continue;
      series.x.push_back(r.tau[i] / s.summary.tau_scale);
      series.y.push_back(kl);
    }
    if (!series.x.empty()) panel.series.push_back(std::move(series));
  }
  Figure figure;
  figure.title = title(config, "KL(p_0 || p_theta(tau)) along training time, per setting");
  figure.panel_width = 820;  // room for the legend beside the plot
  if (!panel.series.empty()) figure.panels.push_back(std::move(panel));
  return figure;
}

Figure study_density_figure(const StudyConfig& config, std::span<const StudySetting> settings) {
  Figure figure;
  figure.title = title(config, "learned density at tau* vs target");
  for (const StudySetting& s : settings) {
    if (!s.result.best_density || s.result.best_density->x.empty()) continue;
    const DensitySnapshot& d = *s.result.best_density;
    const char* pattern =
        config.sweep.tau_unit == TauUnit::per_feature ? ": tau*/m = %.3g, KL = %.3g" : ": tau* = %.3g, KL = %.3g";
    PlotPanel panel{config.setting_label(s.summary.index) + format(pattern, d.tau / s.summary.tau_scale, s.summary.kl_best),
                    std::string("x"), std::string("density"), false, false, false, {}};
    panel.series.push_back({"target p_0", d.x, d.p0, {}, SeriesStyle::lines});
    panel.series.push_back({"learned p_theta", d.x, d.p_theta, {}, SeriesStyle::lines});
    figure.panels.push_back(std::move(panel));
  }
  return figure;
}

Figure study_fits_figure(const StudyConfig& config, const StudySummary& summary) {
  Figure figure;
  figure.title = title(config, "rates (log-log least squares)");
  for (const StudyFit& f : summary.fits) {
    if (f.x.empty()) continue;
    PlotPanel panel;
    panel.title = f.description;
    panel.x_label = f.x_label;
    panel.y_label = f.y_label;
    panel.log_x = panel.log_y = true;
    panel.series.push_back({"measured", f.x, f.y, {}, SeriesStyle::points});
    const double lo = *std::min_element(f.x.begin(), f.x.end());
    const double hi = *std::max_element(f.x.begin(), f.x.end());
    if (f.fit) {
      const PowerLawFit& p = *f.fit;
      panel.series.push_back({format("fit: slope %.3g [%.0f%% CI %.3g, ", p.slope, 100.0 * p.confidence, p.slope_low) +
                                  format("%.3g]", p.slope_high),
                              {lo, hi},
                              {p.predict(lo), p.predict(hi)},
                              {},
                              SeriesStyle::lines});
    }
    if (f.paper_slope && f.x.size() >= 2) {
      // Through the log-centroid of the points: compares slopes, not prefactors.
      double mean_x = 0.0, mean_y = 0.0;
      for (std::size_t i = 0; i < f.x.size(); ++i) mean_x += std::log(f.x[i]), mean_y += std::log(f.y[i]);
      mean_x /= static_cast<double>(f.x.size());
      mean_y /= static_cast<double>(f.y.size());
      const auto line = [&](double x) { return std::exp(mean_y + *f.paper_slope * (std::log(x) - mean_x)); };
      panel.series.push_back({format("paper: slope %.3g", *f.paper_slope), {lo, hi}, {line(lo), line(hi)}, {},
                              SeriesStyle::lines});
    }
    figure.panels.push_back(std::move(panel));
  }
  return figure;
}

Figure study_bound_figure(const StudyConfig& config, std::span<const StudySetting> settings) {
  Figure figure;
  if (config.kind != StudyKind::diffusion_time) return figure;
  figure.title = title(config, "the bound's terms and the measured KL against T");
  std::vector<StudySettingSummary> rows;
  for (const StudySetting& s : settings) rows.push_back(s.summary);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.value < b.value; });
  // One series of y(row) against T over the rows where it is finite (and > 0 on a log axis).
  const auto series = [&](const char* label, auto y, bool positive) {
    PlotSeries s{label, {}, {}, {}, SeriesStyle::lines_points};
    for (const StudySettingSummary& r : rows) {
      const double v = y(r);
      if (!std::isfinite(v) || (positive && !(v > 0.0))) continue;
      s.x.push_back(r.value);
      s.y.push_back(v);
    }
    return s;
  };
  PlotPanel terms{"terms from the training data (model at the fixed tau)", "diffusion time T", "nats", true, false,
                  true, {}};
  terms.series.push_back(series("-I_T", [](const auto& r) { return -r.information; }, false));
  terms.series.push_back(series("encoder term", [](const auto& r) { return r.encoder_term; }, false));
  terms.series.push_back(series("generator term", [](const auto& r) { return r.generator_term_fixed; }, false));
  terms.series.push_back(series("L_n", [](const auto& r) { return r.train_loss_fixed; }, false));
  terms.series.push_back(series("bound", [](const auto& r) { return r.bound_fixed; }, false));
  PlotPanel measured{"prior term and measured KL", "diffusion time T", "KL", true, true, true, {}};
  measured.series.push_back(series("KL(p_T || pi) exact", [](const auto& r) { return r.prior_kl; }, true));
  measured.series.push_back(series("KL(p_T^n || pi) data only", [](const auto& r) { return r.prior_kl_data; }, true));
  measured.series.push_back(series("KL(p_0 || p_theta) at the fixed tau", [](const auto& r) { return r.kl_fixed_tau; }, true));
  measured.series.push_back(series("KL(p_0 || p_theta) at tau*", [](const auto& r) { return r.kl_best; }, true));
  for (PlotPanel* panel : {&terms, &measured}) {
    std::erase_if(panel->series, [](const PlotSeries& s) { return s.x.empty(); });
    if (!panel->series.empty()) figure.panels.push_back(std::move(*panel));
  }
  figure.columns = 2;
  figure.panel_width = 820;
  return figure;
}

std::vector<std::filesystem::path> write_study_plots(const std::filesystem::path& dir, const StudyConfig& config,
                                                     std::span<const StudySetting> settings,
                                                     const StudySummary& summary, const PlotOptions& options) {
  std::vector<std::filesystem::path> written;
  const auto draw = [&](const Figure& figure, const char* stem) {
    if (figure.panels.empty()) {
      for (const char* extension : {".png", ".gp", ".dat"}) std::filesystem::remove(dir / (std::string(stem) + extension));
      return;
    }
    written.push_back(write_plot(figure, dir / (std::string(stem) + ".png"), options).png);
  };
  draw(study_kl_figure(config, settings), "kl");
  draw(study_density_figure(config, settings), "densities");
  draw(study_fits_figure(config, summary), "fits");
  draw(study_bound_figure(config, settings), "bound");
  return written;
}

}  // namespace gengap
