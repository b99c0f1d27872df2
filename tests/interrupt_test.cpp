// Ctrl-C handling (cli/interrupt.hpp), in forked children: a signal during a
// write held under write_mutex() ends the process with 130 only after the
// write completed, after on_interrupt ran; without a write in progress it
// ends promptly. In this process: one instance at a time, and the previous
// handlers come back when it is destroyed.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

// The command-line program's sources are not in a library the tests link
// (cli/CMakeLists.txt builds them into the executable only): compile the unit
// under test into this test.
#include "interrupt.hpp"

namespace gengap::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class Interrupt : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gengap_interrupt_test_" + std::to_string(::getpid()) + "_" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Forks a child running `body(ready_fd)` (which writes one byte to ready_fd
  // when the parent may signal, and must never return normally: it _exits);
  // waits for that byte, sends `signal_number`, and returns the child's exit
  // code (-1 if it did not exit normally) and the seconds from the signal to
  // its exit. A child still alive after 10 s is killed (exit code -1).
  struct Outcome {
    int exit_code = -1;
    double seconds_after_signal = 0.0;
  };
  template <class Body>
  Outcome run_child(int signal_number, Body body) {
    int ready[2];
    if (::pipe(ready) != 0) throw std::runtime_error("pipe");
    std::fflush(nullptr);  // nothing buffered may be written twice
    const pid_t child = ::fork();
    if (child < 0) throw std::runtime_error("fork");
    if (child == 0) {
      ::close(ready[0]);
      body(ready[1]);
      ::_exit(97);  // body returned: a bug in the test
    }
    ::close(ready[1]);
    char byte = 0;
    Outcome outcome;
    if (::read(ready[0], &byte, 1) != 1) {
      ADD_FAILURE() << "child did not report ready";
      ::kill(child, SIGKILL);
    } else {
      ::kill(child, signal_number);
    }
    ::close(ready[0]);
    const auto signalled = Clock::now();
    int status = 0;
    for (;;) {
      const pid_t done = ::waitpid(child, &status, WNOHANG);
      if (done == child) break;
      if (Clock::now() - signalled > std::chrono::seconds(10)) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        ADD_FAILURE() << "child did not exit within 10 s of the signal";
        return outcome;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    outcome.seconds_after_signal = std::chrono::duration<double>(Clock::now() - signalled).count();
    if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
    return outcome;
  }

  fs::path dir_;
};

// The child holds write_mutex() while writing 10 chunks, 40 ms apart; the
// signal comes right after the first. It must exit 130 only once all 10 and
// the end marker are on disk (the remaining 9 x 40 ms = 360 ms: at least 0.25 s
// after the signal leaves margin for scheduling), and on_interrupt, run
// after the write, must see the complete file.
TEST_F(Interrupt, WaitsForTheWriteInProgress) {
  const fs::path data = dir_ / "data.txt", marker = dir_ / "marker.txt";
  const Outcome o = run_child(SIGINT, [&](int ready) {
    InterruptExit interrupt([&] {
      std::ofstream(marker) << "on_interrupt saw " << fs::file_size(data) << " bytes";
    });
    {
      const std::lock_guard lock(interrupt.write_mutex());
      std::FILE* f = std::fopen(data.c_str(), "w");
      for (int k = 0; k < 10; ++k) {
        std::fprintf(f, "chunk %d\n", k);
        std::fflush(f);
        if (k == 0 && ::write(ready, "r", 1) != 1) ::_exit(98);
        std::this_thread::sleep_for(std::chrono::milliseconds(40));
      }
      std::fputs("end\n", f);
      std::fclose(f);
    }
    std::this_thread::sleep_for(std::chrono::seconds(5));
    ::_exit(3);  // the signal did not end the process
  });
  EXPECT_EQ(o.exit_code, 130);
  EXPECT_GE(o.seconds_after_signal, 0.25);
  std::string expected;
  for (int k = 0; k < 10; ++k) expected += "chunk " + std::to_string(k) + "\n";
  expected += "end\n";
  EXPECT_EQ(read_file(data), expected);
  EXPECT_EQ(read_file(marker), "on_interrupt saw " + std::to_string(expected.size()) + " bytes");
}

// Without a write in progress the child (asleep in its main thread) exits 130
// within a second (typically milliseconds; generous for a loaded machine),
// for SIGINT and SIGTERM alike.
TEST_F(Interrupt, ExitsPromptlyWithoutAWrite) {
  for (const int signal_number : {SIGINT, SIGTERM}) {
    const fs::path marker = dir_ / ("marker_" + std::to_string(signal_number));
    const Outcome o = run_child(signal_number, [&](int ready) {
      InterruptExit interrupt([&] { std::ofstream(marker) << "interrupted"; });
      if (::write(ready, "r", 1) != 1) ::_exit(98);
      for (int k = 0; k < 50; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      ::_exit(3);
    });
    EXPECT_EQ(o.exit_code, 130) << "signal " << signal_number;
    EXPECT_LT(o.seconds_after_signal, 1.0) << "signal " << signal_number;
    EXPECT_EQ(read_file(marker), "interrupted") << "signal " << signal_number;
  }
}

// on_interrupt failing does not keep the process alive; output buffered in
// stdio before the signal is flushed on the way out.
TEST_F(Interrupt, ExitsEvenWhenOnInterruptThrows) {
  const fs::path log = dir_ / "log.txt";
  const Outcome o = run_child(SIGINT, [&](int ready) {
    std::FILE* f = std::fopen(log.c_str(), "w");
    InterruptExit interrupt([&] {
      std::fputs("last word\n", f);  // buffered, never fclosed: the exit must flush it
      throw std::runtime_error("failing last word");
    });
    if (::write(ready, "r", 1) != 1) ::_exit(98);
    for (int k = 0; k < 50; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::_exit(3);
  });
  EXPECT_EQ(o.exit_code, 130);
  EXPECT_EQ(read_file(log), "last word\n");
}

volatile std::sig_atomic_t g_custom_handler_calls = 0;
extern "C" void custom_handler(int) { g_custom_handler_calls = g_custom_handler_calls + 1; }

// In this process: no signal is sent while InterruptExit is alive.
TEST(InterruptInProcess, OneInstanceAtATime) {
  {
    InterruptExit first([] {});
    EXPECT_THROW(InterruptExit second([] {}), std::logic_error);
  }
  EXPECT_NO_THROW(InterruptExit again([] {}));
}

TEST(InterruptInProcess, RestoresThePreviousHandlers) {
  struct sigaction custom{}, original[2];
  custom.sa_handler = custom_handler;
  sigemptyset(&custom.sa_mask);
  ASSERT_EQ(::sigaction(SIGINT, &custom, &original[0]), 0);
  ASSERT_EQ(::sigaction(SIGTERM, &custom, &original[1]), 0);
  {
    InterruptExit interrupt([] {});
    struct sigaction now{};
    ::sigaction(SIGINT, nullptr, &now);
    EXPECT_NE(now.sa_handler, custom_handler);  // replaced while alive
  }
  for (const int signal_number : {SIGINT, SIGTERM}) {
    struct sigaction now{};
    ::sigaction(signal_number, nullptr, &now);
    EXPECT_EQ(now.sa_handler, custom_handler) << signal_number;
  }
  // And it is really the one that runs: raise() delivers synchronously to this thread.
  g_custom_handler_calls = 0;
  std::raise(SIGINT);
  std::raise(SIGTERM);
  EXPECT_EQ(g_custom_handler_calls, 2);
  ::sigaction(SIGINT, &original[0], nullptr);
  ::sigaction(SIGTERM, &original[1], nullptr);
}

}  // namespace
}  // namespace gengap::cli
