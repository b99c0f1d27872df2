#pragma once
// Explicit Runge-Kutta tableaux as data (the "solver" part of the
// term / tableau / controller / driver split): one generic explicit-RK stepper
// (explicit_rk.hpp) reads these tables, so a new method is a new table and a
// new RkMethod.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gengap {

// The methods by name: embedded pairs (adaptive, or fixed-step when a fixed
// step is given) and fixed-step methods.
enum class RkMethod { dopri5, tsit5, bosh3, euler, heun, rk4 };
const char* to_string(RkMethod method);
// "dopri5" | "tsit5" | "bosh3" | "euler" | "heun" | "rk4"; InvalidArgument("method", ...) otherwise.
RkMethod parse_rk_method(std::string_view name);

struct RungeKuttaTableau {
  std::string name;
  std::size_t stages = 0;
  std::vector<double> a;        // stages x stages, row-major, strictly lower triangular
  std::vector<double> b;        // weights of the propagated solution (order `order`)
  std::vector<double> b_error;  // b - b_hat (embedded lower-order weights); empty for fixed-step methods
  std::vector<double> c;        // nodes; c_i = sum_j a_ij
  int order = 0;                // order of the propagated solution
  int error_order = 0;          // order q of the embedded solution (local error estimate is O(h^(q+1)))
  bool first_same_as_last = false;  // last stage is f(t + h, y1): reused as the next step's first stage

  bool adaptive() const { return !b_error.empty(); }
  double a_at(std::size_t i, std::size_t j) const { return a[i * stages + j]; }
};

// Dormand & Prince (1980) 5(4), FSAL; "dopri5".
RungeKuttaTableau dormand_prince54();
// Tsitouras (2011) 5(4), FSAL, coefficients as in OrdinaryDiffEq.jl / diffrax; "tsit5".
RungeKuttaTableau tsitouras54();
// Bogacki & Shampine (1989) 3(2), FSAL; "bosh3".
RungeKuttaTableau bogacki_shampine32();
// Fixed-step methods (no error estimate): "euler" (1), "heun" (2), "rk4" (4).
RungeKuttaTableau euler();
RungeKuttaTableau heun();
RungeKuttaTableau rk4();

RungeKuttaTableau tableau(RkMethod method);
// tableau(parse_rk_method(name)).
RungeKuttaTableau tableau_by_name(std::string_view name);

}  // namespace gengap
