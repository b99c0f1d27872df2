// Atomic file replacement and output folders: a concurrent reader only ever
// sees a whole old or a whole new file, a failed write leaves the old file and
// no temporary behind, and folder errors name the field and the reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "gengap/generalization/io/atomic_file.hpp"
#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

namespace fs = std::filesystem;

class AtomicFile : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gengap_atomic_test_" + std::to_string(::getpid()) + "_" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }
  fs::path dir_;
};

TEST_F(AtomicFile, WritesAndReplacesWithoutLeftovers) {
  const fs::path file = dir_ / "data.txt";
  write_file_atomically(file, "first");
  EXPECT_EQ(read(file), "first");
  write_file_atomically(file, std::string(100000, 'x'));
  EXPECT_EQ(read(file), std::string(100000, 'x'));
  write_file_atomically(file, "");
  EXPECT_EQ(read(file), "");
  EXPECT_EQ(entries(), 1u);  // no "data.txt.tmp.*" left behind
}

TEST_F(AtomicFile, ConcurrentReaderSeesOnlyWholeVersions) {
  // Two contents of different sizes: a non-atomic overwrite would be observed
  // as a truncated or mixed file by a reader polling in a loop.
  const std::string a(1 << 20, 'a');
  const std::string b((1 << 20) + 4096, 'b');
  const fs::path file = dir_ / "big.bin";
  write_file_atomically(file, a);
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      const std::string s = read(file);
      if (s != a && s != b) ++bad;
      ++reads;
    }
  });
  for (int i = 0; i < 40; ++i) write_file_atomically(file, i % 2 == 0 ? b : a);
  done = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0) << "out of " << reads.load() << " reads";
  EXPECT_GT(reads.load(), 0);
}

TEST_F(AtomicFile, FailedWriteKeepsTargetAndRemovesTemporary) {
  // Renaming a file over a non-empty folder fails (EISDIR/ENOTEMPTY) even for
  // root, which ignores permission bits: the write must fail cleanly.
  const fs::path target = dir_ / "occupied";
  fs::create_directories(target / "inside");
  try {
    write_file_atomically(target, "payload");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write '" + target.string() + "'"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_directory(target / "inside"));
  EXPECT_EQ(entries(), 1u);
  // A missing folder fails before anything is created.
  EXPECT_THROW(write_file_atomically(dir_ / "missing" / "x.txt", "x"), std::runtime_error);
}

TEST_F(AtomicFile, EnsureDirectoryCreatesOrNamesTheProblem) {
  const fs::path nested = dir_ / "a" / "b" / "c";
  ensure_directory(nested);
  EXPECT_TRUE(fs::is_directory(nested));
  ensure_directory(nested);  // existing folder: fine

  const fs::path regular = dir_ / "plain_file";
  write_file_atomically(regular, "x");
  for (const fs::path& bad : {regular, regular / "sub"}) {
    try {
      ensure_directory(bad, "out");
      FAIL() << "expected an error for " << bad;
    } catch (const InvalidArgument& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("out: cannot create '" + bad.string() + "': ", 0), 0u) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace gengap
