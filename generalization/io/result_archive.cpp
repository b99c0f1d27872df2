#include "gengap/generalization/io/result_archive.hpp"

#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/kernels/binary_archive.hpp"

namespace gengap {
namespace {

constexpr std::string_view magic = "gengap-s1-result";

#if defined(__x86_64__) && defined(__GLIBCXX__)
// A field added to the result must be added here too (and `format` bumped):
// these sizes, measured on x86-64 with libstdc++, change when one is.
static_assert(sizeof(KlRow) == 96 && sizeof(BoundRow) == 88 && sizeof(DensitySnapshot) == 88 &&
                  sizeof(DensityShape) == 32 && sizeof(BoundTerms) == 56,
              "a row type changed: update result_archive.cpp");
static_assert(sizeof(EarlyStoppingSummary) == 432, "EarlyStoppingSummary changed: update result_archive.cpp");
static_assert(sizeof(RandomFeatures) == 160 && sizeof(TimeEmbedding) == 48,
              "RandomFeatures changed: update result_archive.cpp");
static_assert(sizeof(EarlyStoppingResult) == 1656, "EarlyStoppingResult changed: update result_archive.cpp");
#endif
// Bumped whenever a field is added to, removed from or moved in the result.
constexpr std::uint32_t format = 1;

void put_matrices(ByteWriter& w, const std::vector<Matrix>& v) {
  w.put(static_cast<std::uint64_t>(v.size()));
  for (const Matrix& m : v) w.put(m);
}
std::vector<Matrix> get_matrices(ByteReader& r, std::string_view what) {
  const auto count = r.get<std::uint64_t>(what);
  std::vector<Matrix> v;
  for (std::uint64_t k = 0; k < count; ++k) v.push_back(r.get_matrix(what));
  return v;
}

void put_features(ByteWriter& w, const RandomFeatures& f) {
  w.put(f.W);
  w.put(f.U);
  w.put(f.b);
  w.put(static_cast<std::int32_t>(f.embedding.kind));
  w.put(f.embedding.frequencies);
  w.put(f.embedding.horizon);
  w.put(static_cast<std::uint64_t>(f.embedding.degree));
  w.put(static_cast<std::int32_t>(f.activation));
}
RandomFeatures get_features(ByteReader& r) {
  RandomFeatures f;
  f.W = r.get_matrix("features.W");
  f.U = r.get_matrix("features.U");
  f.b = r.get_vector<double>("features.b");
  f.embedding.kind = static_cast<EmbeddingKind>(r.get<std::int32_t>("features.embedding.kind"));
  f.embedding.frequencies = r.get_vector<double>("features.embedding.frequencies");
  f.embedding.horizon = r.get<double>("features.embedding.horizon");
  f.embedding.degree = r.get<std::uint64_t>("features.embedding.degree");
  f.activation = static_cast<Activation>(r.get<std::int32_t>("features.activation"));
  return f;
}

void put_kl_row(ByteWriter& w, const KlRow& k) {
  w.put(k.evaluated);
  for (double v : {k.ode, k.ode_se, k.quad, k.quad_error, k.mass}) w.put(v);
  w.put(static_cast<std::uint32_t>(k.flags));
  w.put(k.ode_evaluations);
  w.put(k.quad_evaluations);
  w.put(static_cast<std::uint64_t>(k.ode_failed));
  w.put(static_cast<std::uint64_t>(k.quad_nodes));
  w.put(k.score_integral);
}
KlRow get_kl_row(ByteReader& r) {
  KlRow k;
  k.evaluated = r.get_bool("kl.evaluated");
  for (double* v : {&k.ode, &k.ode_se, &k.quad, &k.quad_error, &k.mass}) *v = r.get<double>("kl");
  k.flags = r.get<std::uint32_t>("kl.flags");
  k.ode_evaluations = r.get<double>("kl.ode_evaluations");
  k.quad_evaluations = r.get<double>("kl.quad_evaluations");
  k.ode_failed = r.get<std::uint64_t>("kl.ode_failed");
  k.quad_nodes = r.get<std::uint64_t>("kl.quad_nodes");
  k.score_integral = r.get<double>("kl.score_integral");
  return k;
}

void put_density(ByteWriter& w, const DensitySnapshot& s) {
  w.put(static_cast<std::uint64_t>(s.index));
  w.put(s.tau);
  w.put(s.x);
  w.put(s.p0);
  w.put(s.p_theta);
}
DensitySnapshot get_density(ByteReader& r) {
  DensitySnapshot s;
  s.index = r.get<std::uint64_t>("density.index");
  s.tau = r.get<double>("density.tau");
  s.x = r.get_vector<double>("density.x");
  s.p0 = r.get_vector<double>("density.p0");
  s.p_theta = r.get_vector<double>("density.p_theta");
  return s;
}

void put_bound_row(ByteWriter& w, const BoundRow& b) {
  for (double v : {b.score_matching, b.likelihood_bound, b.optimization_error, b.optimization_bound,
                   b.loss_train_second, b.monte_carlo_error, b.rademacher, b.theorem_tau4_mn, b.theorem_tau3_m2,
                   b.theorem_inv_tau, b.theorem_inv_m}) {
    w.put(v);
  }
}
BoundRow get_bound_row(ByteReader& r) {
  BoundRow b;
  for (double* v : {&b.score_matching, &b.likelihood_bound, &b.optimization_error, &b.optimization_bound,
                    &b.loss_train_second, &b.monte_carlo_error, &b.rademacher, &b.theorem_tau4_mn, &b.theorem_tau3_m2,
                    &b.theorem_inv_tau, &b.theorem_inv_m}) {
    *v = r.get<double>("bounds.rows");
  }
  return b;
}

void put_shape(ByteWriter& w, const std::optional<DensityShape>& s) {
  w.put(s.has_value());
  if (!s) return;
  w.put(s->left_mass);
  w.put(s->valley_ratio);
  w.put(static_cast<std::uint64_t>(s->peaks));
  w.put(s->peak_ratio);
}
std::optional<DensityShape> get_shape(ByteReader& r) {
  if (!r.get_bool("summary.shape")) return std::nullopt;
  DensityShape s;
  s.left_mass = r.get<double>("summary.shape.left_mass");
  s.valley_ratio = r.get<double>("summary.shape.valley_ratio");
  s.peaks = r.get<std::uint64_t>("summary.shape.peaks");
  s.peak_ratio = r.get<double>("summary.shape.peak_ratio");
  return s;
}

// The summary's numbers, sizes and flags, each list in declaration order.
struct SummaryFields {
  std::vector<double*> numbers;
  std::vector<std::size_t*> sizes;
  std::vector<bool*> flags;
};
template <class Summary>
SummaryFields summary_fields(Summary& s) {
  return {{&s.tau_best, &s.loss_pop_best, &s.loss_train_best, &s.gap_best, &s.tau_last, &s.loss_train_last,
           &s.loss_pop_last, &s.gap_last, &s.norm_growth_last, &s.lambda_max, &s.lambda_min_kept,
           &s.timescale_min, &s.timescale_max, &s.tau_kl_best, &s.kl_best, &s.kl_best_error,
           &s.tau_kl_first_minimum, &s.kl_first_minimum, &s.kl_last, &s.loss_pop_kl_best, &s.loss_train_kl_best,
           &s.gap_kl_best, &s.kl_floor, &s.kl_t_min, &s.prior_kl, &s.score_matching_kl_best,
           &s.likelihood_bound_kl_best, &s.distance_to_minimizer, &s.monte_carlo_error_max, &s.rademacher_last},
          {&s.best_index, &s.eigen_kept, &s.kl_best_index, &s.kl_first_minimum_index, &s.kl_evaluated, &s.kl_flagged,
           &s.optimization_bound_violations},
          {&s.kl_available, &s.kl_interior_minimum, &s.bounds_available}};
}

void put_summary(ByteWriter& w, EarlyStoppingSummary s) {  // a copy: summary_fields wants pointers
  const SummaryFields f = summary_fields(s);
  for (const double* v : f.numbers) w.put(*v);
  for (const std::size_t* v : f.sizes) w.put(static_cast<std::uint64_t>(*v));
  for (const bool* v : f.flags) w.put(*v);
  w.put(s.kl_source);
  put_shape(w, s.shape_kl_best);
  put_shape(w, s.shape_last);
}
EarlyStoppingSummary get_summary(ByteReader& r) {
  EarlyStoppingSummary s;
  const SummaryFields f = summary_fields(s);
  for (double* v : f.numbers) *v = r.get<double>("summary");
  for (std::size_t* v : f.sizes) *v = r.get<std::uint64_t>("summary");
  for (bool* v : f.flags) *v = r.get_bool("summary");
  s.kl_source = r.get_string("summary.kl_source");
  s.shape_kl_best = get_shape(r);
  s.shape_last = get_shape(r);
  return s;
}

}  // namespace

std::string archive_result(const EarlyStoppingResult& x) {
  ByteWriter w;
  w.put(magic);
  w.put(format);
  w.put(to_json(x.config).dump());
  w.put(x.training_set);
  put_features(w, x.features);
  w.put(x.initial_weights);
  for (const std::vector<double>* v : {&x.tau, &x.loss_train, &x.loss_pop, &x.gap, &x.norm_growth}) w.put(*v);
  w.put_indices(x.saved_indices);
  put_matrices(w, x.saved_weights);
  w.put(x.eigenvalues);
  w.put(static_cast<std::uint64_t>(x.kl.size()));
  for (const KlRow& k : x.kl) put_kl_row(w, k);
  w.put(static_cast<std::uint64_t>(x.densities.size()));
  for (const DensitySnapshot& s : x.densities) put_density(w, s);
  w.put(x.best_density.has_value());
  if (x.best_density) put_density(w, *x.best_density);
  w.put_indices(x.included_indices);
  put_matrices(w, x.included_weights);
  w.put(x.kl_best_weights);
  w.put(static_cast<std::uint64_t>(x.bounds.rows.size()));
  for (const BoundRow& b : x.bounds.rows) put_bound_row(w, b);
  for (double v : {x.bounds.prior_kl, x.bounds.prior_kl_error, x.bounds.distance_to_minimizer, x.bounds.gram_trace}) {
    w.put(v);
  }
  put_summary(w, x.summary);
  w.put(static_cast<std::uint64_t>(x.timings.phases().size()));
  for (const auto& [phase, seconds] : x.timings.phases()) {
    w.put(phase);
    w.put(seconds);
  }
  return w.release();
}

EarlyStoppingResult unarchive_result(std::string_view bytes) {
  ByteReader r(bytes);
  if (r.get_string("the format name") != magic) throw std::runtime_error("archive: not an S1 result");
  if (const auto f = r.get<std::uint32_t>("the format number"); f != format) {
    throw std::runtime_error("archive: S1 result format " + std::to_string(f) + ", this gengap reads " +
                             std::to_string(format) + " (every rank must run the same gengap)");
  }
  EarlyStoppingResult x;
  x.config = early_stopping_config_from_json(nlohmann::json::parse(r.get_string("config")));
  x.training_set = r.get_matrix("training_set");
  x.features = get_features(r);
  x.initial_weights = r.get_matrix("initial_weights");
  for (std::vector<double>* v : {&x.tau, &x.loss_train, &x.loss_pop, &x.gap, &x.norm_growth}) {
    *v = r.get_vector<double>("curves");
  }
  x.saved_indices = r.get_indices("saved_indices");
  x.saved_weights = get_matrices(r, "saved_weights");
  x.eigenvalues = r.get_vector<double>("eigenvalues");
  for (auto k = r.get<std::uint64_t>("kl"); k > 0; --k) x.kl.push_back(get_kl_row(r));
  for (auto k = r.get<std::uint64_t>("densities"); k > 0; --k) x.densities.push_back(get_density(r));
  if (r.get_bool("best_density")) x.best_density = get_density(r);
  x.included_indices = r.get_indices("included_indices");
  x.included_weights = get_matrices(r, "included_weights");
  x.kl_best_weights = r.get_matrix("kl_best_weights");
  for (auto k = r.get<std::uint64_t>("bounds.rows"); k > 0; --k) x.bounds.rows.push_back(get_bound_row(r));
  for (double* v : {&x.bounds.prior_kl, &x.bounds.prior_kl_error, &x.bounds.distance_to_minimizer,
                    &x.bounds.gram_trace}) {
    *v = r.get<double>("bounds");
  }
  x.summary = get_summary(r);
  for (auto k = r.get<std::uint64_t>("timings"); k > 0; --k) {
    std::string phase = r.get_string("timings");
    x.timings.add(std::move(phase), r.get<double>("timings"));
  }
  r.expect_end();
  return x;
}

}  // namespace gengap
