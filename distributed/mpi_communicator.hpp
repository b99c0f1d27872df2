#pragma once
// The MPI world as a gengap::Communicator (kernels/communicator.hpp): every
// rank of MPI_COMM_WORLD, messages as MPI_BYTE. Built only with the CMake
// option GENGAP_MPI (OpenMPI from Debian: libopenmpi-dev, openmpi-bin).
//
//   if (launched_by_mpi()) { MpiWorld world(argc, argv); run_study_distributed(config, world); }
//
// MpiWorld initialises MPI with MPI_THREAD_FUNNELED (only the thread that
// created it calls MPI; gengap's distributed algorithms keep their compute
// threads away from it) and finalises it when destroyed. One per process.
#include <optional>
#include <string_view>

#include "gengap/kernels/communicator.hpp"

namespace gengap {

// True when an MPI launcher started this process (mpirun, srun): it then has
// a rank to take, and MPI_Init is cheap. A process started by hand runs as a
// single process without initialising MPI at all.
bool launched_by_mpi();

class MpiWorld final : public Communicator {
 public:
  // Throws std::runtime_error if MPI cannot provide MPI_THREAD_FUNNELED.
  MpiWorld(int& argc, char**& argv);
  ~MpiWorld() override;
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // Messages up to 2^31 - 1 bytes (an MPI count is an int); longer ones throw.
  void send(int destination, int tag, std::string_view bytes) override;
  std::optional<Message> poll(int source, int tag) override;
  using Communicator::poll;

 private:
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace gengap
