// The samplers' shared prior draw (sample.hpp).
#include "gengap/solvers/sde/sample.hpp"

#include <cmath>

#include "gengap/kernels/random.hpp"

namespace gengap {

Matrix prior_sample(const Schedule& schedule, std::size_t n, std::size_t d, std::uint64_t seed) {
  schedule.validate();
  Matrix x(n, d);
  const double sd = std::sqrt(schedule.prior_variance());
  const CounterRng prior(seed, streams::reverse_sde_prior);
  for (std::size_t k = 0; k < x.size(); ++k) x.flat()[k] = sd * prior.normal(k);
  return x;
}

}  // namespace gengap
