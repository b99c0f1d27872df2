// An S1 result as bytes and back (generalization/io/result_archive.hpp): a
// small S1 with every optional part present (quadrature and Monte Carlo KL,
// density snapshots, bound terms) comes back equal in every field, bit for
// bit: archiving the copy gives the same bytes, and the JSON forms (what the
// results folder is written from) are equal. A cut message or another format
// number is refused.
#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "gengap/generalization/io/result_archive.hpp"
#include "small_study.hpp"
#include "test_support.hpp"

namespace gengap {
namespace {

const EarlyStoppingResult& small_result() {
  static const EarlyStoppingResult result = [] {
    EarlyStoppingConfig c = small_study(StudyKind::capacity, {32}).setting(0);
    c.bounds.enabled = true;
    c.bounds.score_matching = true;
    return run_early_stopping(c);
  }();
  return result;
}

TEST(ResultArchive, EveryFieldComesBackBitForBit) {
  const EarlyStoppingResult& x = small_result();
  ASSERT_FALSE(x.bounds.rows.empty());
  ASSERT_FALSE(x.densities.empty());
  ASSERT_TRUE(x.summary.kl_available);
  const std::string bytes = archive_result(x);
  const EarlyStoppingResult y = unarchive_result(bytes);
  EXPECT_EQ(archive_result(y), bytes);
  EXPECT_EQ(to_json(y.config).dump(), to_json(x.config).dump());
  EXPECT_EQ(y.summary.to_json().dump(), x.summary.to_json().dump());
  EXPECT_EQ(y.timings.to_json().dump(), x.timings.to_json().dump());
  EXPECT_EQ(y.training_set, x.training_set);
  EXPECT_EQ(y.features.W, x.features.W);
  EXPECT_EQ(y.features.embedding.frequencies, x.features.embedding.frequencies);
  EXPECT_EQ(y.saved_weights, x.saved_weights);
  EXPECT_EQ(y.kl_best_weights, x.kl_best_weights);
  ASSERT_EQ(y.kl.size(), x.kl.size());
  for (std::size_t i = 0; i < x.kl.size(); ++i) {
    EXPECT_TRUE(same(y.kl[i].quad, x.kl[i].quad) && same(y.kl[i].ode, x.kl[i].ode) &&
                same(y.kl[i].mass, x.kl[i].mass) && y.kl[i].flags == x.kl[i].flags)
        << i;
  }
  ASSERT_EQ(y.bounds.rows.size(), x.bounds.rows.size());
  EXPECT_TRUE(same(y.bounds.rows.back().score_matching, x.bounds.rows.back().score_matching));
  ASSERT_TRUE(y.best_density.has_value());
  EXPECT_EQ(y.best_density->p_theta, x.best_density->p_theta);
}

TEST(ResultArchive, CutOrForeignMessagesAreRefused) {
  const std::string bytes = archive_result(small_result());
  for (const std::size_t cut : {std::size_t{0}, std::size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_THROW(unarchive_result(std::string_view(bytes).substr(0, cut)), std::runtime_error) << cut;
  }
  EXPECT_THROW(unarchive_result(bytes + "x"), std::runtime_error);
  // The format number follows the 8-byte length and the 16 bytes of the name.
  std::string other = bytes;
  other[8 + 16] = static_cast<char>(other[8 + 16] + 1);
  try {
    unarchive_result(other);
    FAIL() << "a foreign format was read";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("every rank must run the same gengap"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gengap
