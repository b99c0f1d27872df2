#pragma once
// Bounded time embeddings e(t) (docs/math.md §3):
//   fourier:    e(t) = [sin(2 pi omega_k t)]_{k} followed by [cos(2 pi omega_k t)]_{k},
//               omega_k ~ N(0, scale^2) frozen; dim = 2 * frequencies.size()
//   sinusoidal: the same form with fixed O(1) frequencies omega_k = k / (2 T),
//               k = 1 .. dim/2: k half periods over [0, T] (a deterministic,
//               low-frequency basis; frozen random features can combine it into
//               a smooth time dependence, which frequencies of scale 30 cannot)
//   linear:     e(t) = t / horizon; dim = 1
//   polynomial: e(t) = [(t / horizon)^k]_{k = 1 .. degree}; dim = degree
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace gengap {

enum class EmbeddingKind { fourier, sinusoidal, linear, polynomial };

// "fourier" | "sinusoidal" | "linear" | "polynomial"; else InvalidArgument("embedding", ...).
EmbeddingKind parse_embedding(std::string_view name);
std::string_view to_string(EmbeddingKind kind);

struct TimeEmbedding {
  EmbeddingKind kind = EmbeddingKind::fourier;
  std::vector<double> frequencies;  // omega_k (fourier, sinusoidal)
  double horizon = 1.0;             // T (linear, polynomial)
  std::size_t degree = 1;           // polynomial only

  // sin/cos pairs of `frequencies` (fourier and sinusoidal).
  bool is_trigonometric() const { return kind == EmbeddingKind::fourier || kind == EmbeddingKind::sinusoidal; }
  std::size_t dim() const;
  // out.size() must equal dim().
  void evaluate(double t, std::span<double> out) const;
  // Throws InvalidArgument naming the field: empty or non-finite frequencies,
  // horizon <= 0, degree 0.
  void validate() const;
};

// dim even and > 0, scale > 0; frequencies drawn from streams::embedding under `seed`.
TimeEmbedding fourier_embedding(std::size_t dim, double scale, std::uint64_t seed);
// dim even and > 0, horizon > 0: omega_k = k / (2 horizon), k = 1 .. dim/2.
TimeEmbedding sinusoidal_embedding(std::size_t dim, double horizon);
TimeEmbedding linear_embedding(double horizon);
// degree > 0, horizon > 0.
TimeEmbedding polynomial_embedding(std::size_t degree, double horizon);

}  // namespace gengap
