#pragma once
// Messages between the processes of one distributed run (MPI ranks), as the
// library sees them: numbered ranks 0..size()-1 exchanging tagged byte
// strings. The library stays free of MPI: distributed/mpi_communicator.hpp
// implements this over MPI_COMM_WORLD (CMake option GENGAP_MPI), and
// SingleProcess is the one-rank world every run without MPI lives in.
//
// Threading: a Communicator is used from one thread only (the one that
// created it; MPI_THREAD_FUNNELED), and the distributed algorithms keep it so:
// their computations run on other threads and hand messages to it.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace gengap {

class Communicator {
 public:
  struct Message {
    int source = 0;
    int tag = 0;
    std::string bytes;
  };

  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Sends `bytes` to rank `destination`; returns once `bytes` may be reused
  // (small messages do not wait for the receiver). Tags are >= 0.
  virtual void send(int destination, int tag, std::string_view bytes) = 0;
  static constexpr int any_source = -1;
  static constexpr int any_tag = -1;
  // A message that has arrived from `source` with `tag` (any_source, any_tag:
  // any), without waiting; messages from one rank with one tag arrive in the
  // order it sent them, and the first matching one is returned.
  virtual std::optional<Message> poll(int source, int tag) = 0;
  std::optional<Message> poll() { return poll(any_source, any_tag); }

  // Waits for the next matching message, polling every `interval`: a waiting
  // rank must not keep a core busy (MPI's own blocking receive spins).
  Message receive(int source = any_source, int tag = any_tag,
                  std::chrono::microseconds interval = std::chrono::microseconds(500)) {
    for (;;) {
      if (std::optional<Message> m = poll(source, tag)) return std::move(*m);
      std::this_thread::sleep_for(interval);
    }
  }
};

// The world of a run without MPI: rank 0 of 1, with nobody to talk to.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void send(int destination, int, std::string_view) override {
    throw std::logic_error("SingleProcess::send: no rank " + std::to_string(destination) + " in a one-process run");
  }
  std::optional<Message> poll(int, int) override { return std::nullopt; }
  using Communicator::poll;
};

}  // namespace gengap
