#include "gengap/generalization/plots/digit_grid.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gengap/generalization/io/atomic_file.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

constexpr std::size_t side = 8;  // pixels of a digit per side

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// A PNG chunk: length, type, data, CRC-32 of type and data.
void put_chunk(std::string& out, std::string_view type, std::string_view data) {
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  const std::size_t start = out.size();
  out.append(type);
  out.append(data);
  const auto* bytes = reinterpret_cast<const Bytef*>(out.data() + start);
  put_u32(out, static_cast<std::uint32_t>(crc32(0L, bytes, static_cast<uInt>(out.size() - start))));
}

}  // namespace

void write_digit_pairs_png(const std::filesystem::path& file, MatrixView left, MatrixView right,
                           const DigitGridOptions& options) {
  require(left.rows >= 1 && left.cols == side * side, "left", "must be pairs x 64 with at least one row");
  require(right.rows == left.rows && right.cols == side * side, "right", "must have left's shape (pairs x 64)");
  require(std::isfinite(options.lower) && std::isfinite(options.upper) && options.lower < options.upper, "options",
          "lower < upper, both finite");
  require(options.pairs_per_row >= 1 && options.scale >= 1, "options", "pairs_per_row and scale must be at least 1");
  const std::size_t pairs = left.rows, s = options.scale;
  const std::size_t columns = std::min(pairs, options.pairs_per_row);
  const std::size_t rows = (pairs + columns - 1) / columns;
  // Blocks: per pair 8 + 1 + 8, then 2 between pairs; 2 around the picture.
  const std::size_t pair_width = 2 * side + 1, gap = 2;
  const std::size_t width = s * (gap + columns * (pair_width + gap)), height = s * (gap + rows * (side + gap));
  std::vector<std::uint8_t> pixels(width * height, 255);
  const auto grey = [&](double v) {
    const double ink = std::clamp((v - options.lower) / (options.upper - options.lower), 0.0, 1.0);
    return static_cast<std::uint8_t>(std::lround(255.0 * (1.0 - ink)));
  };
  const auto draw = [&](const double* image, std::size_t x0, std::size_t y0) {  // in blocks
    for (std::size_t r = 0; r < side; ++r)
      for (std::size_t c = 0; c < side; ++c) {
        const std::uint8_t g = grey(image[r * side + c]);
        for (std::size_t dy = 0; dy < s; ++dy)
          for (std::size_t dx = 0; dx < s; ++dx) pixels[((y0 + r) * s + dy) * width + (x0 + c) * s + dx] = g;
      }
  };
  for (std::size_t p = 0; p < pairs; ++p) {
    const std::size_t x0 = gap + (p % columns) * (pair_width + gap), y0 = gap + (p / columns) * (side + gap);
    draw(left.row(p), x0, y0);
    draw(right.row(p), x0 + side + 1, y0);
  }
  // Scanlines, each after its filter byte 0 (none), deflated.
  std::string raw;
  raw.reserve(height * (width + 1));
  for (std::size_t y = 0; y < height; ++y) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(pixels.data() + y * width), width);
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size, reinterpret_cast<const Bytef*>(raw.data()),
                static_cast<uLong>(raw.size()), Z_BEST_COMPRESSION) != Z_OK) {
    throw std::runtime_error("write_digit_pairs_png: zlib failed to compress the image");
  }
  packed.resize(packed_size);
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string header;
  put_u32(header, static_cast<std::uint32_t>(width));
  put_u32(header, static_cast<std::uint32_t>(height));
  header.append(std::string("\x08\x00\x00\x00\x00", 5));  // 8 bits, grey, deflate, no filter method, no interlace
  put_chunk(png, "IHDR", header);
  put_chunk(png, "IDAT", packed);
  put_chunk(png, "IEND", {});
  write_file_atomically(file, png);
}

}  // namespace gengap
