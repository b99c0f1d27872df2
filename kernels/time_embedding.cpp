#include "gengap/kernels/time_embedding.hpp"

#include <cmath>
#include <numbers>
#include <string>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"

namespace gengap {

EmbeddingKind parse_embedding(std::string_view name) {
  if (name == "fourier") return EmbeddingKind::fourier;
  if (name == "linear") return EmbeddingKind::linear;
  throw InvalidArgument("embedding", "unknown embedding '" + std::string(name) + "' (expected fourier|linear)");
}

std::string_view to_string(EmbeddingKind kind) {
  switch (kind) {
    case EmbeddingKind::fourier: return "fourier";
    case EmbeddingKind::linear: return "linear";
  }
  throw InvalidArgument("embedding", "not a valid EmbeddingKind value");
}

std::size_t TimeEmbedding::dim() const {
  return kind == EmbeddingKind::fourier ? 2 * frequencies.size() : 1;
}

void TimeEmbedding::evaluate(double t, std::span<double> out) const {
  const std::size_t n = dim();
  if (out.size() != n) {
    throw InvalidArgument("out", "expected " + std::to_string(n) + " entries, got " + std::to_string(out.size()));
  }
  if (kind == EmbeddingKind::linear) {
    out[0] = t / horizon;
    return;
  }
  const std::size_t half = frequencies.size();
  for (std::size_t k = 0; k < half; ++k) {
    const double angle = 2.0 * std::numbers::pi * frequencies[k] * t;
    out[k] = std::sin(angle);
    out[half + k] = std::cos(angle);
  }
}

void TimeEmbedding::validate() const {
  switch (kind) {
    case EmbeddingKind::fourier:
      require(!frequencies.empty(), "embedding.frequencies", "fourier embedding needs at least one frequency");
      require_finite(frequencies, "embedding.frequencies");
      return;
    case EmbeddingKind::linear:
      require(std::isfinite(horizon) && horizon > 0.0, "embedding.horizon",
              "must be positive and finite, got " + std::to_string(horizon));
      return;
  }
  throw InvalidArgument("embedding.kind", "not a valid EmbeddingKind value");
}

TimeEmbedding fourier_embedding(std::size_t dim, double scale, std::uint64_t seed) {
  require(dim > 0 && dim % 2 == 0, "embedding.dim", "must be even and positive, got " + std::to_string(dim));
  require(std::isfinite(scale) && scale > 0.0, "embedding.scale",
          "must be positive and finite, got " + std::to_string(scale));
  TimeEmbedding embedding;
  embedding.kind = EmbeddingKind::fourier;
  embedding.frequencies.resize(dim / 2);
  const CounterRng rng(seed, streams::embedding);
  for (std::size_t k = 0; k < embedding.frequencies.size(); ++k) embedding.frequencies[k] = scale * rng.normal(k);
  return embedding;
}

TimeEmbedding linear_embedding(double horizon) {
  TimeEmbedding embedding;
  embedding.kind = EmbeddingKind::linear;
  embedding.horizon = horizon;
  embedding.validate();
  return embedding;
}

}  // namespace gengap
