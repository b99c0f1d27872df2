#include "gengap/generalization/io/digits.hpp"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"

namespace gengap {
namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

[[noreturn]] void bad_line(const std::filesystem::path& file, std::size_t line, const std::string& problem) {
  throw InvalidArgument("digits", file.string() + " line " + std::to_string(line) + ": " + problem);
}

}  // namespace

Digits read_digits(const std::filesystem::path& file) {
  const std::unique_ptr<gzFile_s, GzCloser> in(gzopen(file.c_str(), "rb"));
  if (!in || !std::filesystem::is_regular_file(file)) {
    throw InvalidArgument("digits", "cannot open " + file.string() +
                                        " (Debian ships it in python3-sklearn: apt-get install python3-sklearn)");
  }
  Digits digits;
  std::vector<double> values;
  std::string line;
  char buffer[4096];
  std::size_t number = 0;
  const auto parse = [&](std::string_view text) {
    ++number;
    std::size_t fields = 0;
    std::size_t start = 0;
    while (start <= text.size()) {
      const std::size_t comma = std::min(text.find(',', start), text.size());
      std::string_view field = text.substr(start, comma - start);
      while (!field.empty() && (field.front() == ' ')) field.remove_prefix(1);
      while (!field.empty() && (field.back() == ' ' || field.back() == '\r')) field.remove_suffix(1);
      int value = 0;
      const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
      if (field.empty() || error != std::errc() || end != field.data() + field.size()) {
        bad_line(file, number, "field " + std::to_string(fields + 1) + " '" + std::string(field) + "' is not an integer");
      }
      if (fields < digits_pixels) {
        if (value < 0 || value > static_cast<int>(digits_max_level)) {
          bad_line(file, number, "pixel " + std::to_string(fields + 1) + " is " + std::to_string(value) + ", outside 0..16");
        }
        values.push_back(static_cast<double>(value));
      } else if (fields == digits_pixels) {
        if (value < 0 || value > 9) bad_line(file, number, "label " + std::to_string(value) + " is outside 0..9");
        digits.labels.push_back(value);
      }
      ++fields;
      start = comma + 1;
    }
    if (fields != digits_pixels + 1) {
      bad_line(file, number, std::to_string(fields) + " fields, expected 65 (64 pixels and the label)");
    }
  };
  while (gzgets(in.get(), buffer, sizeof buffer) != nullptr) {
    line += buffer;
    if (line.empty() || line.back() != '\n') continue;  // a line longer than the buffer: read on
    line.pop_back();
    if (!line.empty() && line != "\r") parse(line);
    line.clear();
  }
  int code = Z_OK;
  gzerror(in.get(), &code);
  if (code != Z_OK && code != Z_STREAM_END) throw InvalidArgument("digits", file.string() + ": not a readable gzip file");
  if (!line.empty()) parse(line);
  if (digits.labels.empty()) throw InvalidArgument("digits", file.string() + ": no images");
  digits.images = Matrix(digits.labels.size(), digits_pixels, std::move(values));
  return digits;
}

Matrix scaled_digits(const Digits& digits, double lower, double upper) {
  require(std::isfinite(lower) && std::isfinite(upper) && lower < upper, "digits.range",
          "must be finite with lower < upper");
  Matrix out = digits.images;
  const double scale = (upper - lower) / digits_max_level;
  for (double& v : out.flat()) v = lower + scale * v;
  return out;
}

namespace {

Matrix rows_of(MatrixView images, std::span<const std::size_t> rows) {
  Matrix out(rows.size(), images.cols);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    require(rows[i] < images.rows, "images", "has " + std::to_string(images.rows) + " rows, the split needs row " +
                                                 std::to_string(rows[i]));
    std::copy_n(images.row(rows[i]), images.cols, out.row(i).begin());
  }
  return out;
}

}  // namespace

DigitsSplit split_digits(std::size_t count, std::size_t held_out, std::uint64_t seed) {
  require(held_out > 0 && held_out < count, "held_out",
          "must be between 1 and " + std::to_string(count) + " - 1 images, got " + std::to_string(held_out));
  DigitsSplit split;
  split.held_out = held_out;
  split.order.resize(count);
  for (std::size_t i = 0; i < count; ++i) split.order[i] = i;
  const CounterRng rng(seed, streams::data_split);
  for (std::size_t i = count - 1; i > 0; --i) std::swap(split.order[i], split.order[rng.below(i, i + 1)]);
  return split;
}

Matrix DigitsSplit::training(MatrixView images, std::size_t n) const {
  require(n > 0 && n <= training_available(), "n",
          "must be between 1 and " + std::to_string(training_available()) + " (the images not held out), got " +
              std::to_string(n));
  return rows_of(images, std::span<const std::size_t>(order).first(n));
}

Matrix DigitsSplit::test(MatrixView images) const {
  return rows_of(images, std::span<const std::size_t>(order).last(held_out));
}

}  // namespace gengap
