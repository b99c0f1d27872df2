#include "gengap/generalization/plots/early_stopping_plots.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

namespace gengap {
namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

PlotSeries series(std::string label, const std::vector<double>& x, std::vector<double> y) {
  PlotSeries s;
  s.label = std::move(label);
  s.x = x;
  s.y = std::move(y);
  return s;
}

bool any_finite(const std::vector<double>& y) {
  for (const double v : y) {
    if (std::isfinite(v)) return true;
  }
  return false;
}

// Log axes cannot show values <= 0: they become missing points.
std::vector<double> positive_or_missing(std::vector<double> y) {
  for (double& v : y) {
    if (!(v > 0.0)) v = nan;
  }
  return y;
}

PlotPanel panel(std::string title, std::string x_label, std::string y_label, bool log_x, bool log_y) {
  PlotPanel p;
  p.title = std::move(title);
  p.x_label = std::move(x_label);
  p.y_label = std::move(y_label);
  p.log_x = log_x;
  p.log_y = log_y;
  return p;
}

std::string tau_title(double tau) {
  char text[64];
  std::snprintf(text, sizeof text, "tau = %.3g", tau);
  return text;
}

}  // namespace

Figure early_stopping_loss_figure(const EarlyStoppingResult& r) {
  PlotPanel losses = panel("DSM losses along training time", "training time tau", "loss", true, true);
  losses.series.push_back(series("L_n (train)", r.tau, positive_or_missing(r.loss_train)));
  losses.series.push_back(series("L (population)", r.tau, positive_or_missing(r.loss_pop)));

  PlotPanel gap = panel("generalization gap", "training time tau", "L - L_n", true, false);
  gap.series.push_back(series("L - L_n", r.tau, r.gap));

  Figure figure;
  figure.title = "S1 early stopping: losses";
  figure.panels = {losses, gap};
  return figure;
}

Figure early_stopping_kl_figure(const EarlyStoppingResult& r) {
  std::vector<double> ode(r.tau.size(), nan), ode_se(r.tau.size(), nan), quad(r.tau.size(), nan),
      paper(r.tau.size(), nan);
  for (std::size_t i = 0; i < r.kl.size() && i < r.tau.size(); ++i) {
    ode[i] = r.kl[i].ode;
    quad[i] = r.kl[i].quad;
    paper[i] = r.kl[i].score_integral;
  }
  ode = positive_or_missing(std::move(ode));
  quad = positive_or_missing(std::move(quad));
  paper = positive_or_missing(std::move(paper));
  for (std::size_t i = 0; i < r.kl.size() && i < r.tau.size(); ++i) {
    if (std::isfinite(ode[i])) ode_se[i] = r.kl[i].ode_se;
  }

  PlotPanel kl = panel("KL(p_0 || p_theta(tau))", "training time tau", "KL", true, true);
  if (any_finite(quad)) {
    PlotSeries s = series("quadrature", r.tau, quad);
    s.style = SeriesStyle::lines_points;
    kl.series.push_back(std::move(s));
  }
  if (any_finite(ode)) {
    PlotSeries s = series("likelihood ODE, test samples (+- 1 SE)", r.tau, ode);
    s.y_error = ode_se;
    s.style = SeriesStyle::points;
    kl.series.push_back(std::move(s));
  }
  if (any_finite(paper)) {
    PlotSeries s = series("paper's density (score integral at t_min), quadrature", r.tau, paper);
    s.style = SeriesStyle::lines;
    kl.series.push_back(std::move(s));
  }
  Figure figure;
  figure.title = "S1 early stopping: KL along training time";
  if (!kl.series.empty()) figure.panels.push_back(std::move(kl));
  return figure;
}

Figure early_stopping_density_figure(const EarlyStoppingResult& r) {
  Figure figure;
  figure.title = "S1 early stopping: learned vs target density";
  for (const DensitySnapshot& snapshot : r.densities) {
    if (snapshot.x.empty()) continue;
    PlotPanel density = panel(tau_title(snapshot.tau), "x", "density", false, false);
    density.series.push_back(series("target p_0", snapshot.x, snapshot.p0));
    density.series.push_back(series("learned p_theta", snapshot.x, snapshot.p_theta));
    figure.panels.push_back(std::move(density));
  }
  return figure;
}

Figure early_stopping_bounds_figure(const EarlyStoppingResult& r) {
  Figure figure;
  figure.title = "S1 early stopping: bound terms along training time (docs/math.md §10)";
  if (r.bounds.rows.size() != r.tau.size()) return figure;
  const auto column = [&](double BoundRow::*member) {
    std::vector<double> y(r.tau.size());
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = r.bounds.rows[i].*member;
    return positive_or_missing(std::move(y));
  };
  const auto add = [](PlotPanel& p, std::string label, const std::vector<double>& x, std::vector<double> y,
                      SeriesStyle style = SeriesStyle::lines) {
    if (!any_finite(y)) return;
    PlotSeries s = series(std::move(label), x, std::move(y));
    s.style = style;
    p.series.push_back(std::move(s));
  };

  PlotPanel kl = panel("KL and the likelihood bound", "training time tau", "nats", true, true);
  std::vector<double> quad(r.tau.size(), nan);
  for (std::size_t i = 0; i < r.kl.size() && i < quad.size(); ++i) quad[i] = r.kl[i].quad;
  add(kl, "KL(p_0 || p_theta), quadrature", r.tau, positive_or_missing(std::move(quad)), SeriesStyle::lines_points);
  add(kl, "J_SM(g^2) + KL(p_T || pi)", r.tau, column(&BoundRow::likelihood_bound));
  add(kl, "J_SM(g^2)", r.tau, column(&BoundRow::score_matching));

  PlotPanel optimization = panel("optimisation error", "training time tau", "L_n(A(tau)) - min L_n", true, true);
  add(optimization, "L_n(A(tau)) - L_n(A*)", r.tau, column(&BoundRow::optimization_error));
  add(optimization, "||A_0 - A*||^2 / (2 tau)", r.tau, column(&BoundRow::optimization_bound));

  PlotPanel generalization = panel("generalization terms", "training time tau", "value", true, true);
  std::vector<double> gap(r.gap.size());
  for (std::size_t i = 0; i < gap.size(); ++i) gap[i] = std::abs(r.gap[i]);
  add(generalization, "|L - L_n|", r.tau, positive_or_missing(std::move(gap)));
  add(generalization, "Monte Carlo error |L_{n,K} - L_n|", r.tau, column(&BoundRow::monte_carlo_error));
  add(generalization, "||A(tau) - A_0||_F", r.tau, positive_or_missing(r.norm_growth));
  add(generalization, "Rademacher complexity", r.tau, column(&BoundRow::rademacher));

  for (PlotPanel* p : {&kl, &optimization, &generalization}) {
    if (!p->series.empty()) figure.panels.push_back(std::move(*p));
  }
  return figure;
}

std::vector<std::filesystem::path> write_early_stopping_plots(const std::filesystem::path& dir,
                                                              const EarlyStoppingResult& result,
                                                              const PlotOptions& options) {
  std::vector<std::filesystem::path> written;
  const auto draw = [&](const Figure& figure, const char* stem) {
    const std::filesystem::path png = dir / (std::string(stem) + ".png");
    if (figure.panels.empty()) {
      for (const char* extension : {".png", ".gp", ".dat"}) {
        std::filesystem::remove(dir / (std::string(stem) + extension));
      }
      return;
    }
    written.push_back(write_plot(figure, png, options).png);
  };
  draw(early_stopping_loss_figure(result), "losses");
  draw(early_stopping_kl_figure(result), "kl");
  draw(early_stopping_density_figure(result), "densities");
  draw(early_stopping_bounds_figure(result), "bounds");
  return written;
}

}  // namespace gengap
