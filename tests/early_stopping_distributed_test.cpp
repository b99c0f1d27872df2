// One S1 run over several ranks (run_early_stopping with a world; ranks as
// threads over an in-process network, loopback_world.hpp; the mpirun run is
// cli_mpi_test.cpp's): with the Gram matrices split by lanes and the KL's
// taus round-robin, rank 0's result is the one-process result bit for bit
// (every field but the wall-clock timings) for 2 and 3 ranks, with the bound
// terms on; the other ranks return their config only; an interruption on
// every rank throws on every rank, and nobody waits forever.
#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "gengap/generalization/io/result_archive.hpp"
#include "gengap/generalization/studies/s1/early_stopping.hpp"
#include "gengap/kernels/interruption.hpp"
#include "loopback_world.hpp"
#include "small_study.hpp"

namespace gengap {
namespace {

EarlyStoppingConfig small_run() {
  EarlyStoppingConfig c = small_study(StudyKind::capacity, {40}).setting(0);
  c.gram.lanes = 3;
  c.bounds.enabled = true;
  return c;
}

std::string numbers_of(EarlyStoppingResult r) {
  r.timings = PhaseTimings{};
  return archive_result(r);
}

struct RankOutcome {
  EarlyStoppingResult result;
  std::exception_ptr error;
};

std::vector<RankOutcome> run_on_ranks(const EarlyStoppingConfig& c, int ranks) {
  LoopbackNetwork network(ranks);
  std::vector<RankOutcome> out(static_cast<std::size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      LoopbackRank world(network, r);
      try {
        out[static_cast<std::size_t>(r)].result = run_early_stopping(c, {}, {}, &world);
      } catch (...) {
        out[static_cast<std::size_t>(r)].error = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return out;
}

TEST(EarlyStoppingDistributed, RankZeroGetsTheOneProcessBitsForAnyNumberOfRanks) {
  const EarlyStoppingConfig c = small_run();
  const EarlyStoppingResult one = run_early_stopping(c);
  ASSERT_TRUE(one.summary.kl_available);
  ASSERT_FALSE(one.bounds.rows.empty());
  const std::string expected = numbers_of(one);
  for (const int ranks : {2, 3}) {
    const std::vector<RankOutcome> out = run_on_ranks(c, ranks);
    for (const RankOutcome& o : out) ASSERT_FALSE(o.error) << ranks;
    EXPECT_TRUE(numbers_of(out[0].result) == expected) << ranks << " ranks";
    for (int r = 1; r < ranks; ++r) {
      EXPECT_TRUE(out[static_cast<std::size_t>(r)].result.tau.empty());
      EXPECT_EQ(to_json(out[static_cast<std::size_t>(r)].result.config).dump(), to_json(c).dump());
    }
  }
}

TEST(EarlyStoppingDistributed, AnInterruptionBeforeTheFirstPhaseEndsEveryRank) {
  request_interrupt();  // process-wide: every rank's first poll throws
  const std::vector<RankOutcome> out = run_on_ranks(small_run(), 3);
  clear_interrupt();
  for (const RankOutcome& o : out) EXPECT_TRUE(o.error);
  EXPECT_THROW(std::rethrow_exception(out[0].error), Interrupted);
}

}  // namespace
}  // namespace gengap
