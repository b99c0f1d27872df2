// A downstream program using the installed gengap, compiled without the
// library's -march and without xsimd (neither is part of the installed
// interface): the Gaussian score at the origin of a unit two-mode mixture is 0
// by symmetry; a schedule evaluates; the empirical score of one training point
// x_0 = 1 at mu = sigma = 1 is (mu x_0 - x) / sigma^2 = 1 at x = 0, through the
// SIMD kernel and the class whose members use the library's aligned allocator.
#include <cmath>
#include <cstdio>

#include <gengap/kernels/activation.hpp>
#include <gengap/kernels/empirical_score.hpp>
#include <gengap/kernels/gaussian_mixture.hpp>
#include <gengap/solvers/schedule.hpp>

int main() {
  const auto target = gengap::GaussianMixture::two_modes(3.0);
  const gengap::Matrix origin(1, 1, 0.0);
  const double score = target.score(origin)(0, 0);
  const double mu = gengap::default_schedule(gengap::ScheduleKind::ou).mean_scale(1.0);
  const gengap::Matrix one_point(1, 1, 1.0);
  const gengap::EmpiricalScore empirical(one_point);
  const double empirical_score = empirical.evaluate(origin, 1.0, 1.0).score(0, 0);
  const bool silu = gengap::parse_activation("silu") == gengap::Activation::silu;
  std::printf("score=%g mu=%g empirical=%g\n", score, mu, empirical_score);
  return (std::abs(score) < 1e-12 && std::abs(mu - std::exp(-1.0)) < 1e-15 &&
          std::abs(empirical_score - 1.0) < 1e-15 && silu)
             ? 0
             : 1;
}
