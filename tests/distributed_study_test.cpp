// Studies over several ranks (generalization/studies/sweep/distributed_study.hpp),
// the ranks being threads of this process over an in-process network
// (loopback_world.hpp; the MPI runs themselves are cli_mpi_test.cpp's): rank 0
// returns every setting with the bits of a one-process run_study, for 2 and
// 3 ranks; the callbacks on rank 0 see every phase of every setting, wherever
// it ran, and one finished setting at a time; a stop request keeps what
// finished; a setting that fails stops every rank and rank 0 rethrows it.
#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gengap/generalization/io/result_archive.hpp"
#include "gengap/generalization/studies/sweep/distributed_study.hpp"
#include "gengap/kernels/interruption.hpp"
#include "loopback_world.hpp"
#include "small_study.hpp"
#include "test_support.hpp"

namespace gengap {
namespace {

StudyConfig tiny_capacity() {
  StudyConfig c = small_study(StudyKind::capacity, {8, 16, 24, 32, 48});
  c.base.tau.points = 12;
  c.base.kl.test_points = 60;
  c.sweep.max_parallel = 1;
  return c;
}

// Everything but the wall-clock timings, as bytes.
std::string numbers_of(EarlyStoppingResult r) {
  r.timings = PhaseTimings{};
  return archive_result(r);
}

// Runs the study on `ranks` threads; returns rank 0's result (the others' must be empty).
StudyResult run_on_ranks(const StudyConfig& c, int ranks, const StudyCallbacks& callbacks = {}) {
  LoopbackNetwork network(ranks);
  std::vector<StudyResult> results(static_cast<std::size_t>(ranks));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      LoopbackRank world(network, r);
      try {
        results[static_cast<std::size_t>(r)] = run_study_distributed(c, world, r == 0 ? callbacks : StudyCallbacks{});
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int r = 1; r < ranks; ++r) {
    EXPECT_FALSE(errors[static_cast<std::size_t>(r)]) << "rank " << r << " threw";
    EXPECT_TRUE(results[static_cast<std::size_t>(r)].settings.empty()) << "rank " << r;
  }
  if (errors[0]) std::rethrow_exception(errors[0]);
  return std::move(results[0]);
}

TEST(DistributedStudy, AnyNumberOfRanksGivesTheOneProcessBits) {
  const StudyConfig c = tiny_capacity();
  const tbb::global_control two(tbb::global_control::max_allowed_parallelism, 2);
  const StudyResult one = run_study(c);
  ASSERT_EQ(one.settings.size(), 5u);
  for (const int ranks : {2, 3}) {
    const StudyResult many = run_on_ranks(c, ranks);
    ASSERT_EQ(many.settings.size(), one.settings.size()) << ranks;
    for (std::size_t k = 0; k < one.settings.size(); ++k) {
      EXPECT_EQ(many.settings[k].summary.index, k);
      EXPECT_TRUE(numbers_of(many.settings[k].result) == numbers_of(one.settings[k].result))
          << ranks << " ranks, setting " << k;
      const std::vector<double> x = one.settings[k].summary.row(), y = many.settings[k].summary.row();
      for (std::size_t j = 0; j < x.size(); ++j) {
        if (StudySettingSummary::columns()[j] == "seconds") continue;
        EXPECT_TRUE(same(x[j], y[j])) << StudySettingSummary::columns()[j];
      }
    }
    EXPECT_EQ(many.summary.to_json().dump(), one.summary.to_json().dump()) << ranks;
  }
}

TEST(DistributedStudy, RankZeroSeesEveryPhaseOfEverySettingOneSettingAtATime) {
  const StudyConfig c = tiny_capacity();
  CallbackRecorder recorder;
  run_on_ranks(c, 3, recorder.callbacks());
  recorder.expect_every_setting_and_phase(c);
}

TEST(DistributedStudy, StopRequestKeepsTheFinishedSettings) {
  const StudyConfig c = tiny_capacity();
  std::atomic<std::size_t> done{0};
  StudyCallbacks callbacks;
  callbacks.on_setting = [&](const StudySetting&) { ++done; };
  callbacks.stop_requested = [&] { return done.load() >= 1; };
  const StudyResult r = run_on_ranks(c, 2, callbacks);
  // The first setting to finish stops the hand-out; the one in flight on the
  // other rank still finishes.
  ASSERT_GE(r.settings.size(), 1u);
  EXPECT_LE(r.settings.size(), 2u);
  EXPECT_EQ(r.summary.finished.size(), r.settings.size());
  EXPECT_EQ(r.summary.settings_total, 5u);
}

TEST(DistributedStudy, AFailureStopsEveryRankAndRankZeroRethrowsIt) {
  const StudyConfig c = tiny_capacity();
  StudyCallbacks callbacks;
  // The interruption is process-wide here (all ranks are threads of this
  // process): every rank's settings in flight throw Interrupted.
  callbacks.on_setting = [&](const StudySetting&) { request_interrupt(); };
  EXPECT_THROW(run_on_ranks(c, 3, callbacks), Interrupted);
  clear_interrupt();
  // And the next study runs normally.
  EXPECT_EQ(run_on_ranks(small_study(StudyKind::capacity, {8}), 2).settings.size(), 1u);
}

}  // namespace
}  // namespace gengap
