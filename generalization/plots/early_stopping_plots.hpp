#pragma once
// The plots of study S1 (docs/studies.md), drawn with the shared gnuplot code
// (plot.hpp) into <dir>:
//   losses.png     L_n(tau) and L(tau) against tau (log-log), and the
//                  generalization gap L - L_n (log tau, linear gap)
//   kl.png         KL(p_0 || p_theta(tau)) against tau (log-log): the ODE
//                  Monte Carlo estimate with +- one standard error, and the
//                  quadrature estimate (d = 1); non-positive estimates (Monte
//                  Carlo noise near 0) are left out of the log axis; and the
//                  quadrature KL with the paper's score-integral density
//   densities.png  learned p_theta vs target p_0 at the saved taus, one panel each
//   bounds.png     the bound terms (bound_terms.hpp) against tau, log-log: the
//                  quadrature KL beside the likelihood bound J_SM + KL(p_T || pi)
//                  and J_SM; the optimisation error beside its bound; |L - L_n|,
//                  the Monte Carlo error, ||A(tau) - A_0||_F and the Rademacher term
// each with its .gp script and .dat data beside it. A figure with nothing to
// draw (KL disabled, no snapshots) is skipped, and that figure's files from
// an earlier run into the same folder are removed.
#include <filesystem>
#include <string>
#include <vector>

#include "gengap/generalization/studies/s1/early_stopping.hpp"
#include "gengap/generalization/plots/plot.hpp"

namespace gengap {

// The figures (exposed for tests).
Figure early_stopping_loss_figure(const EarlyStoppingResult& result);
// No panels when no KL was computed.
Figure early_stopping_kl_figure(const EarlyStoppingResult& result);
// No panels when there are no density snapshots.
Figure early_stopping_density_figure(const EarlyStoppingResult& result);
// No panels when the bound terms were not computed.
Figure early_stopping_bounds_figure(const EarlyStoppingResult& result);

// Renders every non-empty figure; returns the PNG paths written. Throws
// GnuplotNotFound when gnuplot cannot be started (the .gp and .dat files are
// still written) and std::runtime_error when gnuplot fails.
std::vector<std::filesystem::path> write_early_stopping_plots(const std::filesystem::path& dir,
                                                              const EarlyStoppingResult& result,
                                                              const PlotOptions& options = {});

}  // namespace gengap
