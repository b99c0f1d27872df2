#include "gengap/generalization/io/npy.hpp"

#include <bit>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "gengap/generalization/io/atomic_file.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

static_assert(std::endian::native == std::endian::little, "gengap writes '<f8' by copying memory");

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

// Product of the extents; false if it overflows (a hostile header such as
// (2**32, 2**32) must not wrap around to a small count).
bool element_count(std::span<const std::size_t> shape, std::size_t& count) {
  count = 1;
  for (const std::size_t extent : shape) {
    if (__builtin_mul_overflow(count, extent, &count)) return false;
  }
  return true;
}

std::string shape_literal(std::span<const std::size_t> shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";  // Python's one-element tuple
  return s + ")";
}

std::string encode(const void* data, std::size_t count, std::span<const std::size_t> shape, const char* descr) {
  std::size_t expected = 0;
  require(element_count(shape, expected) && count == expected, "npy",
          "value count " + std::to_string(count) + " does not match shape " + shape_literal(shape));
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " +
                       shape_literal(shape) + ", }";
  // Total preamble (magic 6 + version 2 + length 2 + header incl. '\n') is a
  // multiple of 64, as NumPy itself writes it (aligned data for memory maps).
  const std::size_t unpadded = kMagicSize + 4 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  require(header.size() <= 0xffff, "npy", "shape too long for a version 1.0 header");

  std::string bytes(kMagic, kMagicSize);
  bytes.push_back('\x01');
  bytes.push_back('\x00');
  bytes.push_back(static_cast<char>(header.size() & 0xff));
  bytes.push_back(static_cast<char>(header.size() >> 8));
  bytes += header;
  bytes.append(static_cast<const char*>(data), count * 8);
  return bytes;
}

// A minimal reader of the header's Python literal: a dict with string keys
// and values that are strings, True/False, or tuples of non-negative ints.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string_view name) : text_(text), name_(name) {}

  void parse(std::string& descr, bool& fortran_order, std::vector<std::size_t>& shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') {
        ++pos_;
        break;
      }
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        shape = tuple();
        have_shape = true;
      } else {
        fail("unexpected header key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else {
        expect('}');
        break;
      }
    }
    if (!have_descr || !have_order || !have_shape) fail("header lacks 'descr', 'fortran_order' or 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw InvalidArgument(name_, problem); }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("malformed header: expected '") + c + "' at offset " + std::to_string(pos_));
    ++pos_;
  }
  std::string string_literal() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("malformed header: expected a string at offset " + std::to_string(pos_));
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) fail("malformed header: unterminated string");
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    skip_space();
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("malformed header: 'fortran_order' must be True or False");
  }
  std::vector<std::size_t> tuple() {
    expect('(');
    std::vector<std::size_t> values;
    while (true) {
      skip_space();
      if (peek() == ')') {
        ++pos_;
        return values;
      }
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("malformed header: bad shape");
      std::size_t value = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        const std::size_t digit = static_cast<std::size_t>(peek() - '0');
        if (value > (std::numeric_limits<std::size_t>::max() - digit) / 10) fail("shape extent too large");
        value = value * 10 + digit;
        ++pos_;
      }
      values.push_back(value);
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        fail("malformed header: bad shape");
      }
    }
  }

  std::string_view text_;
  std::string_view name_;
  std::size_t pos_ = 0;
};

}  // namespace

Matrix NpyArray::to_matrix() const {
  if (shape.size() == 2) return Matrix(shape[0], shape[1], values);
  if (shape.size() == 1) return Matrix(shape[0], 1, values);
  throw InvalidArgument("npy", "expected a 1-d or 2-d array, got " + std::to_string(shape.size()) + " dimensions");
}

std::string npy_bytes(std::span<const double> values, std::span<const std::size_t> shape) {
  return encode(values.data(), values.size(), shape, "<f8");
}
std::string npy_bytes(std::span<const std::int64_t> values, std::span<const std::size_t> shape) {
  return encode(values.data(), values.size(), shape, "<i8");
}

void write_npy(const std::filesystem::path& path, std::span<const double> values,
               std::span<const std::size_t> shape) {
  write_file_atomically(path, npy_bytes(values, shape));
}
void write_npy(const std::filesystem::path& path, std::span<const std::int64_t> values,
               std::span<const std::size_t> shape) {
  write_file_atomically(path, npy_bytes(values, shape));
}
void write_npy(const std::filesystem::path& path, const Matrix& matrix) {
  const std::size_t shape[] = {matrix.rows(), matrix.cols()};
  write_npy(path, matrix.flat(), shape);
}
void write_npy(const std::filesystem::path& path, std::span<const double> vector) {
  const std::size_t shape[] = {vector.size()};
  write_npy(path, vector, shape);
}

NpyArray parse_npy(std::string_view bytes, std::string_view name) {
  const auto fail = [&](const std::string& problem) -> void { throw InvalidArgument(name, problem); };
  if (bytes.size() < kMagicSize + 4 || bytes.substr(0, kMagicSize) != std::string_view(kMagic, kMagicSize)) {
    fail("not a .npy file (bad magic string)");
  }
  const auto byte = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<unsigned char>(bytes[i])); };
  const std::size_t major = byte(6);
  std::size_t header_length = 0;
  std::size_t header_start = 0;
  if (major == 1) {
    header_length = byte(8) | byte(9) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail("truncated header");
    header_length = byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
    header_start = 12;
  } else {
    fail("unsupported .npy version " + std::to_string(major));
  }
  if (bytes.size() < header_start + header_length) fail("truncated header");

  std::string descr;
  bool fortran_order = false;
  NpyArray array;
  HeaderParser(bytes.substr(header_start, header_length), name).parse(descr, fortran_order, array.shape);
  if (fortran_order) fail("Fortran-ordered arrays are not supported (save with C order)");
  const bool is_int64 = descr == "<i8";
  if (descr != "<f8" && !is_int64) fail("dtype '" + descr + "' is not supported (expected '<f8', little-endian float64)");

  std::size_t count = 0;
  if (!element_count(array.shape, count)) fail("shape " + shape_literal(array.shape) + " has too many elements");
  const std::size_t data_start = header_start + header_length;
  const std::size_t data_size = bytes.size() - data_start;
  if (count > std::numeric_limits<std::size_t>::max() / 8 || data_size != count * 8) {
    fail("data size " + std::to_string(data_size) + " bytes does not match shape " + shape_literal(array.shape));
  }
  array.values.resize(count);
  if (is_int64) {
    std::vector<std::int64_t> integers(count);
    std::memcpy(integers.data(), bytes.data() + data_start, data_size);
    constexpr std::int64_t exact = std::int64_t{1} << 53;
    for (std::size_t i = 0; i < count; ++i) {
      if (integers[i] > exact || integers[i] < -exact) fail("int64 value not exactly representable as a double");
      array.values[i] = static_cast<double>(integers[i]);
    }
  } else if (count > 0) {
    std::memcpy(array.values.data(), bytes.data() + data_start, data_size);
  }
  return array;
}

NpyArray read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgument(path.string(), std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw InvalidArgument(path.string(), "read error");
  return parse_npy(content.str(), path.string());
}

}  // namespace gengap
