#pragma once
// Cooperative interruption of long library calls: a process-wide request that
// the library's long loops poll (the ODE driver and the samplers per step, the
// Gram accumulation per round of tiles, stochastic training per step, the KL
// per quadrature round and per training time, the studies per phase and
// setting) and answer by throwing Interrupted. What uses it: the Python
// module, which turns Ctrl-C during a call into a request and the Interrupted
// into KeyboardInterrupt. A command-line run is stopped by its signal handler
// instead (cli/interrupt.hpp).
//
// The request is process-wide: while it is set every gengap call in the
// process stops at its next poll, and it stays set until clear_interrupt().
// Polling is one relaxed atomic load. Exceptions thrown inside a TBB loop
// cancel the loop and reach its caller, so an interrupted call unwinds
// normally: nothing is half-written (files are written atomically) and no
// result is returned.
#include <stdexcept>

namespace gengap {

class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

void request_interrupt() noexcept;
void clear_interrupt() noexcept;
bool interrupt_requested() noexcept;
// Throws Interrupted when a request is pending.
void check_interrupt();

}  // namespace gengap
