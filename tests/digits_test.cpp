// The handwritten digits as Debian ships them (generalization/io/digits.hpp):
// Debian's file reads as 1797 images of 64 grey levels with the numbers an
// independent reader gives (tests/reference/digits_reference.py: Python's gzip
// and NumPy's loadtxt): the pixel sum, the label counts, the first and last
// images; scaling maps 0..16 onto the range exactly; a missing file, a short
// line, a value out of range or not an integer, and an empty file are errors
// naming the file and the line. The training/held-out split is a permutation
// (every image once), disjoint, nested in n, the same for the same seed and
// another for another, and refuses impossible sizes.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "gengap/generalization/io/digits.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

namespace fs = std::filesystem;

TEST(Digits, DebiansFileHasTheReferenceNumbers) {
  const Digits d = read_digits();
  ASSERT_EQ(d.count(), 1797u);
  ASSERT_EQ(d.images.cols(), 64u);
  const double sum = std::accumulate(d.images.flat().begin(), d.images.flat().end(), 0.0);
  EXPECT_EQ(sum, 561718.0);
  std::vector<int> counts(10, 0);
  for (const int label : d.labels) ++counts.at(static_cast<std::size_t>(label));
  EXPECT_EQ(counts, (std::vector<int>{178, 182, 177, 183, 181, 182, 181, 179, 174, 180}));
  const std::vector<double> first = {0, 0, 5,  13, 9, 1,  0,  0, 0, 0, 13, 15, 10, 15, 5,  0, 0, 3,  15, 2, 0, 11,
                                     8, 0, 0,  4,  12, 0, 0,  8, 8, 0, 0, 5,  8,  0,  0,  9, 8, 0,  0,  4, 11, 0,
                                     1, 12, 7, 0,  0, 2, 14, 5, 10, 12, 0, 0, 0,  0,  6,  13, 10, 0, 0,  0};
  EXPECT_EQ(std::vector<double>(d.images.row(0).begin(), d.images.row(0).end()), first);
  EXPECT_EQ(d.labels.front(), 0);
  const std::vector<double> last16 = {0, 0, 10, 14, 8, 1, 0, 0, 0, 2, 16, 14, 6, 1, 0, 0};
  EXPECT_EQ(std::vector<double>(d.images.row(1796).begin(), d.images.row(1796).begin() + 16), last16);
  EXPECT_EQ(d.labels.back(), 8);

  const Matrix s = scaled_digits(d, -1.0, 1.0);
  EXPECT_EQ(s(0, 0), -1.0);   // grey level 0
  EXPECT_EQ(s(0, 3), 0.625);  // 13 -> -1 + 13/8
  EXPECT_EQ(s(1796, 10), 1.0);  // 16
}

class DigitsFile : public testing::Test {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() / ("gengap_digits_test_" + std::to_string(::getpid()) + ".csv.gz");
  }
  void TearDown() override { fs::remove(path_); }
  // Writes `text` gzip-compressed, as Debian's file is.
  void write(const std::string& text) const {
    gzFile f = gzopen(path_.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
    gzclose(f);
  }
  std::string error_of(const std::string& text) const {
    write(text);
    try {
      read_digits(path_);
    } catch (const InvalidArgument& e) {
      return e.what();
    }
    return "(no error)";
  }
  static std::string image(int pixel, int label) {
    std::string line;
    for (std::size_t k = 0; k < digits_pixels; ++k) line += std::to_string(k == 5 ? pixel : 0) + ",";
    return line + std::to_string(label) + "\n";
  }
  fs::path path_;
};

TEST_F(DigitsFile, ReadsWhatItWasGiven) {
  write(image(7, 3) + image(16, 9));
  const Digits d = read_digits(path_);
  ASSERT_EQ(d.count(), 2u);
  EXPECT_EQ(d.images(0, 5), 7.0);
  EXPECT_EQ(d.images(1, 5), 16.0);
  EXPECT_EQ(d.labels, (std::vector<int>{3, 9}));
}

TEST_F(DigitsFile, BadContentNamesTheFileAndTheLine) {
  const std::string where = "digits: " + path_.string() + " line 2: ";
  EXPECT_EQ(error_of(image(1, 1) + image(17, 1)), where + "pixel 6 is 17, outside 0..16");
  EXPECT_EQ(error_of(image(1, 1) + image(1, 10)), where + "label 10 is outside 0..9");
  EXPECT_EQ(error_of(image(1, 1) + "1,2,3\n"), where + "3 fields, expected 65 (64 pixels and the label)");
  std::string fractional = image(1, 1);
  fractional.replace(0, 1, "0.5");
  EXPECT_EQ(error_of(image(1, 1) + fractional), where + "field 1 '0.5' is not an integer");
  EXPECT_EQ(error_of(""), "digits: " + path_.string() + ": no images");
  const std::string missing = (fs::temp_directory_path() / "gengap_no_such_digits.csv.gz").string();
  try {
    read_digits(missing);
    FAIL() << "read a missing file";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()),
              "digits: cannot open " + missing + " (Debian ships it in python3-sklearn: apt-get install python3-sklearn)");
  }
  EXPECT_THROW(scaled_digits(read_digits(), 1.0, -1.0), InvalidArgument);
}

TEST(DigitsSplit, DisjointNestedAndSeeded) {
  const DigitsSplit split = split_digits(1797, 261, 5);
  ASSERT_EQ(split.order.size(), 1797u);
  std::vector<std::size_t> sorted = split.order;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) ASSERT_EQ(sorted[i], i);  // a permutation: every image once
  EXPECT_EQ(split.training_available(), 1536u);
  // Rows tell the images apart: row i of a matrix whose row i is (i, i, ...).
  Matrix ids(1797, 2);
  for (std::size_t i = 0; i < ids.rows(); ++i) ids(i, 0) = ids(i, 1) = static_cast<double>(i);
  const Matrix test = split.test(ids), large = split.training(ids, 1536), small = split.training(ids, 64);
  ASSERT_EQ(test.rows(), 261u);
  std::vector<bool> held(1797, false);
  for (std::size_t i = 0; i < test.rows(); ++i) held[static_cast<std::size_t>(test(i, 0))] = true;
  for (std::size_t i = 0; i < large.rows(); ++i) EXPECT_FALSE(held[static_cast<std::size_t>(large(i, 0))]) << i;
  for (std::size_t i = 0; i < small.rows(); ++i) EXPECT_EQ(small(i, 0), large(i, 0)) << i;  // nested
  EXPECT_EQ(split_digits(1797, 261, 5).order, split.order);
  EXPECT_NE(split_digits(1797, 261, 6).order, split.order);
  // Not the identity: the first 64 training images are not images 0..63.
  std::size_t in_place = 0;
  for (std::size_t i = 0; i < 64; ++i) in_place += split.order[i] == i ? 1 : 0;
  EXPECT_LT(in_place, 5u);
}

TEST(DigitsSplit, ImpossibleSizesNameTheField) {
  EXPECT_THROW(split_digits(10, 0, 1), InvalidArgument);
  EXPECT_THROW(split_digits(10, 10, 1), InvalidArgument);
  const DigitsSplit split = split_digits(10, 4, 1);
  const Matrix images(10, 3);
  try {
    split.training(images, 7);
    FAIL() << "took 7 of 6 training images";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "n: must be between 1 and 6 (the images not held out), got 7");
  }
  EXPECT_THROW(split.training(images, 0), InvalidArgument);
  EXPECT_THROW(split.test(Matrix(5, 3)), InvalidArgument);  // the split is of 10 images
}

}  // namespace
}  // namespace gengap
