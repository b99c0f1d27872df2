#include "numpy_io.hpp"

#include <cmath>
#include <memory>
#include <string>

namespace gengap::python {
namespace {

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t k = 0; k < a.ndim(); ++k) s += (k ? ", " : "") + std::to_string(a.shape(k));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

[[noreturn]] void value_error(const char* name, const std::string& problem) {
  throw py::value_error(std::string(name) + ": " + problem);
}

}  // namespace

ArrayView as_array(const py::handle& object, const char* name, int ndim, bool allow_non_finite) {
  if (object.is_none()) throw py::type_error(std::string(name) + ": expected an array of real numbers, got None");
  py::array any;
  try {
    any = py::array::ensure(object);
  } catch (const py::error_already_set&) {
  }
  if (!any) throw py::type_error(std::string(name) + ": expected an array of real numbers");
  const char kind = any.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
    throw py::type_error(std::string(name) + ": expected real numbers, got dtype " +
                         py::str(any.dtype()).cast<std::string>());
  }
  if (any.ndim() != ndim) {
    value_error(name, "expected a " + std::to_string(ndim) + "-D array, got shape " + shape_of(any));
  }
  // No copy for a C-contiguous float64 array; one conversion otherwise.
  DoubleArray array = DoubleArray::ensure(any);
  if (!array) throw py::type_error(std::string(name) + ": cannot convert to float64");
  if (!allow_non_finite) {
    const double* p = array.data();
    for (py::ssize_t i = 0; i < array.size(); ++i) {
      if (!std::isfinite(p[i])) {
        value_error(name, "non-finite value (" + std::to_string(p[i]) + ") at flat index " + std::to_string(i));
      }
    }
  }
  return {std::move(array)};
}

MatrixArg as_matrix(const py::handle& object, const char* name, std::size_t cols, bool one_d_is_column) {
  py::array probe;
  try {
    probe = py::array::ensure(object);
  } catch (const py::error_already_set&) {
  }
  const bool column = one_d_is_column && probe && probe.ndim() == 1 && (cols == 0 || cols == 1);
  ArrayView view = as_array(object, name, column ? 1 : 2);
  MatrixArg m{std::move(view)};
  m.rows = static_cast<std::size_t>(m.view.array.shape(0));
  m.cols = column ? 1 : static_cast<std::size_t>(m.view.array.shape(1));
  if (m.rows == 0) value_error(name, "expected at least one row, got shape " + shape_of(m.view.array));
  if (cols != 0 && m.cols != cols) {
    value_error(name, "expected " + std::to_string(cols) + " columns, got shape " + shape_of(m.view.array));
  }
  if (m.cols == 0) value_error(name, "expected at least one column, got shape " + shape_of(m.view.array));
  return m;
}

std::vector<double> as_vector(const py::handle& object, const char* name, std::size_t expected) {
  const ArrayView view = as_array(object, name, 1);
  if (expected != 0 && view.size() != expected) {
    value_error(name, "expected " + std::to_string(expected) + " entries, got " + std::to_string(view.size()));
  }
  if (view.size() == 0) value_error(name, "expected at least one entry");
  return {view.data(), view.data() + view.size()};
}

std::vector<double> as_times(const py::handle& object, const char* name, std::size_t n) {
  if (py::isinstance<py::float_>(object) || py::isinstance<py::int_>(object)) {
    const double t = object.cast<double>();
    if (!std::isfinite(t)) value_error(name, "non-finite time " + std::to_string(t));
    return std::vector<double>(n, t);
  }
  return as_vector(object, name, n);
}

Matrix as_optional_matrix(const py::handle& object, const char* name, std::size_t rows, std::size_t cols) {
  if (object.is_none()) return {};
  const MatrixArg m = as_matrix(object, name, cols, false);
  if (m.rows != rows) {
    value_error(name, "expected shape (" + std::to_string(rows) + ", " + std::to_string(cols) + "), got (" +
                          std::to_string(m.rows) + ", " + std::to_string(m.cols) + ")");
  }
  return m.copy();
}

py::array_t<double> to_numpy(Matrix&& m) {
  const auto rows = static_cast<py::ssize_t>(m.rows()), cols = static_cast<py::ssize_t>(m.cols());
  auto* owner = new Matrix(std::move(m));
  py::capsule free_when_done(owner, [](void* p) { delete static_cast<Matrix*>(p); });
  return py::array_t<double>({rows, cols}, {cols * static_cast<py::ssize_t>(sizeof(double)),
                                            static_cast<py::ssize_t>(sizeof(double))},
                             owner->data(), free_when_done);
}

py::array_t<double> to_numpy(const Matrix& m) { return to_numpy(Matrix(m)); }

py::array_t<double> to_numpy(std::vector<double>&& v) {
  const auto n = static_cast<py::ssize_t>(v.size());
  auto* owner = new std::vector<double>(std::move(v));
  py::capsule free_when_done(owner, [](void* p) { delete static_cast<std::vector<double>*>(p); });
  return py::array_t<double>({n}, {static_cast<py::ssize_t>(sizeof(double))}, owner->data(), free_when_done);
}

py::array_t<double> to_numpy(std::span<const double> v) { return to_numpy(std::vector<double>(v.begin(), v.end())); }

py::array_t<double> stack(const std::vector<Matrix>& matrices) {
  const std::size_t k = matrices.size();
  const std::size_t rows = k ? matrices[0].rows() : 0, cols = k ? matrices[0].cols() : 0;
  py::array_t<double> out({static_cast<py::ssize_t>(k), static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  double* p = out.mutable_data();
  for (const Matrix& m : matrices) {
    std::copy(m.flat().begin(), m.flat().end(), p);
    p += rows * cols;
  }
  return out;
}

py::object json_to_python(const std::string& text) { return py::module_::import("json").attr("loads")(text); }

std::string python_to_json(const py::handle& object, const char* name) {
  try {
    // allow_nan=False: the library's configs never hold NaN or Inf.
    return py::module_::import("json").attr("dumps")(object, py::arg("allow_nan") = false).cast<std::string>();
  } catch (const py::error_already_set& e) {
    throw py::type_error(std::string(name) + ": not expressible as JSON (" + e.what() + ")");
  }
}

}  // namespace gengap::python
