#include "gengap/kernels/interruption.hpp"

#include <atomic>

namespace gengap {
namespace {
// Relaxed: the flag carries no data; a poll that misses a request by a few
// nanoseconds sees it at the next one.
std::atomic<bool> requested{false};
}  // namespace

void request_interrupt() noexcept { requested.store(true, std::memory_order_relaxed); }
void clear_interrupt() noexcept { requested.store(false, std::memory_order_relaxed); }
bool interrupt_requested() noexcept { return requested.load(std::memory_order_relaxed); }
void check_interrupt() {
  if (interrupt_requested()) throw Interrupted();
}

}  // namespace gengap
