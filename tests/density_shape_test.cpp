// The learned density's shape (generalization/density_shape.hpp) on densities
// whose answer is known: the two-mode target itself, one broad bump between
// the modes (the old Fourier-30 S1 default's p_theta), and a memorising
// density of narrow spikes at training points.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "gengap/generalization/density_shape.hpp"
#include "test_support.hpp"

namespace gengap {
namespace {

double normal_pdf(double x, double mean, double sd) {
  const double z = (x - mean) / sd;
  return std::exp(-0.5 * z * z) / (sd * std::sqrt(2.0 * std::numbers::pi));
}

struct Grid {
  std::vector<double> x, p0;
};

// 1/2 N(-3, 1) + 1/2 N(3, 1) on [-10, 10] with spacing h.
Grid target_grid(double h) {
  Grid g;
  for (double x = -10.0; x <= 10.0 + 1e-12; x += h) {
    g.x.push_back(x);
    g.p0.push_back(0.5 * normal_pdf(x, -3.0, 1.0) + 0.5 * normal_pdf(x, 3.0, 1.0));
  }
  return g;
}

TEST(DensityShape, TheTargetItselfHasBothModesTwoPeaksAndItsOwnValley) {
  const Grid g = target_grid(1e-3);
  const DensityShape s = density_shape(g.x, g.p0, g.p0, 3.0);
  // Trapezoid on a symmetric grid through 0: exactly half, up to rounding.
  EXPECT_NEAR(s.left_mass, 0.5, 1e-12);
  // 2 e^{-9/2} / (1 + e^{-18}); the grid holds 0 and +-3 (to rounding of the steps).
  EXPECT_NEAR(s.valley_ratio, 2.0 * std::exp(-4.5) / (1.0 + std::exp(-18.0)), 1e-6);
  EXPECT_EQ(s.peaks, 2u);
  EXPECT_DOUBLE_EQ(s.peak_ratio, 1.0);
  EXPECT_TRUE(s.resolves_modes());
}

TEST(DensityShape, OneBroadBumpBetweenTheModesDoesNotResolveThem) {
  const Grid g = target_grid(1e-2);
  std::vector<double> bump;
  for (const double x : g.x) bump.push_back(normal_pdf(x, 0.0, 2.0));
  const DensityShape s = density_shape(g.x, g.p0, bump, 3.0);
  EXPECT_NEAR(s.valley_ratio, std::exp(9.0 / 8.0), 1e-3);  // p(0) / p(3) of N(0, 4)
  EXPECT_EQ(s.peaks, 1u);
  EXPECT_FALSE(s.resolves_modes());
  // All mass on one side is not "both modes" either, whatever the valley.
  std::vector<double> one_mode;
  for (const double x : g.x) one_mode.push_back(normal_pdf(x, 3.0, 1.0) + 1e-9 * normal_pdf(x, -3.0, 1.0));
  EXPECT_FALSE(density_shape(g.x, g.p0, one_mode, 3.0).resolves_modes());
}

TEST(DensityShape, SpikesAtTrainingPointsAreCountedAndTowerOverTheTarget) {
  const Grid g = target_grid(2e-3);
  // 40 well separated spikes of width 0.03 (sigma at t_min = 1e-3 is 0.045).
  std::vector<double> centres;
  for (int k = 0; k < 20; ++k) centres.push_back(-4.0 + 0.1 * k), centres.push_back(2.0 + 0.1 * k);
  std::vector<double> spiky(g.x.size(), 0.0);
  for (std::size_t j = 0; j < g.x.size(); ++j)
    for (const double c : centres) spiky[j] += normal_pdf(g.x[j], c, 0.03) / centres.size();
  const DensityShape s = density_shape(g.x, g.p0, spiky, 3.0);
  EXPECT_EQ(s.peaks, 40u);
  // Each spike's height: 1 / (40 * 0.03 sqrt(2 pi)) = 0.33; the target's max 0.2.
  EXPECT_NEAR(s.peak_ratio, 0.3324 / 0.1995, 0.02);
  EXPECT_NEAR(s.left_mass, 0.5, 1e-3);
}

TEST(DensityShape, BadInputNamesTheField) {
  const std::vector<double> x{0.0, 1.0, 2.0}, p{0.1, 0.2, 0.1}, shorter{0.1, 0.2};
  expect_invalid([&] { density_shape(std::vector<double>{0.0}, std::vector<double>{1.0}, std::vector<double>{1.0}, 1.0); }, "x");
  expect_invalid([&] { density_shape(x, shorter, p, 1.0); }, "p0");
  expect_invalid([&] { density_shape(x, p, shorter, 1.0); }, "p_theta");
  expect_invalid([&] { density_shape(std::vector<double>{0.0, 2.0, 1.0}, p, p, 1.0); }, "x");
  expect_invalid([&] { density_shape(x, p, p, 0.0); }, "mu");
}

}  // namespace
}  // namespace gengap
