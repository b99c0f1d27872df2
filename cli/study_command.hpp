#pragma once
// `gengap study modes-shift|capacity|sample-size` (docs/studies.md S2-S4,
// generalization/studies/sweep/study.hpp): study S1 once per swept value, settings in
// parallel, into a results folder that is complete and consistent after every
// finished setting:
//   config.json      "study", "command", "seed", "config" (the flat study
//                    config incl. "sweep"; --config accepts this file to
//                    repeat the run), "environment", "status" (running |
//                    complete | interrupted), "timings", "summary" (the rate
//                    fits, finished settings), "settings" (one entry per
//                    finished setting: folder and summary row),
//                    "summary_columns", "plots". Written LAST after each
//                    finished setting (and once at the start, with none).
//   settings.csv     header, then one row per finished setting (%.17g; nan
//                    where missing), columns StudySettingSummary::columns()
//   summary.npy      the same numbers, finished settings x columns
//   settings/<k>_<key>=<value>/  a complete S1 results folder (results_writer.hpp)
//   plots/           kl.png, densities.png, fits.png (study_plots.hpp)
// Ctrl-C / SIGTERM (interrupt.hpp): writes never stop half-way; the folder
// keeps the finished settings, config.json says "interrupted", one line on
// stderr says how many settings were kept, exit code 130.
// Exit codes: 0 done; 2 bad input (one line naming the key, nothing written);
// 1 any other failure; 130 interrupted.
// Under mpirun (world.hpp) the sweeps spread their settings over the ranks
// (distributed_study.hpp): rank 0 prints and writes the same folder, the
// other ranks compute and stay silent; SIGUSR1 is the clean stop there.
#include <CLI/CLI.hpp>

#include <memory>

#include "study_command_options.hpp"

namespace gengap::cli {

std::shared_ptr<StudyCommandOptions> add_study_command(CLI::App& app);

// Runs it and returns the exit code (0). Throws InvalidArgument for bad input,
// other exceptions for failures; exits the process with 130 on SIGINT/SIGTERM.
int study(const StudyCommandOptions& options);

}  // namespace gengap::cli
