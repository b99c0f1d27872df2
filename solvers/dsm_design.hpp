#pragma once
// Design points of the denoising score-matching loss (docs/math.md §4, §5).
// The loss is an expectation over z = (x_0, t, eps); each design point carries
//   x       the network input x_t = mu_t x_0 + sigma_t eps          (d)
//   t       the time                                                 (1)
//   y       the regression target y(z) = -eps / (sigma_t c(t))       (d)
//   weight  q(z) * w(z), w = lambda(t) c(t)^2, q the point's probability
//           mass (1/(nK) for Monte Carlo, a product of quadrature weights)
//   loss0   q(z) * L_0, the point's share of the A-independent constant
//           L_0 = 1/2 E[w |y|^2] = d/2 E_t[lambda/sigma_t^2]
//           (DsmSetup::loss_constant), integrated exactly rather than
//           estimated, so it adds no noise to losses or gaps
// so that  L(A) = sum_z weight_z/2 || A phi(x_z, t_z)/m - y_z ||^2 up to that
// constant, and
//   G = sum weight phi phi^T,  C = sum weight phi y^T,  L_0 = sum loss0.
// Sources enumerate their points by a global index so any tile can be filled
// independently (counter-based randomness) and in parallel.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "gengap/kernels/gaussian_mixture.hpp"
#include "gengap/kernels/matrix.hpp"
#include "gengap/kernels/random.hpp"
#include "gengap/solvers/schedule.hpp"

namespace gengap {

struct DesignTile {
  Matrix x;                    // rows x d
  std::vector<double> t;       // rows
  Matrix y;                    // rows x d
  std::vector<double> weight;  // rows
  std::vector<double> loss0;   // rows
  // Reshapes to `rows` points in dimension d (reuses capacity: no allocation
  // in steady state).
  void resize(std::size_t rows, std::size_t d);
  std::size_t rows() const { return t.size(); }
};

class DesignPoints {
 public:
  virtual ~DesignPoints() = default;
  virtual std::size_t size() const = 0;  // number of design points
  virtual std::size_t dim() const = 0;   // d
  // Fills points [begin, end) into `tile` (resized to end - begin rows).
  // Must be a pure function of the indices (thread-safe, deterministic).
  virtual void fill(std::size_t begin, std::size_t end, DesignTile& tile) const = 0;
};

// Empirical loss L_{n,K}: training set X (n x d), K draws (t, eps) per sample,
// t ~ U[t_min, T] (streams::dsm_time), eps ~ N(0, I) (streams::dsm_noise).
// Point p = i K + k. q = 1/(n K). The data is copied.
std::unique_ptr<DesignPoints> empirical_monte_carlo(MatrixView data, std::size_t draws_per_sample,
                                                    const DsmSetup& setup, std::uint64_t seed,
                                                    std::uint64_t time_stream = streams::dsm_time,
                                                    std::uint64_t noise_stream = streams::dsm_noise);

// Empirical loss L_n with quadrature: Gauss-Legendre in t (time_nodes on
// [t_min, T], divided by T - t_min) x tensor Gauss-Hermite in eps
// (noise_nodes per coordinate; noise_nodes^d points per (sample, time)).
std::unique_ptr<DesignPoints> empirical_quadrature(MatrixView data, std::size_t time_nodes, std::size_t noise_nodes,
                                                   const DsmSetup& setup);

// Population loss L of a Gaussian-mixture target by quadrature (d <= 2):
// Gauss-Legendre in t, and for x_t ~ p_t per component a tensor Gauss-Hermite
// rule with space_nodes per coordinate. Uses Tweedie's identity
// E[y | x_t] = grad log p_t(x_t) / c(t) for y (exact score of the diffused
// mixture), and loss0 = q L_0 as for every source.
std::unique_ptr<DesignPoints> population_quadrature(const GaussianMixture& target, std::size_t time_nodes,
                                                    std::size_t space_nodes, const DsmSetup& setup);

// Population loss L by Monte Carlo: N draws (x_0 ~ p_0, t, eps), q = 1/N, from
// streams::population_data / population_time / population_noise.
std::unique_ptr<DesignPoints> population_monte_carlo(const GaussianMixture& target, std::size_t samples,
                                                     const DsmSetup& setup, std::uint64_t seed);

}  // namespace gengap
