#pragma once
// One training time's KL results (kl_trajectory.hpp) as bytes and back, bit
// for bit: how the ranks of one distributed S1 run (early_stopping.hpp) hand
// their share of the taus to rank 0 (binary_archive.hpp's format).
#include "gengap/generalization/kl_trajectory.hpp"
#include "gengap/kernels/binary_archive.hpp"

namespace gengap {

void put_kl(ByteWriter& w, const KlQuadratureAtTau& q);
void put_kl(ByteWriter& w, const KlMonteCarloAtTau& m);
KlQuadratureAtTau get_kl_quadrature(ByteReader& r);
KlMonteCarloAtTau get_kl_monte_carlo(ByteReader& r);

}  // namespace gengap
