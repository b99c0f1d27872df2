#pragma once
// Bounded time embeddings e(t) (MATH.md §3):
//   fourier: e(t) = [sin(2 pi omega_k t)]_{k} followed by [cos(2 pi omega_k t)]_{k},
//            omega_k ~ N(0, scale^2) frozen; dim = 2 * frequencies.size()
//   linear:  e(t) = t / horizon; dim = 1
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace gengap {

enum class EmbeddingKind { fourier, linear };

// "fourier" | "linear"; else InvalidArgument("embedding", ...).
EmbeddingKind parse_embedding(std::string_view name);
std::string_view to_string(EmbeddingKind kind);

struct TimeEmbedding {
  EmbeddingKind kind = EmbeddingKind::fourier;
  std::vector<double> frequencies;  // omega_k (fourier only)
  double horizon = 1.0;             // T (linear only)

  std::size_t dim() const;
  // out.size() must equal dim().
  void evaluate(double t, std::span<double> out) const;
  // Throws InvalidArgument naming the field: empty fourier frequencies, non-finite
  // frequency, horizon <= 0.
  void validate() const;
};

// dim even and > 0, scale > 0; frequencies drawn from streams::embedding under `seed`.
TimeEmbedding fourier_embedding(std::size_t dim, double scale, std::uint64_t seed);
TimeEmbedding linear_embedding(double horizon);

}  // namespace gengap
