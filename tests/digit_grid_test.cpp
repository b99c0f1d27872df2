// Digit pictures (generalization/plots/digit_grid.hpp): the PNG has the
// stated size and layout (pairs per row, scale, gaps), ink black and paper
// white, values outside the range clamped, chunks with valid CRC-32s; an
// independent decoder (matplotlib's, through /usr/bin/python3) reads the same
// size and pixels; bad shapes and options name the field.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gengap/generalization/plots/digit_grid.hpp"
#include "gengap/kernels/error.hpp"
#include "test_support.hpp"

namespace gengap {
namespace {

namespace fs = std::filesystem;

std::uint32_t u32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t k = 0; k < 4; ++k) v = (v << 8) | static_cast<unsigned char>(s[at + k]);
  return v;
}

struct DecodedPng {
  std::size_t width = 0, height = 0;
  std::vector<std::uint8_t> grey;  // height x width
};

// A minimal reader for what the writer claims to write: 8-bit grey, no interlace.
DecodedPng decode(const std::string& png) {
  DecodedPng d;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::string idat;
  for (std::size_t at = 8; at + 12 <= png.size();) {
    const std::uint32_t length = u32(png, at);
    const std::string type = png.substr(at + 4, 4);
    const std::string data = png.substr(at + 8, length);
    const auto crc = static_cast<std::uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(png.data() + at + 4), static_cast<uInt>(length + 4)));
    EXPECT_EQ(u32(png, at + 8 + length), crc) << type;
    if (type == "IHDR") {
      d.width = u32(data, 0);
      d.height = u32(data, 4);
      EXPECT_EQ(data[8], 8);  // bit depth
      EXPECT_EQ(data[9], 0);  // grey
    } else if (type == "IDAT") {
      idat += data;
    }
    at += 12 + length;
  }
  std::vector<std::uint8_t> raw(d.height * (d.width + 1));
  uLongf size = static_cast<uLongf>(raw.size());
  EXPECT_EQ(uncompress(raw.data(), &size, reinterpret_cast<const Bytef*>(idat.data()), static_cast<uLong>(idat.size())),
            Z_OK);
  EXPECT_EQ(size, raw.size());
  for (std::size_t y = 0; y < d.height; ++y) {
    EXPECT_EQ(raw[y * (d.width + 1)], 0) << "filter byte of row " << y;
    d.grey.insert(d.grey.end(), raw.begin() + static_cast<std::ptrdiff_t>(y * (d.width + 1) + 1),
                  raw.begin() + static_cast<std::ptrdiff_t>((y + 1) * (d.width + 1)));
  }
  return d;
}

TEST(DigitGrid, LayoutInkAndAnIndependentDecoder) {
  // 3 pairs, 2 per row, scale 2: width 2 (2 + 2 (17 + 2)) = 80, height 2 (2 + 2 (8 + 2)) = 44.
  Matrix left(3, 64, -1.0), right(3, 64, -1.0);
  left(0, 0) = 1.0;    // pair 0, left image, pixel (0, 0): black
  right(0, 63) = 0.0;  // pair 0, right image, pixel (7, 7): mid grey
  left(2, 9) = 5.0;    // pair 2 (second row), left, pixel (1, 1): beyond the range, clamped to black
  const fs::path file = fs::temp_directory_path() / ("gengap_digit_grid_test_" + std::to_string(::getpid()) + ".png");
  DigitGridOptions options;
  options.pairs_per_row = 2;
  options.scale = 2;
  write_digit_pairs_png(file, left, right, options);
  std::ifstream in(file, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  const DecodedPng d = decode(bytes.str());
  ASSERT_EQ(d.width, 80u);
  ASSERT_EQ(d.height, 44u);
  const auto at = [&](std::size_t x, std::size_t y) { return static_cast<int>(d.grey[y * d.width + x]); };
  EXPECT_EQ(at(0, 0), 255);                // the margin
  EXPECT_EQ(at(4, 4), 0);                  // pair 0 left (0, 0): blocks (2, 2)
  EXPECT_EQ(at(5, 5), 0);                  // the same pixel's 2 x 2 block
  EXPECT_EQ(at(6, 4), 255);                // its neighbour (0, 1) is paper
  EXPECT_EQ(at((2 + 9 + 7) * 2, (2 + 7) * 2), 128);  // pair 0 right (7, 7): blocks (18, 9), lround(127.5)
  EXPECT_EQ(at((2 + 1) * 2, (2 + 10 + 1) * 2), 0);   // pair 2 (row 1) left (1, 1): blocks (3, 13), clamped
  int ink = 0;
  for (const std::uint8_t g : d.grey) ink += g < 255 ? 1 : 0;
  EXPECT_EQ(ink, 3 * 4);  // three inked pixels, 4 screen pixels each

  const std::string check = "/usr/bin/python3 -c \"import matplotlib.image as m; a = m.imread('" + file.string() +
                            "'); assert a.shape == (44, 80), a.shape; assert a[4, 4] == 0 and a[0, 0] == 1, "
                            "(a[4, 4], a[0, 0]); assert abs(a[18, 36] - 128 / 255) < 1e-6, a[18, 36]\"";
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
  fs::remove(file);
}

TEST(DigitGrid, BadShapesAndOptionsNameTheField) {
  const fs::path file = fs::temp_directory_path() / "gengap_digit_grid_never.png";
  expect_invalid([&] { write_digit_pairs_png(file, Matrix(2, 63), Matrix(2, 63)); }, "left");
  expect_invalid([&] { write_digit_pairs_png(file, Matrix(2, 64), Matrix(3, 64)); }, "right");
  DigitGridOptions bad;
  bad.lower = 1.0;
  bad.upper = -1.0;
  expect_invalid([&] { write_digit_pairs_png(file, Matrix(1, 64), Matrix(1, 64), bad); }, "options");
  bad = {};
  bad.scale = 0;
  expect_invalid([&] { write_digit_pairs_png(file, Matrix(1, 64), Matrix(1, 64), bad); }, "options");
  EXPECT_FALSE(fs::exists(file));
}

}  // namespace
}  // namespace gengap
