#pragma once
// `gengap likelihood` (study S7): per-point log-likelihoods log p_{t_min}(x_i)
// of a data file under a saved model (generalization/io/saved_model.hpp) at one
// of its saved training times, by the probability-flow ODE with the exact
// random-feature divergence or Hutchinson's estimator (solvers/likelihood.hpp,
// docs/math.md §9).
//
// Reads  --data X.npy: N x d float64 (or int64), or a vector of N for d = 1.
// Writes --out logp.npy: N float64, NaN where a trajectory failed;
//        <stem>_se.npy (Hutchinson only): the standard error over probes;
//        <stem>.json: options used, model, environment, timings, evaluations,
//        mean log p and bits/dim, failures (written last, like config.json).
// Exit codes: 0 all points succeeded; 2 bad input (one line on stderr naming
// the field, nothing computed or written); 3 written, but some points failed
// (their count on stderr and in the JSON); 1 any other failure.
#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace gengap::cli {

struct LikelihoodCommandOptions {
  std::string model;                       // saved model folder (required)
  std::string data;                        // .npy file (required)
  std::string out;                         // .npy file (required)
  std::optional<long long> tau_index;      // which saved A; empty: the last
  double rtol = 1e-5;
  double atol = 1e-5;
  std::optional<double> t_min;             // empty: the model's t_min
  std::string method = "dopri5";
  double fixed_step = 0.0;
  std::size_t max_steps = 100000;
  std::string divergence = "exact";        // exact | hutchinson
  std::optional<std::size_t> probes;       // Hutchinson: default 1
  std::optional<std::string> probe_distribution;  // Hutchinson: default rademacher
  std::uint64_t seed = 0;                  // Hutchinson probes
  std::size_t threads = 0;                 // 0: all cores
  bool quiet = false;
  std::string command_line;                // recorded in the JSON
};

std::shared_ptr<LikelihoodCommandOptions> add_likelihood_command(CLI::App& app);

// Runs it and returns the exit code (0, or 3 when some points failed).
// Throws InvalidArgument for bad input, other exceptions for failures.
int likelihood(const LikelihoodCommandOptions& options);

}  // namespace gengap::cli
