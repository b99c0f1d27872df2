#pragma once
// The plots of studies S2-S4 (study.hpp), drawn with the shared gnuplot code
// (plot.hpp) into <dir>:
//   kl.png         KL(p_0 || p_theta(tau)) against tau in the sweep's unit
//                  (tau/m per feature, or tau), log-log, one series per
//                  finished setting (the estimate that decides tau*, at the
//                  taus where it was computed; non-positive values left out)
//   densities.png  one panel per finished setting: target p_0 and learned
//                  p_theta at tau* (EarlyStoppingResult::best_density)
//   fits.png       one panel per rate fit with points: the measured points,
//                  the fitted power law (legend: slope and its confidence
//                  interval) and, where the paper states a rate, a line of
//                  that slope through the points' log-centroid
//   bound.png      diffusion-time only: study_bound_figure
// each with its .gp script and .dat data. A figure with nothing to draw is
// skipped and its files from an earlier run into the folder are removed.
#include <filesystem>
#include <span>
#include <vector>

#include "gengap/generalization/plots/plot.hpp"
#include "gengap/generalization/studies/sweep/study.hpp"

namespace gengap {

// The figures (exposed for tests); no panels when there is nothing to draw.
Figure study_kl_figure(const StudyConfig& config, std::span<const StudySetting> settings);
Figure study_density_figure(const StudyConfig& config, std::span<const StudySetting> settings);
Figure study_fits_figure(const StudyConfig& config, const StudySummary& summary);
// Diffusion-time only (else no panels): the bound's terms against T, and the
// prior KL (exact, data-only) with the measured KL at the fixed tau and tau*.
Figure study_bound_figure(const StudyConfig& config, std::span<const StudySetting> settings);

// Renders every non-empty figure; returns the PNGs written. Throws
// GnuplotNotFound when gnuplot cannot be started (the .gp and .dat files are
// written) and std::runtime_error when gnuplot fails.
std::vector<std::filesystem::path> write_study_plots(const std::filesystem::path& dir, const StudyConfig& config,
                                                     std::span<const StudySetting> settings,
                                                     const StudySummary& summary, const PlotOptions& options = {});

}  // namespace gengap
