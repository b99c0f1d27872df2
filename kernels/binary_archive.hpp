#pragma once
// Bytes in, bytes out: the wire format of results sent between processes
// (MPI ranks, result_archive.hpp). Values are copied as their in-memory bytes,
// so a double arrives with every bit it left with (NaN payloads, -0.0, the
// last ulp), which a text format would have to work for. Sender and receiver
// must share byte order and the IEEE-754 double format: every rank of one MPI
// job on x86-64 or arm64 nodes does.
//
//   ByteWriter w;  w.put(3.5);  w.put(std::string("relu"));  w.put(vector);
//   ByteReader r(w.bytes());  double x = r.get<double>();  ...  r.expect_end();
//
// A reader that runs past the end, or finds bytes left over, throws
// std::runtime_error("archive: ...") naming what it was reading: a truncated or
// mismatched message is a bug or a version skew, never silently garbage.
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "gengap/kernels/matrix.hpp"

namespace gengap {

class ByteWriter {
 public:
  template <class T>
    requires std::is_arithmetic_v<T>
  void put(T value) {
    append(&value, sizeof value);
  }
  void put(bool value) { put(static_cast<std::uint8_t>(value)); }
  void put(std::string_view text) {
    put(static_cast<std::uint64_t>(text.size()));
    append(text.data(), text.size());
  }
  void put(const std::string& text) { put(std::string_view(text)); }
  template <class T>
    requires std::is_arithmetic_v<T>
  void put(std::span<const T> values) {
    put(static_cast<std::uint64_t>(values.size()));
    append(values.data(), values.size() * sizeof(T));
  }
  template <class T>
    requires std::is_arithmetic_v<T>
  void put(const std::vector<T>& values) {
    put(std::span<const T>(values));
  }
  // Indices and counts, as 64-bit integers whatever the platform's size_t.
  void put_indices(const std::vector<std::size_t>& v) { put(std::vector<std::uint64_t>(v.begin(), v.end())); }
  void put(const Matrix& m) {
    put(static_cast<std::uint64_t>(m.rows()));
    put(static_cast<std::uint64_t>(m.cols()));
    append(m.data(), m.size() * sizeof(double));
  }

  const std::string& bytes() const { return bytes_; }
  std::string release() { return std::move(bytes_); }

 private:
  void append(const void* data, std::size_t size) {
    bytes_.append(static_cast<const char*>(data), size);
  }
  std::string bytes_;
};

class ByteReader {
 public:
  // Views `bytes`, which must outlive the reader.
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}

  template <class T>
    requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
  T get(std::string_view what = "a number") {
    T value;
    take(&value, sizeof value, what);
    return value;
  }
  bool get_bool(std::string_view what = "a flag") { return get<std::uint8_t>(what) != 0; }
  std::string get_string(std::string_view what = "a string") {
    const std::size_t size = get_size(what, 1);
    std::string text(size, '\0');
    take(text.data(), size, what);
    return text;
  }
  template <class T>
    requires std::is_arithmetic_v<T>
  std::vector<T> get_vector(std::string_view what = "an array") {
    const std::size_t size = get_size(what, sizeof(T));
    std::vector<T> values(size);
    take(values.data(), size * sizeof(T), what);
    return values;
  }
  std::vector<std::size_t> get_indices(std::string_view what = "indices") {
    const std::vector<std::uint64_t> v = get_vector<std::uint64_t>(what);
    return {v.begin(), v.end()};
  }
  Matrix get_matrix(std::string_view what = "a matrix") {
    const std::size_t rows = get_size(what, 0);
    const std::size_t cols = get_size(what, 0);
    if (rows != 0 && cols > remaining() / sizeof(double) / rows) fail(what);
    std::vector<double> values(rows * cols);
    take(values.data(), values.size() * sizeof(double), what);
    return Matrix(rows, cols, std::move(values));
  }
  void expect_end() const {
    if (offset_ != bytes_.size()) {
      throw std::runtime_error("archive: " + std::to_string(bytes_.size() - offset_) + " bytes left over after the last field");
    }
  }

 private:
  std::size_t remaining() const { return bytes_.size() - offset_; }
  // A length prefix, refused when its elements cannot fit in what is left.
  std::size_t get_size(std::string_view what, std::size_t element_bytes) {
    const std::uint64_t size = get<std::uint64_t>(what);
    if (element_bytes > 0 && size > remaining() / element_bytes) fail(what);
    return static_cast<std::size_t>(size);
  }
  void take(void* out, std::size_t size, std::string_view what) {
    if (size > remaining()) fail(what);
    if (size > 0) std::memcpy(out, bytes_.data() + offset_, size);
    offset_ += size;
  }
  [[noreturn]] void fail(std::string_view what) const {
    throw std::runtime_error("archive: truncated while reading " + std::string(what) + " at byte " +
                         std::to_string(offset_) + " of " + std::to_string(bytes_.size()));
  }

  std::string_view bytes_;
  std::size_t offset_ = 0;
};

}  // namespace gengap
