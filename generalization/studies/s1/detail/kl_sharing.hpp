#pragma once
// How the ranks of one distributed S1 run (run_early_stopping with a world of
// R ranks) share its KL phases: rank 0, which alone has the trained flow,
// sends every rank the KL's tau indices and the weights A(tau) there
// (d x m each); rank r computes the taus k with k % R == r; their results
// come back to rank 0. Every tau's KL is one independent computation, so the
// assembled rows are the one-process rows bit for bit.
#include <exception>
#include <vector>

#include "gengap/generalization/kl_trajectory.hpp"
#include "gengap/kernels/communicator.hpp"
#include "gengap/kernels/matrix.hpp"

namespace gengap::detail {

// Collective. Rank 0's vectors are the input; the others' are replaced by
// rank 0's (weights: every index in either list, the rest empty).
void share_kl_work(Communicator& world, std::vector<std::size_t>& quadrature_indices,
                   std::vector<std::size_t>& ode_indices, std::vector<Matrix>& weights);

// Collective, after each rank filled its own entries (k % R == rank) or
// caught `error`: first every rank agrees on the errors (the lowest failing
// rank's is thrown on all), then rank 0's vectors receive the other ranks'
// entries. score_integral: the quadrature's extra column (nullptr: none).
void gather_kl(Communicator& world, const std::exception_ptr& error, std::vector<KlQuadratureAtTau>& results,
               std::vector<double>* score_integral);
void gather_kl(Communicator& world, const std::exception_ptr& error, std::vector<KlMonteCarloAtTau>& results,
               std::vector<double>* unused);

}  // namespace gengap::detail
