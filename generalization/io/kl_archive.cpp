#include "gengap/generalization/io/kl_archive.hpp"

#include <cstdint>

namespace gengap {

#if defined(__x86_64__) && defined(__GLIBCXX__)
// A field added to these results must be added here too: the sizes change.
static_assert(sizeof(KlQuadratureResult) == 144 && sizeof(KlQuadratureAtTau) == 160,
              "KlQuadratureAtTau changed: update kl_archive.cpp");
static_assert(sizeof(MonteCarloKl) == 32 && sizeof(KlMonteCarloAtTau) == 56,
              "KlMonteCarloAtTau changed: update kl_archive.cpp");
#endif

void put_kl(ByteWriter& w, const KlQuadratureAtTau& q) {
  const KlQuadratureResult& k = q.kl;
  for (double v : {k.kl, k.kl_error, k.mass, k.mass_error, k.lower, k.upper}) w.put(v);
  w.put(k.converged);
  w.put(k.window_complete);
  w.put(static_cast<std::uint64_t>(k.rounds));
  w.put(static_cast<std::uint64_t>(k.failed_nodes));
  w.put(k.x);
  w.put(k.log_p0);
  w.put(k.log_p_theta);
  w.put(q.evaluations_per_node);
  w.put(static_cast<std::uint32_t>(q.flags));
}

KlQuadratureAtTau get_kl_quadrature(ByteReader& r) {
  KlQuadratureAtTau q;
  KlQuadratureResult& k = q.kl;
  for (double* v : {&k.kl, &k.kl_error, &k.mass, &k.mass_error, &k.lower, &k.upper}) *v = r.get<double>("kl quadrature");
  k.converged = r.get_bool("kl quadrature converged");
  k.window_complete = r.get_bool("kl quadrature window_complete");
  k.rounds = r.get<std::uint64_t>("kl quadrature rounds");
  k.failed_nodes = r.get<std::uint64_t>("kl quadrature failed_nodes");
  k.x = r.get_vector<double>("kl quadrature x");
  k.log_p0 = r.get_vector<double>("kl quadrature log_p0");
  k.log_p_theta = r.get_vector<double>("kl quadrature log_p_theta");
  q.evaluations_per_node = r.get<double>("kl quadrature evaluations");
  q.flags = r.get<std::uint32_t>("kl quadrature flags");
  return q;
}

void put_kl(ByteWriter& w, const KlMonteCarloAtTau& m) {
  w.put(m.kl.kl);
  w.put(m.kl.standard_error);
  w.put(static_cast<std::uint64_t>(m.kl.used));
  w.put(static_cast<std::uint64_t>(m.kl.failed));
  w.put(m.evaluations_per_point);
  w.put(static_cast<std::uint64_t>(m.max_evaluations));
  w.put(static_cast<std::uint32_t>(m.flags));
}

KlMonteCarloAtTau get_kl_monte_carlo(ByteReader& r) {
  KlMonteCarloAtTau m;
  m.kl.kl = r.get<double>("kl monte carlo");
  m.kl.standard_error = r.get<double>("kl monte carlo standard_error");
  m.kl.used = r.get<std::uint64_t>("kl monte carlo used");
  m.kl.failed = r.get<std::uint64_t>("kl monte carlo failed");
  m.evaluations_per_point = r.get<double>("kl monte carlo evaluations");
  m.max_evaluations = r.get<std::uint64_t>("kl monte carlo max_evaluations");
  m.flags = r.get<std::uint32_t>("kl monte carlo flags");
  return m;
}

}  // namespace gengap
