#pragma once
// Figures of study "digits" (digits_study.hpp), drawn with gnuplot (plot.hpp):
//   likelihood.png   test and training NLL (bits per dimension, +- standard
//                    error) against tau, one curve per n
//   losses.png       the held-out DSM loss L_test and the gap L_test - L_n
//                    along the fine tau grid, one curve per n
//   samples.png      memorised fraction and the samples' median nearest
//                    training distance against tau (the held-out digits'
//                    median nearest distance as the reference), one curve per n
//   timescales.png   tau_gen, tau_best, tau_mem_loss (and tau_mem where
//                    reached) against n on log-log axes with their fits
#include <filesystem>
#include <vector>

#include "gengap/generalization/studies/digits/digits_study.hpp"

namespace gengap {

// Writes the figures the finished settings allow into `dir`; returns the PNGs.
// Throws GnuplotNotFound / std::runtime_error as write_plot does.
std::vector<std::filesystem::path> write_digits_plots(const std::filesystem::path& dir,
                                                      const std::vector<DigitsSetting>& settings,
                                                      const DigitsFits& fits);

}  // namespace gengap
