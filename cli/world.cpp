#include "world.hpp"

#include "gengap/kernels/error.hpp"
#include "gengap/kernels/remote_error.hpp"

namespace gengap::cli {
namespace {

SingleProcess single_process;
Communicator* current = &single_process;

}  // namespace

Communicator& world() { return *current; }
void set_world(Communicator* world) { current = world != nullptr ? world : &single_process; }
bool speaks_for_run() { return current->rank() == 0; }

void agree_across_ranks(const std::exception_ptr& local_error) { throw_if_any_rank_failed(*current, local_error); }

std::string processes_text(int threads_per_rank) {
  const std::string threads = std::to_string(threads_per_rank) + " threads";
  return current->size() > 1 ? std::to_string(current->size()) + " ranks x " + threads : threads;
}

void require_single_process(const std::string& command) {
  if (current->size() == 1) return;
  throw InvalidArgument("mpirun", "gengap " + command + " runs in one process (" + std::to_string(current->size()) +
                                      " ranks started); the distributed commands are gengap run and gengap study "
                                      "modes-shift, capacity, sample-size and diffusion-time");
}

}  // namespace gengap::cli
