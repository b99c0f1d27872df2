#pragma once
// The one owning dense matrix type of gengap: row-major doubles, contiguous.
// Views into it are std::span rows or MatrixView (pointer + shape).
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gengap/kernels/error.hpp"

namespace gengap {

// Non-owning read-only view of a contiguous row-major matrix.
struct MatrixView {
  const double* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;

  const double* row(std::size_t i) const { return data + i * cols; }
  double operator()(std::size_t i, std::size_t j) const { return data[i * cols + j]; }
  std::span<const double> flat() const { return {data, rows * cols}; }
};

class Matrix {
 public:
  Matrix() = default;
  Matrix(std::size_t rows, std::size_t cols, double fill = 0.0)
      : rows_(rows), cols_(cols), data_(element_count(rows, cols), fill) {}
  Matrix(std::size_t rows, std::size_t cols, std::vector<double> values)
      : rows_(rows), cols_(cols), data_(std::move(values)) {
    require(data_.size() == element_count(rows, cols), "Matrix", "value count does not match rows*cols");
  }

  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  std::size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }

  double* data() { return data_.data(); }
  const double* data() const { return data_.data(); }
  double& operator()(std::size_t i, std::size_t j) { return data_[i * cols_ + j]; }
  double operator()(std::size_t i, std::size_t j) const { return data_[i * cols_ + j]; }
  std::span<double> row(std::size_t i) { return {data_.data() + i * cols_, cols_}; }
  std::span<const double> row(std::size_t i) const { return {data_.data() + i * cols_, cols_}; }
  std::span<double> flat() { return data_; }
  std::span<const double> flat() const { return data_; }
  const std::vector<double>& values() const { return data_; }

  MatrixView view() const { return {data_.data(), rows_, cols_}; }
  operator MatrixView() const { return view(); }  // NOLINT: views are cheap and safe here

  bool operator==(const Matrix&) const = default;

 private:
  // rows * cols, refusing shapes whose product overflows (it would wrap to a
  // small buffer that element access then overruns).
  static std::size_t element_count(std::size_t rows, std::size_t cols) {
    std::size_t count = 0;
    require(!__builtin_mul_overflow(rows, cols, &count), "Matrix",
            "shape " + std::to_string(rows) + "x" + std::to_string(cols) + " has too many elements");
    return count;
  }

  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  std::vector<double> data_;
};

// Throws InvalidArgument "field: expected RxC, got rxc" on a shape mismatch.
inline void require_shape(MatrixView m, std::size_t rows, std::size_t cols, std::string_view field) {
  if (m.rows != rows || m.cols != cols) {
    throw InvalidArgument(field, "expected shape " + std::to_string(rows) + "x" + std::to_string(cols) + ", got " +
                                     std::to_string(m.rows) + "x" + std::to_string(m.cols));
  }
}

}  // namespace gengap
