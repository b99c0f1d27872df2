// A downstream program using the installed gengap: the Gaussian score at the
// origin of a unit two-mode mixture is 0 by symmetry; a schedule evaluates.
#include <cmath>
#include <cstdio>

#include <gengap/kernels/gaussian_mixture.hpp>
#include <gengap/solvers/schedule.hpp>

int main() {
  const auto target = gengap::GaussianMixture::two_modes(3.0);
  const gengap::Matrix origin(1, 1, 0.0);
  const double score = target.score(origin)(0, 0);
  const double mu = gengap::default_schedule(gengap::ScheduleKind::ou).mean_scale(1.0);
  std::printf("score=%g mu=%g\n", score, mu);
  return (std::abs(score) < 1e-12 && std::abs(mu - std::exp(-1.0)) < 1e-15) ? 0 : 1;
}
