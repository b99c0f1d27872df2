// KL(p_0 || p_theta) and int p_theta by adaptive composite Simpson quadrature
// in d = 1 (see kl.hpp for the algorithm and its error estimates).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gengap/generalization/kl.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Node {
  double x = 0.0;
  double log_p0 = 0.0;
  double log_p_theta = 0.0;
  bool failed = false;
  double f = 0.0;  // KL integrand p_0 (log p_0 - log p_theta)
  double g = 0.0;  // p_theta
};

struct Panel {
  Node a, m, b;
  double error_kl = 0.0;
  double error_mass = 0.0;
  double width() const { return b.x - a.x; }
};

struct Simpson {
  double kl = 0.0;
  double mass = 0.0;
};

Simpson simpson(const Node& a, const Node& m, const Node& b) {
  const double h = b.x - a.x;
  return {h / 6.0 * (a.f + 4.0 * m.f + b.f), h / 6.0 * (a.g + 4.0 * m.g + b.g)};
}

void finish(Node& node) {
  node.g = std::exp(node.log_p_theta);
  // p_0 = 0 (log p_0 = -inf) contributes nothing, whatever p_theta is.
  node.f = node.log_p0 == -kInf ? 0.0 : std::exp(node.log_p0) * (node.log_p0 - node.log_p_theta);
}

// A fresh panel (no parent): |Simpson - trapezoid on the same nodes|, the
// trapezoid's error estimate, an upper-side estimate of Simpson's.
Panel initial_panel(const Node& a, const Node& m, const Node& b) {
  Panel p{a, m, b};
  const double h = b.x - a.x;
  p.error_kl = std::abs(h / 12.0 * (a.f - 2.0 * m.f + b.f));
  p.error_mass = std::abs(h / 12.0 * (a.g - 2.0 * m.g + b.g));
  return p;
}

// Evaluates log p_0 and log p_theta at xs (one call each); failed log p_theta
// stay marked for the caller to fill.
std::vector<Node> evaluate(const LogDensity1d& log_p0, const LogDensity1d& log_p_theta, const std::vector<double>& xs,
                           std::size_t& rounds) {
  std::vector<double> lp0(xs.size()), lpt(xs.size());
  log_p0(xs, lp0);
  log_p_theta(xs, lpt);
  ++rounds;
  std::vector<Node> nodes(xs.size());
  for (std::size_t k = 0; k < xs.size(); ++k) {
    if (std::isnan(lp0[k]) || lp0[k] == kInf) {
      throw NumericalError(fmt::format("kl_quadrature: log p_0 is {} at x = {}", lp0[k], xs[k]));
    }
    nodes[k].x = xs[k];
    nodes[k].log_p0 = lp0[k];
    nodes[k].log_p_theta = lpt[k];
    nodes[k].failed = !std::isfinite(lpt[k]);
  }
  return nodes;
}

// Fills failed log p_theta on an ascending run of nodes by linear
// interpolation between the nearest finite ones (constant beyond the last
// one); returns false if none is finite.
bool fill_failed(std::vector<Node>& nodes) {
  std::vector<std::size_t> good;
  for (std::size_t k = 0; k < nodes.size(); ++k)
    if (!nodes[k].failed) good.push_back(k);
  if (good.empty()) return false;
  std::size_t next = 0;  // first good index >= k
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    while (next < good.size() && good[next] < k) ++next;
    if (!nodes[k].failed) continue;
    if (next == 0) {
      nodes[k].log_p_theta = nodes[good.front()].log_p_theta;
    } else if (next == good.size()) {
      nodes[k].log_p_theta = nodes[good.back()].log_p_theta;
    } else {
      const Node& l = nodes[good[next - 1]];
      const Node& r = nodes[good[next]];
      const double w = (nodes[k].x - l.x) / (r.x - l.x);
      nodes[k].log_p_theta = (1.0 - w) * l.log_p_theta + w * r.log_p_theta;
    }
  }
  return true;
}

// Tail mass beyond `end` of a density with log-density values at `end` and
// `inner` (the next node inwards): p(end) / (slope of log p falling outwards).
double tail_estimate(double log_p_end, double log_p_inner, double spacing) {
  if (log_p_end == -kInf) return 0.0;
  const double slope = (log_p_inner - log_p_end) / spacing;  // > 0: falls outwards
  return slope > 0.0 ? std::exp(log_p_end) / slope : kInf;
}

double kl_tail(const Node& end, const Node& inner) {
  const double spacing = std::abs(inner.x - end.x);
  const double p0_tail = tail_estimate(end.log_p0, inner.log_p0, spacing);
  const double ratio = end.log_p0 == -kInf ? 0.0 : std::abs(end.log_p0 - end.log_p_theta);
  return p0_tail * std::max(1.0, ratio);
}

bool needs_extension(const Node& end, const Node& inner, double tolerance) {
  const double spacing = std::abs(inner.x - end.x);
  return tail_estimate(end.log_p_theta, inner.log_p_theta, spacing) > 0.25 * tolerance ||
         kl_tail(end, inner) > 0.25 * tolerance;
}

// Panels over an ascending run of nodes (odd count >= 3).
std::vector<Panel> panels_of(const std::vector<Node>& nodes) {
  std::vector<Panel> panels;
  for (std::size_t k = 0; k + 2 < nodes.size(); k += 2)
    panels.push_back(initial_panel(nodes[k], nodes[k + 1], nodes[k + 2]));
  return panels;
}

std::vector<double> equally_spaced(double from, double to, std::size_t intervals) {
  std::vector<double> xs(intervals + 1);
  for (std::size_t k = 0; k <= intervals; ++k) xs[k] = from + (to - from) * static_cast<double>(k) / intervals;
  xs.back() = to;
  return xs;
}

// Moves an end out (by the window's width) while its tail is not negligible;
// clears r.window_complete when a tail is still above tolerance / 4 at the end.
void extend_window(std::vector<Panel>& panels, const LogDensity1d& log_p0, const LogDensity1d& log_p_theta,
                   const KlQuadratureOptions& options, KlQuadratureResult& r) {
  const double tol = options.tolerance;
  const std::size_t segment = std::max<std::size_t>(2, (options.initial_nodes - 1) / 4);  // panels per extension
  std::size_t extensions_left = 0, extensions_right = 0;
  for (;;) {
    const bool left = needs_extension(panels.front().a, panels.front().m, tol);
    const bool right = needs_extension(panels.back().b, panels.back().m, tol);
    const bool grow_left = left && extensions_left < options.max_extensions;
    const bool grow_right = right && extensions_right < options.max_extensions;
    const std::size_t budget_nodes = 2 * panels.size() + 1 + 2 * segment * (grow_left + grow_right);
    if ((left && !grow_left) || (right && !grow_right) || ((grow_left || grow_right) && budget_nodes > options.max_nodes)) {
      r.window_complete = false;
    }
    if (!(grow_left || grow_right) || budget_nodes > options.max_nodes) break;
    const double width = panels.back().b.x - panels.front().a.x;
    std::vector<double> xs;
    std::vector<double> left_xs, right_xs;
    if (grow_left) {
      left_xs = equally_spaced(panels.front().a.x - width, panels.front().a.x, 2 * segment);
      left_xs.pop_back();  // the current end is known
    }
    if (grow_right) {
      right_xs = equally_spaced(panels.back().b.x, panels.back().b.x + width, 2 * segment);
      right_xs.erase(right_xs.begin());
    }
    xs.insert(xs.end(), left_xs.begin(), left_xs.end());
    xs.insert(xs.end(), right_xs.begin(), right_xs.end());
    std::vector<Node> fresh = evaluate(log_p0, log_p_theta, xs, r.rounds);
    // Fill failures on each new segment together with the known end node.
    std::vector<Node> left_nodes(fresh.begin(), fresh.begin() + static_cast<std::ptrdiff_t>(left_xs.size()));
    std::vector<Node> right_nodes(fresh.begin() + static_cast<std::ptrdiff_t>(left_xs.size()), fresh.end());
    if (grow_left) {
      left_nodes.push_back(panels.front().a);
      fill_failed(left_nodes);  // the end node is finite: always succeeds
      for (std::size_t k = 0; k + 1 < left_nodes.size(); ++k) {
        r.failed_nodes += left_nodes[k].failed ? 1 : 0;
        finish(left_nodes[k]);
      }
      std::vector<Panel> grown = panels_of(left_nodes);
      panels.insert(panels.begin(), grown.begin(), grown.end());
      ++extensions_left;
    }
    if (grow_right) {
      right_nodes.insert(right_nodes.begin(), panels.back().b);
      fill_failed(right_nodes);
      for (std::size_t k = 1; k < right_nodes.size(); ++k) {
        r.failed_nodes += right_nodes[k].failed ? 1 : 0;
        finish(right_nodes[k]);
      }
      std::vector<Panel> grown = panels_of(right_nodes);
      panels.insert(panels.end(), grown.begin(), grown.end());
      ++extensions_right;
    }
  }

}

// Splits the panels whose error estimate exceeds their share of the
// tolerance, round after round, until both totals are within it (returns
// true) or the node budget is spent (false).
bool refine(std::vector<Panel>& panels, const LogDensity1d& log_p0, const LogDensity1d& log_p_theta,
            const KlQuadratureOptions& options, KlQuadratureResult& r) {
  const double tol = options.tolerance;
  for (;;) {
    double error_kl = 0.0, error_mass = 0.0, kl = 0.0;
    for (const Panel& p : panels) {
      error_kl += p.error_kl;
      error_mass += p.error_mass;
      kl += simpson(p.a, p.m, p.b).kl;
    }
    const double tol_kl = std::max(tol, options.relative_tolerance * std::abs(kl));
    if (error_kl <= tol_kl && error_mass <= tol) return true;
    const double window = panels.back().b.x - panels.front().a.x;
    // Each panel's excess over its share of the tolerances.
    std::vector<std::pair<double, std::size_t>> selected;
    for (std::size_t k = 0; k < panels.size(); ++k) {
      const double fraction = panels[k].width() / window;
      const double excess =
          std::max(panels[k].error_kl / (tol_kl * fraction), panels[k].error_mass / (tol * fraction));
      if (excess > 1.0) selected.emplace_back(excess, k);
    }
    const std::size_t nodes = 2 * panels.size() + 1;
    const std::size_t splits = nodes >= options.max_nodes ? 0 : (options.max_nodes - nodes) / 2;
    if (selected.empty() || splits == 0) return false;
    if (selected.size() > splits) {
      // Largest first; ties by position so the choice is deterministic.
      std::sort(selected.begin(), selected.end(),
                [](const auto& l, const auto& r) { return l.first > r.first || (l.first == r.first && l.second < r.second); });
      selected.resize(splits);
    }
    std::vector<std::size_t> order(selected.size());
    for (std::size_t k = 0; k < selected.size(); ++k) order[k] = selected[k].second;
    std::sort(order.begin(), order.end());

    std::vector<double> xs;
    xs.reserve(2 * order.size());
    for (const std::size_t k : order) {
      const Panel& p = panels[k];
      xs.push_back(0.5 * (p.a.x + p.m.x));
      xs.push_back(0.5 * (p.m.x + p.b.x));
    }
    std::vector<Node> fresh = evaluate(log_p0, log_p_theta, xs, r.rounds);
    std::vector<Panel> next;
    next.reserve(panels.size() + order.size());
    std::size_t s = 0;  // position in order
    for (std::size_t k = 0; k < panels.size(); ++k) {
      if (s == order.size() || order[s] != k) {
        next.push_back(panels[k]);
        continue;
      }
      const Panel& p = panels[k];
      Node left = fresh[2 * s], right = fresh[2 * s + 1];
      // A failed new node: linear in log p_theta between its two neighbours.
      if (left.failed) left.log_p_theta = 0.5 * (p.a.log_p_theta + p.m.log_p_theta);
      if (right.failed) right.log_p_theta = 0.5 * (p.m.log_p_theta + p.b.log_p_theta);
      r.failed_nodes += (left.failed ? 1 : 0) + (right.failed ? 1 : 0);
      finish(left);
      finish(right);
      Panel l{p.a, left, p.m}, rr{p.m, right, p.b};
      const Simpson parent = simpson(p.a, p.m, p.b);
      const Simpson sl = simpson(p.a, left, p.m), sr = simpson(p.m, right, p.b);
      // Richardson: the halves' Simpson error is ~ (S_l + S_r - S) / 15, shared by the halves.
      const double dkl = std::abs(sl.kl + sr.kl - parent.kl) / 30.0;
      const double dmass = std::abs(sl.mass + sr.mass - parent.mass) / 30.0;
      l.error_kl = rr.error_kl = dkl;
      l.error_mass = rr.error_mass = dmass;
      next.push_back(l);
      next.push_back(rr);
      ++s;
    }
    panels = std::move(next);
  }
}

}  // namespace

void KlQuadratureOptions::validate() const {
  require(std::isfinite(lower), "lower", fmt::format("must be finite, got {}", lower));
  require(std::isfinite(upper) && upper > lower, "upper",
          fmt::format("must be finite and greater than lower ({}), got {}", lower, upper));
  require(initial_nodes >= 5 && initial_nodes % 2 == 1, "initial_nodes",
          fmt::format("must be odd and at least 5, got {}", initial_nodes));
  require(max_nodes >= initial_nodes, "max_nodes",
          fmt::format("must be at least initial_nodes ({}), got {}", initial_nodes, max_nodes));
  require(std::isfinite(tolerance) && tolerance > 0.0, "tolerance",
          fmt::format("must be positive and finite, got {}", tolerance));
  require(std::isfinite(relative_tolerance) && relative_tolerance >= 0.0, "relative_tolerance",
          fmt::format("must be non-negative and finite, got {}", relative_tolerance));
}

bool KlQuadratureResult::mass_ok(double tolerance) const { return std::abs(mass - 1.0) <= tolerance; }

KlQuadratureResult kl_quadrature(const LogDensity1d& log_p0, const LogDensity1d& log_p_theta,
                                 const KlQuadratureOptions& options) {
  options.validate();
  require(static_cast<bool>(log_p0), "log_p0", "must be callable");
  require(static_cast<bool>(log_p_theta), "log_p_theta", "must be callable");
  KlQuadratureResult r;
  std::vector<Node> grid =
      evaluate(log_p0, log_p_theta, equally_spaced(options.lower, options.upper, options.initial_nodes - 1), r.rounds);
  if (!fill_failed(grid)) {
    r.failed_nodes = grid.size();
    r.lower = options.lower;
    r.upper = options.upper;
    for (const Node& n : grid) {
      r.x.push_back(n.x);
      r.log_p0.push_back(n.log_p0);
      r.log_p_theta.push_back(n.log_p_theta);
    }
    return r;
  }
  for (Node& n : grid) {
    r.failed_nodes += n.failed ? 1 : 0;
    finish(n);
  }
  std::vector<Panel> panels = panels_of(grid);

  extend_window(panels, log_p0, log_p_theta, options, r);
  r.converged = refine(panels, log_p0, log_p_theta, options, r);

  r.kl = 0.0;
  r.mass = 0.0;
  r.kl_error = 0.0;
  r.mass_error = 0.0;
  for (const Panel& p : panels) {
    const Simpson s = simpson(p.a, p.m, p.b);
    r.kl += s.kl;
    r.mass += s.mass;
    r.kl_error += p.error_kl;
    r.mass_error += p.error_mass;
  }
  r.lower = panels.front().a.x;
  r.upper = panels.back().b.x;
  const auto push = [&r](const Node& n) {
    r.x.push_back(n.x);
    r.log_p0.push_back(n.log_p0);
    r.log_p_theta.push_back(n.log_p_theta);
  };
  push(panels.front().a);
  for (const Panel& p : panels) {
    push(p.m);
    push(p.b);
  }
  return r;
}

}  // namespace gengap
