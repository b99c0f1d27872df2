#pragma once
// NumPy arrays in and out of the library's types.
//
// In: an argument is accepted as any array-like of real numbers (float64,
// other floats, integers, bools) and viewed without a copy when it is already
// a C-contiguous float64 array; otherwise it is converted once. A complex,
// object or string array is a TypeError naming the argument; a wrong number
// of dimensions or a wrong extent is a ValueError naming it; so are NaN and
// Inf (the library would reject them too, but with the C++ field name).
// Out: a Matrix or vector is moved into a NumPy array that owns it (no copy).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gengap/kernels/matrix.hpp"

namespace gengap::python {

namespace py = pybind11;
using DoubleArray = py::array_t<double, py::array::c_style>;

// A C-contiguous float64 view of `object` (which it keeps alive).
struct ArrayView {
  DoubleArray array;
  const double* data() const { return array.data(); }
  std::size_t size() const { return static_cast<std::size_t>(array.size()); }
  std::span<const double> flat() const { return {data(), size()}; }
};

// ndim = 1 or 2 as asked; finite unless allow_non_finite.
ArrayView as_array(const py::handle& object, const char* name, int ndim, bool allow_non_finite = false);

// A 2-D array (rows x cols); cols = 0 accepts any width. A 1-D array is taken
// as one column when one_d_is_column (points in d = 1 given as a flat array).
struct MatrixArg {
  ArrayView view;
  std::size_t rows = 0, cols = 0;
  MatrixView matrix() const { return {view.data(), rows, cols}; }
  Matrix copy() const { return Matrix(rows, cols, std::vector<double>(view.data(), view.data() + rows * cols)); }
};
MatrixArg as_matrix(const py::handle& object, const char* name, std::size_t cols = 0, bool one_d_is_column = true);

// A 1-D array of `expected` entries (0: any length >= 1).
std::vector<double> as_vector(const py::handle& object, const char* name, std::size_t expected = 0);

// Times for n rows: a scalar (the same time for every row) or n entries.
std::vector<double> as_times(const py::handle& object, const char* name, std::size_t n);

// Optional 2-D array (None: empty Matrix) of the given shape.
Matrix as_optional_matrix(const py::handle& object, const char* name, std::size_t rows, std::size_t cols);

py::array_t<double> to_numpy(Matrix&& m);
py::array_t<double> to_numpy(const Matrix& m);
py::array_t<double> to_numpy(std::vector<double>&& v);
py::array_t<double> to_numpy(std::span<const double> v);
// k matrices of one shape as a k x rows x cols array (k = 0: shape (0, 0, 0)).
py::array_t<double> stack(const std::vector<Matrix>& matrices);
template <class T>
py::array_t<T> to_numpy_as(const std::vector<std::size_t>& v) {
  py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
  auto* p = out.mutable_data();
  for (std::size_t i = 0; i < v.size(); ++i) p[i] = static_cast<T>(v[i]);
  return out;
}

// A nlohmann JSON text turned into Python objects by the json module (dicts,
// lists, numbers, strings), and back: configs in, summaries out.
py::object json_to_python(const std::string& text);
std::string python_to_json(const py::handle& object, const char* name);

}  // namespace gengap::python
