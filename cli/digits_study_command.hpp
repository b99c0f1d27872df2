#pragma once
// `gengap study digits` (generalization/studies/digits/digits_study.hpp):
// memorisation and generalization on the handwritten digits (d = 64) along the
// exact flow, for training sets of growing size, into a results folder that is
// complete and consistent after every finished row:
//   config.json    "study", "command", "seed", "config" (every key; --config
//                  accepts this file), "environment", "status" (running |
//                  complete | interrupted | failed: ...), "timings",
//                  "settings" (per n: timescales, eigen-timescale range,
//                  seconds), "fits" (log-log slopes of the timescales
//                  against n with confidence intervals, next to Bonnaire et
//                  al.'s claim), "columns", "plots". Written LAST.
//   rows.csv       one row per (n, tau) (DigitsRow::columns(), %.17g)
//   settings.csv   one row per finished n (DigitsSetting::columns())
//   curves.csv     n, tau, train_loss, heldout_loss on the fine tau grid
//   samples/n<n>_tau<k>.npy   the denoised samples (N x 64)
//   images/n<n>_tau<k>.png    images.pairs samples beside their nearest training digit
//   split.npy      the split's permutation of the 1797 digits (the last
//                  data.held_out are the test digits; training n = the first n)
//   plots/         likelihood.png, losses.png, samples.png, timescales.png
// Ctrl-C / SIGTERM: the row being written completes, config.json says
// "interrupted", one line on stderr, exit code 130.
#include "study_command_options.hpp"

namespace gengap::cli {

// Runs it (options.study == "digits") and returns the exit code (0).
// Throws InvalidArgument for bad input before anything is written.
int digits_study(const StudyCommandOptions& options);

}  // namespace gengap::cli
