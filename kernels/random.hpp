#pragma once
// Counter-based random numbers (Random123 Philox4x64-10). Draw number `index`
// of stream `stream` under `seed` is a pure function of (seed, stream, index):
// results never depend on thread count, tiling or scheduling. Every consumer
// in gengap owns a named stream (below) and addresses its draws by index
// (e.g. row * cols + col), so any subset can be regenerated in any order.
#include <Random123/boxmuller.hpp>
#include <Random123/philox.h>
#include <Random123/uniform.hpp>

#include <cstdint>
#include <span>

namespace gengap {

// Stream ids used by the library. Distinct purposes never share a stream.
namespace streams {
inline constexpr std::uint64_t feature_weights = 1;   // W, U, b of the random features
inline constexpr std::uint64_t embedding = 2;         // Fourier frequencies omega_k
inline constexpr std::uint64_t training_data = 3;     // x_0 ~ p_0 for the training set
inline constexpr std::uint64_t test_data = 4;         // held-out x_0 ~ p_0
inline constexpr std::uint64_t dsm_time = 5;          // t ~ U[t_min, T] of the DSM draws
inline constexpr std::uint64_t dsm_noise = 6;         // eps ~ N(0, I) of the DSM draws
inline constexpr std::uint64_t population_data = 7;   // x_0 ~ p_0 for Monte Carlo population Gram
inline constexpr std::uint64_t minibatch = 8;         // SGD/Adam sample indices
inline constexpr std::uint64_t initial_weights = 9;   // A_0 when drawn at random
inline constexpr std::uint64_t second_draws = 11;     // independent re-draws (Monte Carlo error estimates): t
inline constexpr std::uint64_t population_time = 12;  // t of the Monte Carlo population loss
inline constexpr std::uint64_t population_noise = 13; // eps of the Monte Carlo population loss
inline constexpr std::uint64_t sgd_time = 14;         // fresh t of each SGD/Adam step
inline constexpr std::uint64_t sgd_noise = 15;        // fresh eps of each SGD/Adam step
inline constexpr std::uint64_t second_draws_noise = 16;  // eps of the independent re-draws (with second_draws for t)
inline constexpr std::uint64_t bound_noise = 17;      // z of the diffusion-time bound's score-norm statistic
inline constexpr std::uint64_t data_split = 18;       // the permutation that splits a data set into training and held-out
inline constexpr std::uint64_t heldout_time = 19;     // t of a held-out DSM loss's draws (study digits)
inline constexpr std::uint64_t heldout_noise = 20;    // eps of a held-out DSM loss's draws
}  // namespace streams

class CounterRng {
 public:
  CounterRng(std::uint64_t seed, std::uint64_t stream) : key_{{seed, stream}} {}

  // Uniform on the open interval (0, 1).
  double uniform(std::uint64_t index) const {
    const auto block = generate(index / 4, 0);
    return r123::u01<double>(block.v[index % 4]);
  }
  // Standard normal (Box-Muller on a pair of 64-bit draws).
  double normal(std::uint64_t index) const {
    const auto block = generate(index / 4, 1);
    const unsigned lane = static_cast<unsigned>(index % 4);
    const auto pair = r123::boxmuller(block.v[lane & ~1u], block.v[lane | 1u]);
    return (lane & 1u) ? pair.y : pair.x;
  }
  // Uniform integer in [0, n) (n > 0), by multiply-shift on 64 bits.
  std::uint64_t below(std::uint64_t index, std::uint64_t n) const {
    const auto block = generate(index / 4, 2);
    __extension__ using uint128 = unsigned __int128;  // GCC/Clang builtin; __extension__ keeps -Wpedantic quiet
    return static_cast<std::uint64_t>((static_cast<uint128>(block.v[index % 4]) * n) >> 64);
  }

  // out[k] = uniform(first + k) / normal(first + k).
  void fill_uniform(std::span<double> out, std::uint64_t first = 0) const {
    for (std::size_t k = 0; k < out.size(); ++k) out[k] = uniform(first + k);
  }
  void fill_normal(std::span<double> out, std::uint64_t first = 0) const {
    for (std::size_t k = 0; k < out.size(); ++k) out[k] = normal(first + k);
  }

 private:
  using Philox = r123::Philox4x64;
  Philox::ctr_type generate(std::uint64_t block, std::uint64_t kind) const {
    Philox::ctr_type counter{{block, kind, 0, 0}};
    return Philox{}(counter, key_);
  }
  Philox::key_type key_;
};

}  // namespace gengap
