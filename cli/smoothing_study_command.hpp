#pragma once
// `gengap study smoothing` (docs/studies.md S6, generalization/studies/smoothing/smoothing_study.hpp):
// memorisation by the empirical score, interpolation by the smoothed score and
// the trained random-feature score between them, into a results folder that is
// complete and consistent after every finished row:
//   config.json      "study", "label", "command", "seed", "config" (every key;
//                    --config accepts this file to repeat the run),
//                    "environment", "status" (running | complete |
//                    interrupted | failed: ...), "timings" (per row, total),
//                    "rows" (one entry per finished row: label, score, its
//                    numbers, samples file), "columns", "plots". Written LAST.
//   rows.csv         header label,score,<SmoothingRow::columns()>, one row per
//                    finished row (%.17g; nan where not computed; kind 0
//                    empirical, 1 smoothed, 2 model)
//   rows.npy         the numeric columns, rows x columns
//   histograms.npy   rows x bins: the density of the samples' position along
//                    the segment (u in [0, 1]); histogram_edges.npy: bins + 1 edges
//   samples/<d>_<score>[_k].npy   the samples of each row (N x d)
//   training/d<d>.npy            the training set of each dimension
//   plots/           histograms_d<d>.png (one panel per score, training points
//                    marked), memorization.png (memorised fraction and TV to
//                    uniform against delta / h and against tau), likelihood.png
// Ctrl-C / SIGTERM: the row being written completes, config.json says
// "interrupted", one line on stderr, exit code 130.
#include "study_command_options.hpp"

namespace gengap::cli {

// Runs it (options.study == "smoothing") and returns the exit code (0).
// Throws InvalidArgument for bad input before anything is written.
int smoothing_study(const StudyCommandOptions& options);

}  // namespace gengap::cli
