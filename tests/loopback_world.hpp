#pragma once
// R ranks inside one test process (threads), for the distributed algorithms'
// tests without MPI: a LoopbackNetwork of inboxes, and one LoopbackRank
// (a Communicator) per thread. Messages from one rank to another keep their
// order, as MPI's do.
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gengap/kernels/communicator.hpp"

namespace gengap {

class LoopbackNetwork {
 public:
  explicit LoopbackNetwork(int ranks) : inboxes_(static_cast<std::size_t>(ranks)) {}
  int size() const { return static_cast<int>(inboxes_.size()); }
  void deliver(int destination, Communicator::Message m) {
    const std::lock_guard lock(mutex_);
    inboxes_.at(static_cast<std::size_t>(destination)).push_back(std::move(m));
  }
  // The first message in `rank`'s inbox from `source` with `tag` (-1: any).
  std::optional<Communicator::Message> take(int rank, int source, int tag) {
    const std::lock_guard lock(mutex_);
    std::deque<Communicator::Message>& box = inboxes_.at(static_cast<std::size_t>(rank));
    for (auto it = box.begin(); it != box.end(); ++it) {
      if ((source >= 0 && it->source != source) || (tag >= 0 && it->tag != tag)) continue;
      Communicator::Message m = std::move(*it);
      box.erase(it);
      return m;
    }
    return std::nullopt;
  }

 private:
  std::mutex mutex_;
  std::vector<std::deque<Communicator::Message>> inboxes_;
};

class LoopbackRank final : public Communicator {
 public:
  LoopbackRank(LoopbackNetwork& network, int rank) : network_(network), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return network_.size(); }
  void send(int destination, int tag, std::string_view bytes) override {
    network_.deliver(destination, {rank_, tag, std::string(bytes)});
  }
  std::optional<Message> poll(int source, int tag) override { return network_.take(rank_, source, tag); }
  using Communicator::poll;

 private:
  LoopbackNetwork& network_;
  int rank_;
};

}  // namespace gengap
