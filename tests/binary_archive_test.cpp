// The byte format results travel in between ranks (kernels/binary_archive.hpp):
// every bit of a double survives (NaN payloads, -0.0, denormals, the last
// ulp), strings and arrays keep their lengths, and a short or over-long
// message is an error naming what was being read, never garbage.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "gengap/kernels/binary_archive.hpp"

namespace gengap {
namespace {

TEST(BinaryArchive, EveryBitOfEveryValueRoundTrips) {
  const double payload_nan = std::bit_cast<double>(std::uint64_t{0x7ff8'0000'dead'beefULL});
  const std::vector<double> doubles = {-0.0, std::numeric_limits<double>::denorm_min(), 0.1 + 0.2, payload_nan,
                                       -std::numeric_limits<double>::infinity()};
  const Matrix m(2, 3, std::vector<double>{1, 2, 3, 4, 5, 6});
  ByteWriter w;
  w.put(doubles);
  w.put(std::string("relu\0kink", 9));  // embedded NUL: lengths, not terminators
  w.put(m);
  w.put(true);
  w.put(std::uint64_t{1} << 63);
  w.put(Matrix());
  w.put(std::vector<double>{});

  ByteReader r(w.bytes());
  const std::vector<double> back = r.get_vector<double>();
  ASSERT_EQ(back.size(), doubles.size());
  for (std::size_t i = 0; i < doubles.size(); ++i) {
    EXPECT_EQ(std::bit_cast<std::uint64_t>(back[i]), std::bit_cast<std::uint64_t>(doubles[i])) << i;
  }
  EXPECT_EQ(r.get_string(), std::string("relu\0kink", 9));
  EXPECT_EQ(r.get_matrix(), m);
  EXPECT_TRUE(r.get_bool());
  EXPECT_EQ(r.get<std::uint64_t>(), std::uint64_t{1} << 63);
  const Matrix empty = r.get_matrix();
  EXPECT_EQ(empty.rows(), 0u);
  EXPECT_TRUE(r.get_vector<double>().empty());
  EXPECT_NO_THROW(r.expect_end());
}

TEST(BinaryArchive, TruncatedAndOverlongMessagesAreErrors) {
  ByteWriter w;
  w.put(std::vector<double>{1, 2, 3});
  w.put(std::string("tail"));
  const std::string bytes = w.bytes();
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    ByteReader r(std::string_view(bytes).substr(0, cut));
    try {
      r.get_vector<double>("the curves");
      r.get_string("the label");
      FAIL() << "read past the end at cut " << cut;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("archive: truncated while reading the "), std::string::npos) << e.what();
    }
  }
  const std::string longer = bytes + "x";  // the reader views it: it must outlive the reader
  ByteReader extra(longer);
  extra.get_vector<double>();
  extra.get_string();
  EXPECT_THROW(extra.expect_end(), std::runtime_error);
  // A length prefix larger than the message: refused before allocating it.
  ByteWriter huge;
  huge.put(std::uint64_t{1} << 60);
  ByteReader lying(huge.bytes());
  EXPECT_THROW(lying.get_vector<double>(), std::runtime_error);
}

}  // namespace
}  // namespace gengap
