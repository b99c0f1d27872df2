#pragma once
// Ctrl-C (SIGINT), SIGTERM and SIGUSR1 for long runs that write results as they go:
// the program stops with exit code 130, but never in the middle of a write
// made under write_mutex(), and after a last word from on_interrupt (e.g.
// "interrupted: kept 3 of 7 settings in results/capacity").
//
//   InterruptExit interrupt([&] { std::fprintf(stderr, "interrupted: ...\n"); });
//   ...
//   { std::lock_guard lock(interrupt.write_mutex()); write one setting's folder + summary; }
//
// The signal handlers (sigaction, SA_RESTART) only write the signal number
// to a self-pipe, which is async-signal-safe; a watcher thread reads it and
// then, outside signal context: locks write_mutex() (waiting for a write in
// progress to complete), calls on_interrupt() (exceptions are swallowed),
// flushes every stdio stream and ends the process with std::_Exit(130)
// (no destructors, no atexit handlers: other threads may still be computing).
// Signals arriving while that runs change nothing. The destructor restores
// the previous handlers first and only then stops the watcher, so a signal is
// never lost in between: one that came before the restore still exits 130.
// At most one instance exists at a time (std::logic_error otherwise).
// SIGUSR1 is the way to stop an MPI run with its last word: mpirun forwards
// it to every rank, whereas its answer to SIGINT/SIGTERM is SIGTERM followed
// within milliseconds by SIGKILL.
#include <atomic>
#include <filesystem>
#include <string>
#include <functional>
#include <mutex>
#include <thread>

namespace gengap::cli {

class InterruptExit {
 public:
  explicit InterruptExit(std::function<void()> on_interrupt);
  ~InterruptExit();
  InterruptExit(const InterruptExit&) = delete;
  InterruptExit& operator=(const InterruptExit&) = delete;

  // Held by the caller around every write that must complete; the watcher
  // takes it before exiting.
  std::mutex& write_mutex() { return write_mutex_; }
  // True once a signal has arrived (the process is about to exit): loops may
  // stop starting new work instead of taking write_mutex() again and again.
  bool interrupted() const { return interrupted_.load(); }

  // A last word that takes no time, for launchers that kill within
  // milliseconds of their signal (OpenMPI's mpirun: SIGTERM, then SIGKILL
  // ~3 ms later): `contents` (e.g. config.json saying "interrupted") is
  // written now beside `target` as ".<name>.interrupted", and the signal
  // handler itself renames it over `target` (rename is async-signal-safe),
  // before the watcher's fuller last word. Call under write_mutex() after
  // each write of `target`, and withdraw_instant_record() before the next
  // one. The destructor removes a prepared file that was not used.
  void prepare_instant_record(const std::filesystem::path& target, const std::string& contents);
  void withdraw_instant_record();

 private:
  void watch();

  std::function<void()> on_interrupt_;
  std::mutex write_mutex_;
  std::atomic<bool> interrupted_{false};
  int pipe_[2] = {-1, -1};  // read end, write end (the handler writes to [1])
  std::thread watcher_;
  std::filesystem::path instant_file_;  // the prepared instant record, if any
};

}  // namespace gengap::cli
