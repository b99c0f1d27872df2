#include "score_argument.hpp"

#include <pybind11/numpy.h>

#include <algorithm>
#include <memory>

#include "numpy_io.hpp"

namespace gengap::python {
namespace {

// Destroys the Python object under the GIL: the std::function holding it is
// copied into and destroyed on worker threads that do not hold the GIL.
std::shared_ptr<py::object> shared_callable(const py::object& callable) {
  return std::shared_ptr<py::object>(new py::object(callable), [](py::object* p) {
    py::gil_scoped_acquire gil;
    delete p;
  });
}

void copy_result(const py::handle& result, const char* what, std::size_t rows, std::size_t cols,
                 std::span<double> out) {
  const ArrayView view = as_array(result, what, cols == 0 ? 1 : 2, /*allow_non_finite=*/true);
  const auto& a = view.array;
  const bool shape_ok = cols == 0 ? static_cast<std::size_t>(a.shape(0)) == rows
                                  : static_cast<std::size_t>(a.shape(0)) == rows &&
                                        static_cast<std::size_t>(a.shape(1)) == cols;
  if (!shape_ok) {
    throw py::value_error(std::string(what) + ": expected shape (" + std::to_string(rows) +
                          (cols == 0 ? ",)" : ", " + std::to_string(cols) + ")") + ", got " +
                          py::str(a.attr("shape")).cast<std::string>());
  }
  std::copy(view.data(), view.data() + out.size(), out.begin());
}

}  // namespace

ScoreDivergenceField python_score_field(const py::object& callable, std::size_t d, bool with_divergence) {
  auto fn = shared_callable(callable);
  return [fn, d, with_divergence](std::span<const double> t, MatrixView x, std::span<double> score,
                                  std::span<double> divergence) {
    py::gil_scoped_acquire gil;
    const std::size_t n = x.rows;
    // Copies: the callable may keep its arguments, and the solvers' buffers
    // are reused after the call.
    py::array_t<double> xa({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(d)});
    std::copy(x.data, x.data + n * d, xa.mutable_data());
    py::array_t<double> ta(static_cast<py::ssize_t>(n));
    std::copy(t.begin(), t.end(), ta.mutable_data());
    const py::object result = (*fn)(xa, ta);
    if (with_divergence) {
      if (!py::isinstance<py::tuple>(result) || py::len(result) != 2) {
        throw py::type_error("score: with divergence=\"exact\" the callable must return (score, divergence)");
      }
      const py::tuple pair = result;
      copy_result(pair[0], "score (returned by the callable)", n, d, score);
      if (!divergence.empty()) copy_result(pair[1], "divergence (returned by the callable)", n, 0, divergence);
    } else {
      copy_result(result, "score (returned by the callable)", n, d, score);
      std::fill(divergence.begin(), divergence.end(), 0.0);
    }
  };
}

ScoreArgument as_score(const py::handle& object, std::size_t d, bool with_divergence, const char* name) {
  ScoreArgument arg;
  if (py::isinstance<ScoreModel>(object)) {
    const auto& model = object.cast<const ScoreModel&>();
    if (model.dim != d) {
      throw py::value_error(std::string(name) + ": the score model is " + std::to_string(model.dim) +
                            "-dimensional, the call is " + std::to_string(d) + "-dimensional");
    }
    arg.exact = model.field;
    arg.score = score_only(model.field);
    return arg;
  }
  if (!PyCallable_Check(object.ptr())) {
    throw py::type_error(std::string(name) + ": expected a gengap.ScoreModel or a callable f(x, t)");
  }
  const py::object callable = py::reinterpret_borrow<py::object>(object);
  arg.from_python = true;
  if (with_divergence) {
    arg.exact = python_score_field(callable, d, true);
    arg.score = score_only(arg.exact);
  } else {
    const ScoreDivergenceField field = python_score_field(callable, d, false);
    arg.score = [field](std::span<const double> t, MatrixView x, std::span<double> score) {
      field(t, x, score, {});
    };
  }
  return arg;
}

}  // namespace gengap::python
