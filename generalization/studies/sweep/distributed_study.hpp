#pragma once
// A study's settings spread over the ranks of a distributed run (MPI:
// `mpirun -np R gengap study capacity`), with the results of a one-process
// run_study (study.hpp), bit for bit.
//
// Rank 0 hands out settings one at a time, costliest first
// (estimated_phase_costs), to whichever slot asks: every rank, rank 0
// included, runs up to `slots` settings at once (sweep.max_parallel, or one
// per thread), each run_early_stopping parallel inside, so a slow setting
// never keeps the other ranks idle. A finished setting travels to rank 0 as
// its whole result (result_archive.hpp); rank 0 summarises it and calls the
// callbacks for every setting of every rank, from the calling thread: the
// results folder is written by rank 0 alone. Phase and progress reports of
// other ranks arrive as messages (progress at most every 0.2 s per setting).
// Every number is independent of which rank ran a setting, how many ranks
// there are and how many threads each has (run_early_stopping's numbers
// depend on none of these), so the folder equals a one-process run's.
//
// Stopping: callbacks.stop_requested (polled on rank 0) stops handing out
// settings; those in flight on every rank finish and are returned, as in
// run_study. A setting that throws on any rank interrupts every rank's
// settings in flight (request_interrupt), and rank 0 rethrows the same
// exception type and message once all ranks have stopped. A rank that dies
// is the MPI launcher's business: mpirun then signals every rank, and the
// command line's signal handling keeps the finished settings.
//
// Collective: every rank calls it with the same config. Ranks other than 0
// return an empty StudyResult (its config only) once rank 0 says the study is
// over. One rank (SingleProcess): run_study itself.
#include "gengap/generalization/studies/sweep/study.hpp"
#include "gengap/kernels/communicator.hpp"

namespace gengap {

StudyResult run_study_distributed(const StudyConfig& config, Communicator& world, const StudyCallbacks& callbacks = {});

// Collective, the first step of run_study_distributed (callers that write
// before it starts check first): validates on every rank, then compares each
// rank's config with rank 0's; on every rank the same InvalidArgument if any
// rank's is invalid ("n: must be positive, got 0") or differs ("config: rank 1's
// study config differs from rank 0's ...").
void require_same_study_config(const StudyConfig& config, Communicator& world);

// Settings each rank runs at once: sweep.max_parallel, or the threads this
// process may use (the task arena's, within any tbb::global_control); at least 1.
std::size_t study_slots_per_rank(const StudyConfig& config);

}  // namespace gengap
