#pragma once
// Figures of study S6 smoothing (smoothing_study.hpp), drawn with gnuplot
// (plot.hpp: PNG + editable script + data):
//   histograms_d<d>.png  one per dimension with rows: one panel per score
//                        (s_n, each delta, each tau), the density of the
//                        samples' position along the segment against the
//                        uniform density 1, training points marked on the axis
//   memorization.png     memorised fraction and TV distance to uniform against
//                        delta / h (s_n at delta = 0) and against tau, one curve
//                        per d
//   likelihood.png       held-out log-likelihood (+- standard error) and the
//                        train - held-out gap against delta / h and tau, one
//                        curve per d (when the likelihood was computed)
#include <filesystem>
#include <span>
#include <vector>

#include "gengap/generalization/studies/smoothing/smoothing_study.hpp"

namespace gengap {

// Writes the figures the finished `rows` allow into `dir`; returns the PNGs.
// Throws GnuplotNotFound / std::runtime_error as write_plot does.
std::vector<std::filesystem::path> write_smoothing_plots(const std::filesystem::path& dir,
                                                         const SmoothingStudyConfig& config,
                                                         std::span<const SmoothingRow> rows);

}  // namespace gengap
