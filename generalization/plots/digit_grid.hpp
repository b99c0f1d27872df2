#pragma once
// Handwritten digits as a picture: a grey-level PNG of 8 x 8 images side by
// side in pairs (e.g. a sample from a model and its nearest training digit),
// `pairs_per_row` pairs per row, each pixel drawn as a `scale` x `scale`
// block, ink dark on white (the grey level `upper` is black, `lower` white,
// values outside clamped), 1 white block between the two images of a pair
// and 2 between pairs. Written by gengap itself (zlib's deflate and CRC-32, no
// gnuplot), atomically (atomic_file.hpp).
#include <cstddef>
#include <filesystem>

#include "gengap/kernels/matrix.hpp"

namespace gengap {

struct DigitGridOptions {
  double lower = -1.0;  // the data range of the images (the study's scaling)
  double upper = 1.0;
  std::size_t pairs_per_row = 8;
  std::size_t scale = 4;
};

// left and right: pairs x 64 (row by row 8 x 8), the same number of rows >= 1.
// InvalidArgument naming the field: left / right (shape), options
// (lower < upper finite, pairs_per_row and scale >= 1).
void write_digit_pairs_png(const std::filesystem::path& file, MatrixView left, MatrixView right,
                           const DigitGridOptions& options = {});

}  // namespace gengap
