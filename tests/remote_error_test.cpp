// Errors carried between ranks (kernels/remote_error.hpp) keep their type and
// their message exactly, so a distributed run fails with the one-line error
// and exit code a one-process run gives; the collective agreement picks the
// lowest failing rank's error on every rank (ranks as threads over an
// in-process network, loopback_world.hpp).
#include <gtest/gtest.h>

#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/interruption.hpp"
#include "gengap/kernels/remote_error.hpp"
#include "loopback_world.hpp"

namespace gengap {
namespace {

template <class E>
std::exception_ptr make(E e) {
  return std::make_exception_ptr(std::move(e));
}

TEST(RemoteError, TypeAndMessageSurviveTheTrip) {
  try {
    throw_encoded_exception(encode_exception(make(InvalidArgument("sweep.values[2]", "must be positive, got -1"))));
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "sweep.values[2]: must be positive, got -1");
  }
  try {
    throw_encoded_exception(encode_exception(make(NumericalError("gram_matrices: non-finite entries"))));
  } catch (const NumericalError& e) {
    EXPECT_STREQ(e.what(), "gram_matrices: non-finite entries");
  }
  EXPECT_THROW(throw_encoded_exception(encode_exception(make(Interrupted()))), Interrupted);
  try {
    throw_encoded_exception(encode_exception(make(std::out_of_range("vector::at"))));
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "vector::at");
  }
  EXPECT_THROW(throw_encoded_exception(encode_exception(nullptr)), std::logic_error);
}

TEST(RemoteError, OneProcessRethrowsItsOwnError) {
  SingleProcess one;
  EXPECT_NO_THROW(throw_if_any_rank_failed(one, nullptr));
  EXPECT_THROW(throw_if_any_rank_failed(one, make(NumericalError("x"))), NumericalError);
}

// Each rank's outcome of the agreement: "" (returned) or the message thrown.
std::vector<std::string> agree(const std::vector<std::exception_ptr>& errors) {
  LoopbackNetwork network(static_cast<int>(errors.size()));
  std::vector<std::string> outcome(errors.size());
  std::vector<std::thread> ranks;
  for (std::size_t r = 0; r < errors.size(); ++r) {
    ranks.emplace_back([&, r] {
      LoopbackRank world(network, static_cast<int>(r));
      try {
        throw_if_any_rank_failed(world, errors[r]);
      } catch (const InvalidArgument& e) {
        outcome[r] = std::string("InvalidArgument: ") + e.what();
      } catch (const std::exception& e) {
        outcome[r] = std::string("other: ") + e.what();
      }
    });
  }
  for (std::thread& t : ranks) t.join();
  return outcome;
}

TEST(RemoteError, EveryRankThrowsTheLowestFailingRanksError) {
  EXPECT_EQ(agree({nullptr, nullptr, nullptr}), (std::vector<std::string>(3, "")));
  const std::string bad = "InvalidArgument: n: must be positive, got 0";
  EXPECT_EQ(agree({nullptr, make(InvalidArgument("n", "must be positive, got 0")), nullptr}),
            (std::vector<std::string>(3, bad)));
  EXPECT_EQ(agree({nullptr, make(InvalidArgument("n", "must be positive, got 0")), make(NumericalError("late"))}),
            (std::vector<std::string>(3, bad)));
  EXPECT_EQ(agree({make(NumericalError("first")), make(InvalidArgument("n", "x"))}),
            (std::vector<std::string>(2, "other: first")));
}

}  // namespace
}  // namespace gengap
