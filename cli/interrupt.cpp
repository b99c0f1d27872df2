// InterruptExit: SIGINT/SIGTERM through a self-pipe to a watcher thread (see interrupt.hpp).
#include "interrupt.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "gengap/generalization/io/atomic_file.hpp"

namespace gengap::cli {
namespace {

// SIGUSR1 too: OpenMPI's mpirun answers Ctrl-C by SIGTERM and, milliseconds
// later, SIGKILL to every rank (no time for a last word), but forwards SIGUSR1.
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGUSR1};
constexpr int kSignalCount = 3;
constexpr unsigned char kStop = 0;  // written by the destructor; signals write their number (> 0)

// State the handler reads: only a lock-free atomic (async-signal-safe).
std::atomic<int> g_pipe_write{-1};
std::atomic<bool> g_active{false};
struct sigaction g_previous[kSignalCount];

static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free atomic");
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free atomic");

// The instant record (prepare_instant_record): paths in static buffers, read
// by the handler only while g_instant_ready is true.
char g_instant_file[4096];
char g_instant_target[4096];
std::atomic<bool> g_instant_ready{false};

extern "C" void on_signal(int signal_number) {
  const int saved_errno = errno;  // write() may change it under the interrupted code's feet
  if (g_instant_ready.exchange(false)) ::rename(g_instant_file, g_instant_target);
  const int fd = g_pipe_write.load();
  if (fd >= 0) {
    const auto byte = static_cast<unsigned char>(signal_number);
    // Non-blocking: with the pipe full, a signal byte is already waiting.
    [[maybe_unused]] const ssize_t ignored = ::write(fd, &byte, 1);
  }
  errno = saved_errno;
}

[[noreturn]] void throw_system_error(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

}  // namespace

InterruptExit::InterruptExit(std::function<void()> on_interrupt) : on_interrupt_(std::move(on_interrupt)) {
  if (g_active.exchange(true)) throw std::logic_error("InterruptExit: only one instance may exist at a time");
  try {
    if (::pipe2(pipe_, O_CLOEXEC) != 0) throw_system_error("InterruptExit: pipe");
    if (::fcntl(pipe_[1], F_SETFL, O_NONBLOCK) != 0) throw_system_error("InterruptExit: fcntl");
    g_pipe_write.store(pipe_[1]);
    watcher_ = std::thread([this] { watch(); });
    struct sigaction action{};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // the interrupted threads' read()/write() resume, not fail with EINTR
    for (int k = 0; k < kSignalCount; ++k) {
      if (::sigaction(kSignals[k], &action, &g_previous[k]) != 0) {
        const int error = errno;
        for (int j = 0; j < k; ++j) ::sigaction(kSignals[j], &g_previous[j], nullptr);
        errno = error;
        throw_system_error("InterruptExit: sigaction");
      }
    }
  } catch (...) {
    g_pipe_write.store(-1);
    if (watcher_.joinable()) {
      [[maybe_unused]] const ssize_t ignored = ::write(pipe_[1], &kStop, 1);
      watcher_.join();
    }
    for (const int fd : pipe_)
      if (fd >= 0) ::close(fd);
    g_active.store(false);
    throw;
  }
}

void InterruptExit::prepare_instant_record(const std::filesystem::path& target, const std::string& contents) {
  withdraw_instant_record();
  if (interrupted()) return;  // the watcher is about to write the full last word
  std::string name = target.filename().string();
  name.insert(name.begin(), '.');
  name.append(".interrupted");
  const std::filesystem::path file = target.parent_path() / name;
  const std::string file_text = file.string(), target_text = target.string();
  if (file_text.size() >= sizeof g_instant_file || target_text.size() >= sizeof g_instant_target) return;
  write_file_atomically(file, contents);
  instant_file_ = file;
  std::memcpy(g_instant_file, file_text.c_str(), file_text.size() + 1);
  std::memcpy(g_instant_target, target_text.c_str(), target_text.size() + 1);
  g_instant_ready.store(true);
}

void InterruptExit::withdraw_instant_record() { g_instant_ready.store(false); }

InterruptExit::~InterruptExit() {
  // Handlers first: a signal from here on goes to the previous handler, and
  // one that came before is already in the pipe, ahead of the stop byte.
  for (int k = 0; k < kSignalCount; ++k) ::sigaction(kSignals[k], &g_previous[k], nullptr);
  g_pipe_write.store(-1);
  while (::write(pipe_[1], &kStop, 1) < 0 && errno == EINTR) {
  }
  watcher_.join();
  ::close(pipe_[0]);
  ::close(pipe_[1]);
  g_instant_ready.store(false);
  if (!instant_file_.empty()) {
    std::error_code ignored;
    std::filesystem::remove(instant_file_, ignored);  // not used: the run ended normally
  }
  g_active.store(false);
}

void InterruptExit::watch() {
  for (;;) {
    unsigned char byte = kStop;
    const ssize_t n = ::read(pipe_[0], &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || byte == kStop) return;
    interrupted_.store(true);
    // Never unlocked: the process ends while holding it, so no write starts after this.
    write_mutex_.lock();
    try {
      if (on_interrupt_) on_interrupt_();
    } catch (...) {
      // Exiting is the point; a failing last word must not prevent it.
    }
    std::fflush(nullptr);
    // The full last word is written: an instant record prepared meanwhile is not needed.
    if (g_instant_ready.exchange(false)) ::unlink(g_instant_file);
    std::_Exit(130);
  }
}

}  // namespace gengap::cli
