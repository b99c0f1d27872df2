#pragma once
// The UCI optical-recognition handwritten digits (1797 images of 8 x 8
// pixels, d = 64, grey levels 0..16; Alpaydin & Kaynak 1998) read from the
// file Debian's python3-sklearn ships, so no download is needed:
//   /usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
// one image per line, 64 comma-separated pixel values row by row, then the
// label 0..9 (gzip; an uncompressed copy reads the same). scripts/bootstrap.sh
// installs the package.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "gengap/kernels/matrix.hpp"

namespace gengap {

inline constexpr const char* debian_digits_file = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
inline constexpr std::size_t digits_pixels = 64;  // 8 x 8, row by row
inline constexpr double digits_max_level = 16.0;

struct Digits {
  Matrix images;               // images x 64, grey levels 0..16 as read
  std::vector<int> labels;     // 0..9, one per image
  std::size_t count() const { return labels.size(); }
};

// InvalidArgument("digits", ...) naming the file and, for bad content, the
// line: missing or unreadable file (with the Debian package to install), a
// line without 65 fields, a value that is not an integer, a grey level
// outside 0..16, a label outside 0..9, no images at all.
Digits read_digits(const std::filesystem::path& file = debian_digits_file);

// Grey levels mapped affinely from [0, 16] to [lower, upper] (the diffusion's
// data range; the study's default [-1, 1]): images x 64.
Matrix scaled_digits(const Digits& digits, double lower, double upper);

// Training and held-out images: a permutation of all `count` images drawn
// under `seed` (streams::data_split, Fisher-Yates), its last `held_out`
// entries the held-out set, the training set of size n its first n entries
// (nested: a smaller n's set is part of a larger one's, so settings of a
// sweep over n differ in n alone). InvalidArgument: held_out of 0 or
// >= count ("held_out"), n of 0 or beyond count - held_out ("n").
struct DigitsSplit {
  std::vector<std::size_t> order;  // the permutation of 0..count-1
  std::size_t held_out = 0;

  std::size_t training_available() const { return order.size() - held_out; }
  // Rows order[0..n) of `images`, in that order.
  Matrix training(MatrixView images, std::size_t n) const;
  // Rows order[count - held_out .. count).
  Matrix test(MatrixView images) const;
};
DigitsSplit split_digits(std::size_t count, std::size_t held_out, std::uint64_t seed);

}  // namespace gengap
