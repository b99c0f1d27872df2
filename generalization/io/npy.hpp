#pragma once
// NumPy's .npy format (version 1.0; reads 1.0-3.0), so results load with
// numpy.load: magic "\x93NUMPY", version, little-endian header length, a
// Python-literal header {'descr': '<f8', 'fortran_order': False, 'shape': (...), }
// padded with spaces to a multiple of 64 bytes and ending in '\n', then the
// values in C (row-major) order.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "gengap/kernels/matrix.hpp"

namespace gengap {

struct NpyArray {
  std::vector<std::size_t> shape;  // empty for a 0-d array (one value)
  std::vector<double> values;      // C order, product(shape) entries

  std::size_t ndim() const { return shape.size(); }
  // The array as a matrix: 2-d as is, 1-d as a column (n x 1). Throws
  // InvalidArgument for other ranks.
  Matrix to_matrix() const;
};

// The file's bytes for float64 ('<f8') / int64 ('<i8') values of the given
// shape. Throws InvalidArgument if values.size() != product(shape).
std::string npy_bytes(std::span<const double> values, std::span<const std::size_t> shape);
std::string npy_bytes(std::span<const std::int64_t> values, std::span<const std::size_t> shape);

// Writes atomically (see atomic_file.hpp).
void write_npy(const std::filesystem::path& path, std::span<const double> values,
               std::span<const std::size_t> shape);
void write_npy(const std::filesystem::path& path, std::span<const std::int64_t> values,
               std::span<const std::size_t> shape);
void write_npy(const std::filesystem::path& path, const Matrix& matrix);            // rows x cols
void write_npy(const std::filesystem::path& path, std::span<const double> vector);  // 1-d

// Parses .npy bytes; `name` labels errors. Accepts only '<f8' (and '<i8'
// converted exactly when |value| <= 2^53), C order. Throws InvalidArgument
// naming `name` on a bad magic, version, header, dtype, Fortran order, shape
// or a data size that does not match the shape.
NpyArray parse_npy(std::string_view bytes, std::string_view name);
// Reads a file; errors name the file ("<path>: ...").
NpyArray read_npy(const std::filesystem::path& path);

}  // namespace gengap
