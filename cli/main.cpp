// gengap: command-line front end of the library. Subcommands: run (study S1),
// study (S2-S4: modes-shift, capacity, sample-size), likelihood (study S7).
// Exit codes: 0 success, 1 failure, 2 bad input (one line on stderr naming the
// field), 3 likelihood written but some points failed, 130 study interrupted.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/version.hpp"
#include "likelihood_command.hpp"
#include "run_command.hpp"
#include "study_command.hpp"
#include "world.hpp"
#ifdef GENGAP_HAVE_MPI
#include "gengap/distributed/mpi_communicator.hpp"
#endif

namespace {

// One line on stderr, whatever the message holds; in a distributed run the
// ranks other than 0 name themselves.
void print_error(const std::string& what) {
  std::string line = what;
  for (char& ch : line) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  if (gengap::cli::world().size() > 1 && !gengap::cli::speaks_for_run()) {
    std::fprintf(stderr, "gengap (rank %d): error: %s\n", gengap::cli::world().rank(), line.c_str());
  } else {
    std::fprintf(stderr, "gengap: error: %s\n", line.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  gengap::reexec_with_fast_blas(argc, argv);  // before MPI starts: exec keeps the launcher's rank
#ifdef GENGAP_HAVE_MPI
  std::optional<gengap::MpiWorld> mpi;
  if (gengap::launched_by_mpi()) {
    try {
      mpi.emplace(argc, argv);
    } catch (const std::exception& e) {
      print_error(e.what());
      return 1;
    }
    gengap::cli::set_world(&*mpi);
  }
#endif
  if (gengap::cli::speaks_for_run()) gengap::warn_if_slow_blas();

  CLI::App app{"gengap: exact training dynamics and generalization of random-feature diffusion models", "gengap"};
  app.set_version_flag("--version", gengap::kVersion);
  app.require_subcommand(1);
  const auto run_options = gengap::cli::add_run_command(app);
  const auto likelihood_options = gengap::cli::add_likelihood_command(app);
  const auto study_options = gengap::cli::add_study_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(e.what());
    return 2;
  }

  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i > 0 ? " " : "") + std::string(argv[i]);
  try {
    if (app.got_subcommand("run")) {
      run_options->command_line = command_line;
      gengap::cli::run(*run_options);
    } else if (app.got_subcommand("study")) {
      study_options->command_line = command_line;
      return gengap::cli::study(*study_options);
    } else if (app.got_subcommand("likelihood")) {
      likelihood_options->command_line = command_line;
      return gengap::cli::likelihood(*likelihood_options);
    }
  } catch (const gengap::InvalidArgument& e) {
    if (gengap::cli::speaks_for_run()) print_error(e.what());  // collective in a distributed run (world.hpp)
    return 2;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
  return 0;
}
