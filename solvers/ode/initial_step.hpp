#pragma once
// The starting step of an adaptive explicit Runge-Kutta method: Hairer,
// Norsett & Wanner, Solving ODEs I, II.4 (DOPRI5's hinit), for one row, in
// two halves around the one extra field evaluation it needs, so that a driver
// can batch that evaluation over its rows:
//   probe:  d0 = ||y||, d1 = ||f|| (the controller's weighted RMS norms with
//           scale atol + rtol |y|), h0 = 0.01 d0 / d1 (1e-6 when either is
//           below 1e-5), at most |t1 - t0|; f is then needed at y + h0 f;
//   finish: d2 = ||f(y + h0 f) - f|| / h0, h1 = (0.01 / max(d1, d2))^(1/(p+1))
//           (max(1e-6, 1e-3 h0) when both are below 1e-15),
//           |h| = min(100 h0, h1, |t1 - t0|).
#include <cstddef>
#include <span>

#include "gengap/solvers/ode/controller.hpp"

namespace gengap {

struct InitialStepProbe {
  double h0 = 0.0;  // the trial step's size (> 0)
  double d1 = 0.0;  // ||f||
};

// Fills y_probe with y + direction h0 f.
InitialStepProbe initial_step_probe(std::span<const double> y, std::span<const double> f, const PiController& norm,
                                    double span, double direction, std::span<double> y_probe);
// The signed starting step from f_probe = f(t + direction h0, y_probe); order
// is the propagated solution's.
double initial_step(const InitialStepProbe& probe, std::span<const double> y, std::span<const double> f,
                    std::span<const double> f_probe, const PiController& norm, int order, double span,
                    double direction);

}  // namespace gengap
