#pragma once
// A trained random-feature score model on disk, readable from NumPy alone:
// a folder with model.json (activation, embedding, output scale c(t),
// schedule, t_min, T, weighting, the formula) and .npy arrays
//   W.npy (m x d), U.npy (m x d_e), b.npy (m), frequencies.npy (d_e/2, fourier only),
//   A.npy (k x d x m: A at k training times), tau.npy (k)
// so that  s_A(x, t) = c(t)/m * A act(W x + U e(t) + b)  (docs/math.md §3) can be
// evaluated without gengap.
#include <filesystem>
#include <vector>

#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random_features.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

struct SavedModel {
  RandomFeatures features;
  DsmSetup setup;              // schedule (with t_min, T), weighting, output scale
  std::vector<double> tau;     // training times of the saved weights
  std::vector<Matrix> weights; // A at each tau, d x m
};

// Writes model.json and the arrays into `dir` (created if missing), each file
// atomically; model.json last, so a complete model.json means complete arrays.
void save_model(const std::filesystem::path& dir, const SavedModel& model);
// Reads a folder written by save_model; InvalidArgument naming the file or
// model.json key on any inconsistency.
SavedModel load_model(const std::filesystem::path& dir);

}  // namespace gengap
