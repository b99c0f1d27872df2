// The tableaux (rk_tableau.hpp).
#include "gengap/solvers/ode/rk_tableau.hpp"

#include <cmath>
#include <string>
#include <utility>

#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {

namespace {

// Builds a tableau from its rows of `a` (row i holds i entries) and derives
// c_i = sum_j a_ij, the consistency condition every tableau here satisfies.
RungeKuttaTableau make(std::string name, const std::vector<std::vector<double>>& lower, std::vector<double> b,
                       std::vector<double> b_error, int order, int error_order, bool fsal) {
  RungeKuttaTableau t;
  t.name = std::move(name);
  t.stages = b.size();
  t.a.assign(t.stages * t.stages, 0.0);
  t.c.assign(t.stages, 0.0);
  for (std::size_t i = 0; i < lower.size(); ++i) {
    const std::size_t row = i + 1;
    for (std::size_t j = 0; j < lower[i].size(); ++j) {
      t.a[row * t.stages + j] = lower[i][j];
      t.c[row] += lower[i][j];
    }
  }
  // Rows meant to sum to exactly 1 (the FSAL row, Tsit5's sixth stage) lose
  // an ulp to rounding in the sum; snap them so those stages sit at t + h.
  for (double& c : t.c)
    if (std::abs(c - 1.0) < 1e-12) c = 1.0;
  t.b = std::move(b);
  t.b_error = std::move(b_error);
  t.order = order;
  t.error_order = error_order;
  t.first_same_as_last = fsal;
  return t;
}

}  // namespace

RungeKuttaTableau dormand_prince54() {
  const std::vector<double> b = {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0.0};
  const std::vector<double> b_hat = {5179.0 / 57600,  0.0,           7571.0 / 16695, 393.0 / 640,
                                     -92097.0 / 339200, 187.0 / 2100, 1.0 / 40};
  std::vector<double> b_error(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) b_error[i] = b[i] - b_hat[i];
  return make("dopri5",
              {{1.0 / 5},
               {3.0 / 40, 9.0 / 40},
               {44.0 / 45, -56.0 / 15, 32.0 / 9},
               {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
               {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
               {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}},
              b, std::move(b_error), 5, 4, true);
}

RungeKuttaTableau tsitouras54() {
  // Tsitouras, "Runge-Kutta pairs of order 5(4) satisfying only the first
  // column simplifying assumption", Comput. Math. Appl. 62 (2011); the
  // double-precision table of OrdinaryDiffEq.jl (tsit_tableaus.jl) and diffrax.
  const std::vector<double> b = {0.09646076681806523, 0.01,  0.4798896504144996, 1.379008574103742,
                                 -3.290069515436081,  2.324710524099774, 0.0};
  std::vector<double> b_error = {-0.00178001105222577714, -0.0008164344596567469, 0.007880878010261995,
                                 -0.1447110071732629,     0.5823571654525552,     -0.45808210592918697,
                                 1.0 / 66.0};
  return make("tsit5",
              {{0.161},
               {-0.008480655492356989, 0.335480655492357},
               {2.897153057105493, -6.359448489975075, 4.3622954328695815},
               {5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525},
               {5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401, -0.028269050394068383},
               {0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081,
                2.324710524099774}},
              b, std::move(b_error), 5, 4, true);
}

RungeKuttaTableau bogacki_shampine32() {
  const std::vector<double> b = {2.0 / 9, 1.0 / 3, 4.0 / 9, 0.0};
  const std::vector<double> b_hat = {7.0 / 24, 1.0 / 4, 1.0 / 3, 1.0 / 8};
  std::vector<double> b_error(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) b_error[i] = b[i] - b_hat[i];
  return make("bosh3", {{1.0 / 2}, {0.0, 3.0 / 4}, {2.0 / 9, 1.0 / 3, 4.0 / 9}}, b, std::move(b_error), 3, 2, true);
}

RungeKuttaTableau euler() { return make("euler", {}, {1.0}, {}, 1, 0, false); }

RungeKuttaTableau heun() { return make("heun", {{1.0}}, {0.5, 0.5}, {}, 2, 0, false); }

RungeKuttaTableau rk4() {
  return make("rk4", {{0.5}, {0.0, 0.5}, {0.0, 0.0, 1.0}}, {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6}, {}, 4, 0, false);
}

constexpr EnumName<RkMethod> rk_method_names[] = {{RkMethod::dopri5, "dopri5"}, {RkMethod::tsit5, "tsit5"},
                                                  {RkMethod::bosh3, "bosh3"},   {RkMethod::euler, "euler"},
                                                  {RkMethod::heun, "heun"},     {RkMethod::rk4, "rk4"}};

const char* to_string(RkMethod method) { return enum_name(method, rk_method_names, "method", "RkMethod").data(); }

RkMethod parse_rk_method(std::string_view name) { return parse_enum_name(name, rk_method_names, "method", "method"); }

RungeKuttaTableau tableau(RkMethod method) {
  switch (method) {
    case RkMethod::dopri5: return dormand_prince54();
    case RkMethod::tsit5: return tsitouras54();
    case RkMethod::bosh3: return bogacki_shampine32();
    case RkMethod::euler: return euler();
    case RkMethod::heun: return heun();
    case RkMethod::rk4: return rk4();
  }
  throw InvalidArgument("method", "unknown method");
}

RungeKuttaTableau tableau_by_name(std::string_view name) { return tableau(parse_rk_method(name)); }

}  // namespace gengap
