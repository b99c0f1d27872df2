#include "gengap/generalization/studies/sweep/distributed_study.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gengap/generalization/io/result_archive.hpp"
#include "gengap/generalization/io/run_record.hpp"
#include "gengap/kernels/binary_archive.hpp"
#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/error.hpp"
#include "gengap/kernels/interruption.hpp"
#include "gengap/kernels/remote_error.hpp"

namespace gengap {
namespace {

using Clock = std::chrono::steady_clock;

// The protocol between rank 0 and the other ranks ("workers"). A worker asks
// for one setting per free slot; rank 0 answers with a setting or "finish"
// (that slot is done). A worker says "bye" once all its slots are done and
// every result is sent; rank 0 returns when every worker has said bye and its
// own slots are idle.
enum Tag : int {
  tag_request = 1,     // worker -> 0: a slot is free
  tag_assign,      // 0 -> worker: setting k
  tag_finish,      // 0 -> worker: no more settings for that slot
  tag_stop,        // 0 -> worker: a setting failed somewhere: interrupt the ones in flight
  tag_result,      // worker -> 0: setting k's archived result
  tag_phase,       // worker -> 0: setting k entered a phase
  tag_progress,    // worker -> 0: fraction of setting k's phase done
  tag_failed,      // worker -> 0: a setting (or the config check) failed: the encoded exception
  tag_bye,         // worker -> 0: done
};

constexpr auto progress_interval = std::chrono::milliseconds(200);
constexpr auto idle_wait = std::chrono::microseconds(500);

std::string encode_index(std::size_t k) {
  ByteWriter w;
  w.put(static_cast<std::uint64_t>(k));
  return w.release();
}

// What a slot thread reports to the thread that owns the communicator.
struct SlotEvent {
  enum Kind { phase, progress, done, failed } kind = done;
  std::size_t setting = 0;
  std::string phase_name;
  double fraction = 0.0;
  EarlyStoppingResult result;
  std::exception_ptr error;
};

// Settings running on this rank, one std::thread each. Phase and progress go
// to the hooks (rank 0: the callbacks, which are thread-safe) or, without
// hooks, into the event queue (workers: to be sent by the main thread,
// progress throttled); completion always goes into the queue.
class LocalSlots {
 public:
  LocalSlots(const std::vector<EarlyStoppingConfig>& settings, const StudyCallbacks* hooks)
      : settings_(settings), hooks_(hooks) {}
  ~LocalSlots() {
    // Only reached early by an exception on the communicator's thread: stop
    // the settings in flight rather than wait for them.
    if (!threads_.empty()) {
      request_interrupt();
      for (auto& [k, t] : threads_) t.join();
    }
  }
  LocalSlots(const LocalSlots&) = delete;
  LocalSlots& operator=(const LocalSlots&) = delete;

  std::size_t running() const { return threads_.size(); }

  void start(std::size_t k) {
    threads_.emplace(k, std::thread([this, k] { run(k); }));
  }

  // The events so far; threads whose setting ended are joined.
  std::vector<SlotEvent> drain() {
    std::vector<SlotEvent> events;
    {
      const std::lock_guard lock(mutex_);
      events.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
    }
    for (const SlotEvent& e : events) {
      if (e.kind != SlotEvent::done && e.kind != SlotEvent::failed) continue;
      const auto it = threads_.find(e.setting);
      it->second.join();
      threads_.erase(it);
    }
    return events;
  }

 private:
  void push(SlotEvent e) {
    const std::lock_guard lock(mutex_);
    queue_.push_back(std::move(e));
  }

  void run(std::size_t k) {
    std::function<void(std::string_view)> on_phase;
    std::function<void(double)> on_progress;
    if (hooks_ != nullptr) {
      if (hooks_->on_phase) on_phase = [this, k](std::string_view p) { hooks_->on_phase(k, p); };
      if (hooks_->on_phase_progress) on_progress = [this, k](double f) { hooks_->on_phase_progress(k, f); };
    } else {
      auto last = std::make_shared<std::pair<std::mutex, Clock::time_point>>();
      on_phase = [this, k](std::string_view p) {
        SlotEvent e;
        e.kind = SlotEvent::phase;
        e.setting = k;
        e.phase_name = p;
        push(std::move(e));
      };
      on_progress = [this, k, last](double f) {
        {
          const std::lock_guard lock(last->first);
          const Clock::time_point now = Clock::now();
          if (now - last->second < progress_interval) return;
          last->second = now;
        }
        SlotEvent e;
        e.kind = SlotEvent::progress;
        e.setting = k;
        e.fraction = f;
        push(std::move(e));
      };
    }
    SlotEvent e;
    e.setting = k;
    try {
      // Isolated, as in run_study: a thread waiting inside this setting's
      // parallel loops must not pick up another setting's work.
      tbb::this_task_arena::isolate([&] { e.result = run_early_stopping(settings_[k], on_phase, on_progress); });
      e.kind = SlotEvent::done;
    } catch (...) {
      e.kind = SlotEvent::failed;
      e.error = std::current_exception();
    }
    push(std::move(e));
  }

  const std::vector<EarlyStoppingConfig>& settings_;
  const StudyCallbacks* hooks_;
  std::map<std::size_t, std::thread> threads_;  // by setting
  std::mutex mutex_;
  std::deque<SlotEvent> queue_;
};

// The work of rank 0: hand out settings, run its own, gather everything.
class Coordinator {
 public:
  Coordinator(const StudyConfig& config, Communicator& world, const StudyCallbacks& callbacks,
              const std::vector<EarlyStoppingConfig>& settings, std::vector<std::size_t> order, std::size_t slots)
      : config_(config),
        world_(world),
        callbacks_(callbacks),
        order_(std::move(order)),
        slots_(slots),
        local_(settings, &callbacks),
        finished_(settings.size()) {}

  std::vector<std::optional<StudySetting>> run() {
    const int workers = world_.size() - 1;
    while (true) {
      bool busy = false;
      while (local_.running() < slots_ && can_assign()) {
        local_.start(order_[next_++]);
        busy = true;
      }
      while (std::optional<Communicator::Message> m = world_.poll()) {
        handle(*m);
        busy = true;
      }
      for (SlotEvent& e : local_.drain()) {
        busy = true;
        if (e.kind == SlotEvent::done) {
          finish(e.setting, std::move(e.result));
        } else {
          fail(e.error);
        }
      }
      if (said_bye_.size() == static_cast<std::size_t>(workers) && local_.running() == 0 && !can_assign()) break;
      if (!busy) std::this_thread::sleep_for(idle_wait);
    }
    if (interrupt_set_) clear_interrupt();
    if (failure_) std::rethrow_exception(failure_);
    return std::move(finished_);
  }

 private:
  // Polls stop_requested once per decision; once stopping, stays stopped.
  bool can_assign() {
    if (stopping_ || failure_ || next_ == order_.size()) return false;
    if (callbacks_.stop_requested && callbacks_.stop_requested()) stopping_ = true;
    return !stopping_;
  }

  void handle(const Communicator::Message& m) {
    ByteReader r(m.bytes);
    switch (m.tag) {
      case tag_request:
        if (can_assign()) {
          world_.send(m.source, tag_assign, encode_index(order_[next_++]));
        } else {
          world_.send(m.source, tag_finish, {});
        }
        break;
      case tag_result: {
        const auto k = static_cast<std::size_t>(r.get<std::uint64_t>("the setting"));
        const std::string bytes = r.get_string("the result");
        const std::string environment = r.get_string("the environment");
        if (!failure_) {
          finish(k, unarchive_result(bytes), m.source, nlohmann::ordered_json::parse(environment), m.bytes.size());
        }
        break;
      }
      case tag_phase: {
        const auto k = static_cast<std::size_t>(r.get<std::uint64_t>("the setting"));
        const std::string phase = r.get_string("the phase");
        if (callbacks_.on_phase) callbacks_.on_phase(k, phase);
        break;
      }
      case tag_progress: {
        const auto k = static_cast<std::size_t>(r.get<std::uint64_t>("the setting"));
        const double fraction = r.get<double>("the fraction");
        if (callbacks_.on_phase_progress) callbacks_.on_phase_progress(k, fraction);
        break;
      }
      case tag_failed:
        try {
          throw_encoded_exception(m.bytes);
        } catch (...) {
          fail(std::current_exception());
        }
        break;
      case tag_bye:
        said_bye_.push_back(m.source);
        break;
      default:
        throw std::logic_error("run_study_distributed: unexpected message tag " + std::to_string(m.tag) + " from rank " +
                               std::to_string(m.source));
    }
  }

  void finish(std::size_t k, EarlyStoppingResult result, int rank = 0, nlohmann::ordered_json environment = {},
              std::size_t message_bytes = 0) {
    if (failure_) return;
    StudySetting s;
    s.result = std::move(result);
    s.rank = rank;
    s.environment = std::move(environment);
    s.message_bytes = message_bytes;
    s.summary = summarize_setting(config_, k, s.result);
    finished_.at(k) = std::move(s);
    if (callbacks_.on_setting) callbacks_.on_setting(*finished_[k]);
  }

  // The first failure stops everything: every rank interrupts its settings.
  void fail(const std::exception_ptr& error) {
    if (failure_) return;
    failure_ = error;
    for (int rank = 1; rank < world_.size(); ++rank) {
      if (std::find(said_bye_.begin(), said_bye_.end(), rank) == said_bye_.end()) world_.send(rank, tag_stop, {});
    }
    if (!interrupt_requested()) {
      request_interrupt();
      interrupt_set_ = true;
    }
  }

  const StudyConfig& config_;
  Communicator& world_;
  const StudyCallbacks& callbacks_;
  std::vector<std::size_t> order_;
  std::size_t next_ = 0;
  std::size_t slots_;
  LocalSlots local_;
  std::vector<std::optional<StudySetting>> finished_;
  std::vector<int> said_bye_;  // workers done
  bool stopping_ = false;
  bool interrupt_set_ = false;
  std::exception_ptr failure_;
};

// The work of every other rank: ask, run, send back.
void work(Communicator& world, const std::vector<EarlyStoppingConfig>& settings, std::size_t slots) {
  const std::string environment = environment_record().dump();  // sent with every result: where it was computed
  LocalSlots local(settings, nullptr);
  for (std::size_t s = 0; s < slots; ++s) world.send(0, tag_request, {});
  std::size_t open = slots;  // slots not yet finished
  bool stopped = false;
  while (true) {
    bool busy = false;
    while (std::optional<Communicator::Message> m = world.poll()) {
      busy = true;
      ByteReader r(m->bytes);
      switch (m->tag) {
        case tag_assign: {
          const auto k = static_cast<std::size_t>(r.get<std::uint64_t>("the setting"));
          if (stopped) {
            --open;
          } else {
            local.start(k);
          }
          break;
        }
        case tag_finish: --open; break;
        case tag_stop:
          if (!stopped) request_interrupt();
          stopped = true;
          break;
        default:
          throw std::logic_error("run_study_distributed: unexpected message tag " + std::to_string(m->tag) +
                                 " from rank " + std::to_string(m->source));
      }
    }
    for (SlotEvent& e : local.drain()) {
      busy = true;
      ByteWriter w;
      w.put(static_cast<std::uint64_t>(e.setting));
      switch (e.kind) {
        case SlotEvent::phase:
          w.put(e.phase_name);
          world.send(0, tag_phase, w.bytes());
          break;
        case SlotEvent::progress:
          w.put(e.fraction);
          world.send(0, tag_progress, w.bytes());
          break;
        case SlotEvent::done:
          if (stopped) {
            --open;
            break;
          }
          w.put(archive_result(e.result));
          w.put(environment);
          world.send(0, tag_result, w.bytes());
          world.send(0, tag_request, {});
          break;
        case SlotEvent::failed:
          --open;
          if (!stopped) world.send(0, tag_failed, encode_exception(e.error));
          break;
      }
    }
    if (open == 0 && local.running() == 0) break;
    if (!busy) std::this_thread::sleep_for(idle_wait);
  }
  if (stopped) clear_interrupt();
  world.send(0, tag_bye, {});
}

}  // namespace

std::size_t study_slots_per_rank(const StudyConfig& config) {
  if (config.sweep.max_parallel > 0) return config.sweep.max_parallel;
  const std::size_t concurrency =
      std::min(static_cast<std::size_t>(tbb::this_task_arena::max_concurrency()),
               tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism));
  return std::max<std::size_t>(1, concurrency);
}

void require_same_study_config(const StudyConfig& config, Communicator& world) {
  if (world.size() == 1) {
    config.validate();
    return;
  }
  std::exception_ptr config_error;
  try {
    config.validate();
  } catch (...) {
    config_error = std::current_exception();
  }
  throw_if_any_rank_failed(world, config_error);
  require_same_on_every_rank(world, to_json(config).dump(), "config", "study config");
}

StudyResult run_study_distributed(const StudyConfig& config, Communicator& world, const StudyCallbacks& callbacks) {
  if (world.size() == 1) return run_study(config, callbacks);
  const auto start = Clock::now();
  require_same_study_config(config, world);

  // One BLAS thread per task, as run_study.
  const ScopedBlasThreads single_threaded_blas(1);
  const std::size_t count = config.settings();
  std::vector<EarlyStoppingConfig> settings(count);
  for (std::size_t k = 0; k < count; ++k) settings[k] = config.setting(k);
  const std::size_t slots = study_slots_per_rank(config);

  StudyResult r;
  r.config = config;
  if (world.rank() != 0) {
    work(world, settings, slots);
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return r;
  }
  // Costliest first (longest-processing-time order), as run_study with several settings in flight.
  std::vector<double> cost(count, 0.0);
  for (std::size_t k = 0; k < count; ++k) {
    for (const auto& [phase, seconds] : estimated_phase_costs(settings[k])) cost[k] += seconds;
  }
  std::vector<std::size_t> order(count);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return cost[a] > cost[b]; });

  r = collect_study_result(config, Coordinator(config, world, callbacks, settings, std::move(order), slots).run());
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

}  // namespace gengap
