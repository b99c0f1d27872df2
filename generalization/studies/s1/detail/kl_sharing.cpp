#include "gengap/generalization/studies/s1/detail/kl_sharing.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "gengap/generalization/io/kl_archive.hpp"
#include "gengap/kernels/binary_archive.hpp"
#include "gengap/kernels/remote_error.hpp"

namespace gengap::detail {
namespace {

constexpr int tag_kl_work = 2100;
constexpr int tag_kl_results = 2101;

template <class Result>
void gather(Communicator& world, const std::exception_ptr& error, std::vector<Result>& results,
            std::vector<double>* extra) {
  throw_if_any_rank_failed(world, error);
  const auto ranks = static_cast<std::size_t>(world.size()), rank = static_cast<std::size_t>(world.rank());
  if (ranks == 1) return;
  if (rank != 0) {
    ByteWriter w;
    for (std::size_t k = rank; k < results.size(); k += ranks) {
      w.put(static_cast<std::uint64_t>(k));
      put_kl(w, results[k]);
      if (extra != nullptr) w.put((*extra)[k]);
    }
    world.send(0, tag_kl_results, w.bytes());
    return;
  }
  for (int source = 1; source < world.size(); ++source) {
    const Communicator::Message m = world.receive(source, tag_kl_results);
    ByteReader r(m.bytes);
    for (std::size_t k = static_cast<std::size_t>(source); k < results.size(); k += ranks) {
      if (r.get<std::uint64_t>("the KL's task") != k) throw std::runtime_error("gather_kl: tasks out of order");
      if constexpr (std::is_same_v<Result, KlQuadratureAtTau>) {
        results[k] = get_kl_quadrature(r);
      } else {
        results[k] = get_kl_monte_carlo(r);
      }
      if (extra != nullptr) (*extra)[k] = r.get<double>("the score-integral KL");
    }
    r.expect_end();
  }
}

}  // namespace

void share_kl_work(Communicator& world, std::vector<std::size_t>& quadrature_indices,
                   std::vector<std::size_t>& ode_indices, std::vector<Matrix>& weights) {
  if (world.size() == 1) return;
  if (world.rank() == 0) {
    ByteWriter w;
    w.put_indices(quadrature_indices);
    w.put_indices(ode_indices);
    w.put(static_cast<std::uint64_t>(weights.size()));
    std::vector<std::size_t> wanted = quadrature_indices;
    wanted.insert(wanted.end(), ode_indices.begin(), ode_indices.end());
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    w.put_indices(wanted);
    for (const std::size_t i : wanted) w.put(weights[i]);
    for (int rank = 1; rank < world.size(); ++rank) world.send(rank, tag_kl_work, w.bytes());
    return;
  }
  const Communicator::Message m = world.receive(0, tag_kl_work);
  ByteReader r(m.bytes);
  quadrature_indices = r.get_indices("the KL's tau indices");
  ode_indices = r.get_indices("the KL's tau indices");
  weights.assign(r.get<std::uint64_t>("the grid size"), Matrix());
  for (const std::size_t i : r.get_indices("the KL's tau indices")) weights.at(i) = r.get_matrix("A(tau)");
  r.expect_end();
}

void gather_kl(Communicator& world, const std::exception_ptr& error, std::vector<KlQuadratureAtTau>& results,
               std::vector<double>* score_integral) {
  gather(world, error, results, score_integral);
}

void gather_kl(Communicator& world, const std::exception_ptr& error, std::vector<KlMonteCarloAtTau>& results,
               std::vector<double>* unused) {
  gather(world, error, results, unused);
}

}  // namespace gengap::detail
