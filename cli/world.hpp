#pragma once
// The processes of this command-line run: one (SingleProcess) unless an MPI
// launcher started it (mpirun -np R gengap ..., built with GENGAP_MPI), then
// the R ranks of MPI_COMM_WORLD. main() sets it up before any command runs.
//
// In a distributed run rank 0 speaks for the run: it alone prints (progress,
// tables, errors that every rank agreed on) and writes the results folder.
// An InvalidArgument is always collective there (every rank checks the same
// input and agrees on the error, agree_across_ranks), so only rank 0 prints
// it; any other error is printed by the rank that hit it, with its rank.
#include <exception>
#include <string>

#include "gengap/kernels/communicator.hpp"

namespace gengap::cli {

// The run's world (SingleProcess until set_world); used from main's thread only.
Communicator& world();
void set_world(Communicator* world);
bool speaks_for_run();  // world().rank() == 0

// Collective: every rank passes its own error (or none); if any has one,
// every rank throws the lowest failing rank's error.
void agree_across_ranks(const std::exception_ptr& local_error);

// "2 threads", or "4 ranks x 2 threads" in a distributed run (the terminal's summary lines).
std::string processes_text(int threads_per_rank);

// Commands that do not distribute refuse R > 1: InvalidArgument("mpirun",
// "gengap <command> runs in one process; ...").
void require_single_process(const std::string& command);

}  // namespace gengap::cli
