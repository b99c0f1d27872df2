#pragma once
// `gengap run`: study S1's training dynamics (generalization/studies/s1/early_stopping.hpp)
// into a results folder (results_writer.hpp), with a short summary on stdout
// and progress on stderr.
#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config_overrides.hpp"

namespace gengap::cli {

struct RunOptions : ConfigCommandOptions {
  std::string out = "results/s1";
};

// Registers the subcommand; the options live in the returned object, which
// must outlive app.parse().
std::shared_ptr<RunOptions> add_run_command(CLI::App& app);

// Runs it. Throws InvalidArgument for bad input, other exceptions for failures.
void run(const RunOptions& options);

}  // namespace gengap::cli
