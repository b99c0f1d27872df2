#include "gengap/kernels/enum_names.hpp"
#include "gengap/kernels/time_embedding.hpp"

#include <cmath>
#include <numbers>
#include <string>

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/random.hpp"

namespace gengap {

constexpr EnumName<EmbeddingKind> embedding_names[] = {{EmbeddingKind::fourier, "fourier"},
                                                        {EmbeddingKind::sinusoidal, "sinusoidal"},
                                                        {EmbeddingKind::linear, "linear"},
                                                        {EmbeddingKind::polynomial, "polynomial"}};

EmbeddingKind parse_embedding(std::string_view name) {
  return parse_enum_name(name, embedding_names, "embedding", "embedding");
}

std::string_view to_string(EmbeddingKind kind) { return enum_name(kind, embedding_names, "embedding", "EmbeddingKind"); }

std::size_t TimeEmbedding::dim() const {
  switch (kind) {
    case EmbeddingKind::fourier:
    case EmbeddingKind::sinusoidal: return 2 * frequencies.size();
    case EmbeddingKind::linear: return 1;
    case EmbeddingKind::polynomial: return degree;
  }
  return 0;
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
  if (kind == EmbeddingKind::polynomial) {
    const double s = t / horizon;
    double power = 1.0;
    for (std::size_t k = 0; k < degree; ++k) out[k] = power *= s;
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
    case EmbeddingKind::sinusoidal:
      require(!frequencies.empty(), "embedding.frequencies", std::string(to_string(kind)) + " embedding needs at least one frequency");
      require_finite(frequencies, "embedding.frequencies");
      return;
    case EmbeddingKind::polynomial:
      require(degree > 0, "embedding.degree", "must be positive, got 0");
      [[fallthrough]];
    case EmbeddingKind::linear:
      require(std::isfinite(horizon) && horizon > 0.0, "embedding.horizon",
              "must be positive and finite, got " + std::to_string(horizon));
      return;
  }
  throw InvalidArgument("embedding.kind", "not a valid EmbeddingKind value");
}

namespace {

// A sin/cos embedding of `dim` entries (even, > 0) with dim / 2 frequencies to fill.
TimeEmbedding trigonometric(EmbeddingKind kind, std::size_t dim, double positive, const char* positive_field) {
  require(dim > 0 && dim % 2 == 0, "embedding.dim", "must be even and positive, got " + std::to_string(dim));
  require(std::isfinite(positive) && positive > 0.0, positive_field,
          "must be positive and finite, got " + std::to_string(positive));
  TimeEmbedding embedding;
  embedding.kind = kind;
  embedding.frequencies.resize(dim / 2);
  return embedding;
}

}  // namespace

TimeEmbedding fourier_embedding(std::size_t dim, double scale, std::uint64_t seed) {
  TimeEmbedding embedding = trigonometric(EmbeddingKind::fourier, dim, scale, "embedding.scale");
  const CounterRng rng(seed, streams::embedding);
  for (std::size_t k = 0; k < embedding.frequencies.size(); ++k) embedding.frequencies[k] = scale * rng.normal(k);
  return embedding;
}

TimeEmbedding sinusoidal_embedding(std::size_t dim, double horizon) {
  TimeEmbedding embedding = trigonometric(EmbeddingKind::sinusoidal, dim, horizon, "embedding.horizon");
  for (std::size_t k = 0; k < embedding.frequencies.size(); ++k)
    embedding.frequencies[k] = static_cast<double>(k + 1) / (2.0 * horizon);
  return embedding;
}

TimeEmbedding linear_embedding(double horizon) {
  TimeEmbedding embedding;
  embedding.kind = EmbeddingKind::linear;
  embedding.horizon = horizon;
  embedding.validate();
  return embedding;
}

TimeEmbedding polynomial_embedding(std::size_t degree, double horizon) {
  TimeEmbedding embedding;
  embedding.kind = EmbeddingKind::polynomial;
  embedding.degree = degree;
  embedding.horizon = horizon;
  embedding.validate();
  return embedding;
}

}  // namespace gengap
