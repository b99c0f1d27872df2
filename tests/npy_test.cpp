// .npy reader/writer against files written by NumPy itself
// (tests/data/npy/make_npy_fixtures.py): byte-identical output for the same
// array, exact values on reading, and a clear error naming the file for every
// variant gengap does not read.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "gengap/generalization/io/npy.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

const std::filesystem::path fixtures = std::filesystem::path(GENGAP_TEST_DATA_DIR) / "npy";

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The fixture's values, computed as NumPy did: (arange(6) - 2.5) / 3 in double.
std::vector<double> fixture_values() {
  std::vector<double> v(6);
  for (int i = 0; i < 6; ++i) v[i] = (static_cast<double>(i) - 2.5) / 3.0;
  return v;
}

const std::filesystem::path scratch_dir =
    std::filesystem::temp_directory_path() / ("gengap_npy_test_" + std::to_string(::getpid()));
// Removes the scratch folder when the test program exits.
const struct ScratchCleanup {
  ~ScratchCleanup() {
    std::error_code ignored;
    std::filesystem::remove_all(scratch_dir, ignored);
  }
} scratch_cleanup;

std::filesystem::path scratch(const std::string& name) {
  std::filesystem::create_directories(scratch_dir);
  return scratch_dir / name;
}

void expect_error_naming(const std::filesystem::path& path, const std::string& fragment) {
  try {
    read_npy(path);
    FAIL() << "no error for " << path;
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path.string()), std::string::npos) << what;
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
  }
}

TEST(Npy, WriterMatchesNumpyBytes) {
  const std::size_t shape[] = {2, 3};
  EXPECT_EQ(npy_bytes(fixture_values(), shape), file_bytes(fixtures / "c_order_2x3.npy"));
  const std::size_t vector_shape[] = {5};
  const std::vector<double> linspace = {-1.0, -0.5, 0.0, 0.5, 1.0};
  EXPECT_EQ(npy_bytes(linspace, vector_shape), file_bytes(fixtures / "vector_5.npy"));
  const std::vector<double> pi = {3.141592653589793};
  EXPECT_EQ(npy_bytes(pi, std::span<const std::size_t>{}), file_bytes(fixtures / "scalar.npy"));
  const std::vector<std::int64_t> integers = {-3, 0, 7, std::int64_t{1} << 40};
  const std::size_t int_shape[] = {4};
  EXPECT_EQ(npy_bytes(integers, int_shape), file_bytes(fixtures / "int64_4.npy"));
}

TEST(Npy, ReadsNumpyFilesExactly) {
  const NpyArray a = read_npy(fixtures / "c_order_2x3.npy");
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(a.values, fixture_values());
  const NpyArray v2 = read_npy(fixtures / "version2_2x3.npy");
  EXPECT_EQ(v2.shape, a.shape);
  EXPECT_EQ(v2.values, a.values);
  const NpyArray s = read_npy(fixtures / "scalar.npy");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.values, std::vector<double>{3.141592653589793});
  const NpyArray i = read_npy(fixtures / "int64_4.npy");
  EXPECT_EQ(i.values, (std::vector<double>{-3.0, 0.0, 7.0, 1099511627776.0}));
  const Matrix m = a.to_matrix();
  EXPECT_EQ(m.rows(), 2u);
  EXPECT_EQ(m(1, 2), fixture_values()[5]);
}

TEST(Npy, RoundTripIsBitExact) {
  // Shapes 0-d .. 3-d, an empty axis, and values whose bits must survive
  // (signed zero, subnormal, extremes, infinities, NaN payload).
  std::vector<double> special = {-0.0,
                                 std::numeric_limits<double>::denorm_min(),
                                 std::numeric_limits<double>::max(),
                                 -std::numeric_limits<double>::infinity(),
                                 std::bit_cast<double>(std::uint64_t{0x7ff8000000000123}),
                                 1.0 / 3.0};
  const std::vector<std::vector<std::size_t>> shapes = {{}, {6}, {2, 3}, {1, 2, 3}, {0, 3}};
  for (const auto& shape : shapes) {
    std::size_t count = 1;
    for (const std::size_t e : shape) count *= e;
    const std::vector<double> values(special.begin(), special.begin() + static_cast<std::ptrdiff_t>(count));
    const auto path = scratch("roundtrip.npy");
    write_npy(path, values, shape);
    const NpyArray back = read_npy(path);
    EXPECT_EQ(back.shape, shape);
    ASSERT_EQ(back.values.size(), count);
    EXPECT_EQ(std::memcmp(back.values.data(), values.data(), count * sizeof(double)), 0);
    // NumPy aligns the data to 64 bytes; so do we.
    const std::string bytes = file_bytes(path);
    EXPECT_EQ((bytes.size() - count * 8) % 64, 0u);
  }
}

TEST(Npy, RejectsWhatItCannotRead) {
  expect_error_naming(fixtures / "fortran_order_2x3.npy", "Fortran");
  expect_error_naming(fixtures / "big_endian_2x3.npy", ">f8");
  expect_error_naming(fixtures / "float32_2x3.npy", "<f4");
  expect_error_naming(fixtures / "does_not_exist.npy", "cannot open");

  const std::string good = file_bytes(fixtures / "c_order_2x3.npy");
  const auto truncated = scratch("truncated.npy");
  std::ofstream(truncated, std::ios::binary) << good.substr(0, good.size() - 8);
  expect_error_naming(truncated, "does not match shape");
  const auto bad_magic = scratch("bad_magic.npy");
  std::ofstream(bad_magic, std::ios::binary) << "PK\x03\x04" << good.substr(4);
  expect_error_naming(bad_magic, "magic");
  const auto empty = scratch("empty.npy");
  std::ofstream(empty, std::ios::binary).flush();
  expect_error_naming(empty, "magic");

  // A shape whose element count overflows 64 bits (2^32 * 2^32 wraps to 0)
  // with no data must be refused, not read as an empty 2^32 x 2^32 array.
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }";
  header.append(118 - header.size(), ' ');
  header += '\n';
  const auto overflow = scratch("overflow.npy");
  std::ofstream(overflow, std::ios::binary) << std::string("\x93NUMPY\x01\x00", 8) << char(header.size() & 0xff)
                                            << char(header.size() >> 8) << header;
  expect_error_naming(overflow, "too many elements");
}

TEST(Npy, WriteChecksShape) {
  const std::vector<double> values(5, 1.0);
  const std::size_t shape[] = {2, 3};
  EXPECT_THROW(npy_bytes(values, shape), InvalidArgument);
}

}  // namespace
}  // namespace gengap
