// The progress line (cli/progress_bar.hpp): percent, bar and ETA arithmetic
// of format_line, and what a ProgressBar writes to a file (non-interactive:
// plain lines, rate-limited; interactive: one line redrawn with '\r'), on a
// fake clock so that the rate limit is tested without sleeping.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <thread>
#include <vector>

// The command-line program's sources are not in a library the tests link
// (cli/CMakeLists.txt builds them into the executable only): compile the unit
// under test into this test.
#include "progress_bar.hpp"
#include "test_support.hpp"

namespace gengap::cli {
namespace {

using Bar = ProgressBar;

TEST(ProgressBarFormat, PercentBarAndEta) {
  // 42% after 65 s: ETA = 65 * 58 / 42 = 89.76 s -> 1m30s.
  EXPECT_EQ(Bar::format_line("run", 42.0, 100.0, 65.0, "", 10), "run [####------] 42% 1m05s elapsed, ETA 1m30s");
  EXPECT_EQ(Bar::format_line("run", 42.0, 100.0, 65.0, "mu=3", 10),
            "run [####------] 42% 1m05s elapsed, ETA 1m30s  mu=3");
  // Work in any unit: 3 of 12 after 10 s -> 30 s left.
  EXPECT_EQ(Bar::format_line("S", 3.0, 12.0, 10.0, "", 4), "S [#---] 25% 10s elapsed, ETA 30s");
  // Rounded down: 99.9% is not done yet, the bar not full.
  EXPECT_EQ(Bar::format_line("x", 999.0, 1000.0, 999.0, "", 10), "x [#########-] 99% 16m39s elapsed, ETA 1s");
  // Hours.
  EXPECT_EQ(Bar::format_line("x", 1.0, 4.0, 3723.0, "", 0), "x 25% 1h02m elapsed, ETA 3h06m");
}

TEST(ProgressBarFormat, EtaUnknownBeforeProgress) {
  EXPECT_EQ(Bar::format_line("run", 0.0, 10.0, 5.0, "", 5), "run [-----] 0% 5s elapsed, ETA --");
  EXPECT_EQ(Bar::format_line("run", -3.0, 10.0, 5.0, "", 5), "run [-----] 0% 5s elapsed, ETA --");
}

TEST(ProgressBarFormat, ClampsAndZeroTotal) {
  // More work reported than announced: 100%, nothing left.
  EXPECT_EQ(Bar::format_line("run", 15.0, 10.0, 20.0, "", 5), "run [#####] 100% 20s elapsed, ETA 0s");
  // Nothing to do is complete.
  EXPECT_EQ(Bar::format_line("run", 0.0, 0.0, 0.0, "", 5), "run [#####] 100% 0s elapsed, ETA 0s");
  // Negative elapsed (a clock stepping back) shows as 0.
  EXPECT_EQ(Bar::format_line("run", 1.0, 2.0, -4.0, "", 2), "run [#-] 50% 0s elapsed, ETA 0s");
}

TEST(ProgressBarFormat, Widths) {
  for (const std::size_t width : {0u, 1u, 7u, 40u}) {
    const std::string line = Bar::format_line("w", 0.5, 1.0, 1.0, "", width);
    if (width == 0) {
      EXPECT_EQ(line.find('['), std::string::npos) << line;
      continue;
    }
    const std::size_t open = line.find('['), close = line.find(']');
    ASSERT_NE(close, std::string::npos) << line;
    EXPECT_EQ(close - open - 1, width) << line;
    EXPECT_EQ(std::count(line.begin(), line.end(), '#'), static_cast<long>(width / 2)) << line;
  }
  EXPECT_EQ(Bar::format_line("", 1.0, 2.0, 1.0, "", 2), "[#-] 50% 1s elapsed, ETA 1s");
}

TEST(ProgressBarFormat, Durations) {
  EXPECT_EQ(Bar::format_duration(0.0), "0s");
  EXPECT_EQ(Bar::format_duration(59.4), "59s");
  EXPECT_EQ(Bar::format_duration(59.6), "1m00s");
  EXPECT_EQ(Bar::format_duration(3599.0), "59m59s");
  EXPECT_EQ(Bar::format_duration(3600.0), "1h00m");
  EXPECT_EQ(Bar::format_duration(123 * 3600.0 + 4 * 60 + 59), "123h04m");
  EXPECT_EQ(Bar::format_duration(1e12), ">9999h");
  EXPECT_EQ(Bar::format_duration(-1.0), "--");
  EXPECT_EQ(Bar::format_duration(std::nan("")), "--");
  EXPECT_EQ(Bar::format_final_line("run", 3.0, 4.0, 155.0, "kept 3", 4), "run [###-] 75% done in 2m35s  kept 3");
}

// A tmpfile as the stream and a clock the test moves by hand.
class ProgressBarOutput : public testing::Test {
 protected:
  void SetUp() override {
    file_ = std::tmpfile();
    ASSERT_NE(file_, nullptr);
  }
  void TearDown() override { std::fclose(file_); }

  Bar::Options options(bool interactive, double interval) {
    Bar::Options o;
    o.stream = file_;
    o.interactive = interactive;
    o.min_interval_seconds = interval;
    o.bar_width = 4;
    o.clock = [this] { return now_; };
    return o;
  }
  std::string written() {
    std::fflush(file_);
    std::rewind(file_);
    std::string s;
    for (int c; (c = std::fgetc(file_)) != EOF;) s += static_cast<char>(c);
    return s;
  }

  std::FILE* file_ = nullptr;
  double now_ = 100.0;
};

TEST_F(ProgressBarOutput, NonInteractiveLinesAreRateLimited) {
  Bar bar("S", 10.0, options(false, 10.0));
  EXPECT_EQ(written(), "");  // nothing at the start: a log gets lines only as time passes
  for (int k = 0; k < 4; ++k) {
    now_ += 2.0;
    bar.advance(1.0, "a");  // 2 s: a new note, written at once; 4, 6, 8 s: the same note, within the interval
  }
  const std::string first = "S [----] 10% 2s elapsed, ETA 18s  a\n";
  EXPECT_EQ(written(), first);
  now_ += 1.0;
  bar.advance(0.5);
  bar.advance(0.5, "b");  // 9 s: within the interval, but a new note
  now_ += 9.0;
  bar.advance(1.0);  // 9 s since that line: none
  EXPECT_EQ(written(), first + "S [##--] 50% 9s elapsed, ETA 9s  b\n");
  now_ += 1.0;
  bar.advance(1.0);  // 10 s since the line, note kept
  now_ += 5.0;
  bar.finish("end");
  bar.finish("again");  // once only
  bar.advance(1.0);      // after the end: counted, not drawn
  EXPECT_EQ(written(), first +
                           "S [##--] 50% 9s elapsed, ETA 9s  b\n"
                           "S [##--] 70% 19s elapsed, ETA 8s  b\n"
                           "S [##--] 70% done in 24s  end\n");
  EXPECT_EQ(bar.done(), 8.0);
}

TEST_F(ProgressBarOutput, DefaultIntervalIsTenSecondsForLogs) {
  Bar::Options o = options(false, -1.0);
  Bar bar("S", 80.0, o);
  for (int k = 0; k < 79; ++k) {
    now_ += 0.125;  // 9.875 s of updates (steps exact in binary)
    bar.advance(1.0);
  }
  EXPECT_EQ(written(), "");
  now_ += 0.125;
  bar.advance(1.0);
  EXPECT_EQ(written(), "S [####] 100% 10s elapsed, ETA 0s\n");
}

TEST_F(ProgressBarOutput, InteractiveRedrawsOneLine) {
  {
    // Clock steps exact in binary, so the interval comparisons are exact.
    Bar bar("S", 4.0, options(true, 0.25));
    now_ += 0.25;
    bar.advance(1.0, "a long note");
    now_ += 0.125;
    bar.advance(1.0, "x");  // 0.125 s after the last draw: skipped
    now_ += 0.125;
    bar.advance(0.0, "x");  // 0.25 s: drawn, shorter than the previous line
    bar.finish();
  }
  const std::string first = "\rS [----] 0% 0s elapsed, ETA --";
  const std::string second = "\rS [#---] 25% 0s elapsed, ETA 1s  a long note";
  const std::string third = "\rS [##--] 50% 1s elapsed, ETA 1s  x";
  const std::string last = "\rS [##--] 50% done in 1s  x";
  std::string expected = first + second + third;
  expected.append(second.size() - third.size(), ' ');  // leftovers of the longer line blanked
  expected += last + std::string(third.size() - last.size(), ' ') + "\n";
  EXPECT_EQ(written(), expected);
}

TEST_F(ProgressBarOutput, InteractiveLineEndedWhenNotFinished) {
  { Bar bar("S", 4.0, options(true, 0.2)); }
  EXPECT_EQ(written(), "\rS [----] 0% 0s elapsed, ETA --\n");
}

TEST_F(ProgressBarOutput, DisabledWritesNothing) {
  Bar::Options o = options(true, 0.0);
  o.enabled = false;
  {
    Bar bar("S", 4.0, o);
    bar.advance(2.0);
    bar.finish();
    EXPECT_EQ(bar.done(), 2.0);
  }
  EXPECT_EQ(written(), "");
}

// Many threads advancing at once: no update lost, every line whole.
TEST_F(ProgressBarOutput, ThreadSafe) {
  Bar bar("S", 4000.0, options(false, 0.0));
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) bar.advance(1.0);
    });
  }
  for (auto& t : threads) t.join();
  bar.finish();
  EXPECT_EQ(bar.done(), 4000.0);
  const std::string out = written();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 4001);
  EXPECT_NE(out.find("S [####] 100% done in 0s\n"), std::string::npos);
}

TEST(ProgressBarErrors, NameTheField) {
  Bar::Options o;
  o.enabled = false;
  expect_invalid([&] { Bar("S", -1.0, o); }, "total_work");
  expect_invalid([&] { Bar("S", std::nan(""), o); }, "total_work");
  Bar bar("S", 1.0, o);
  expect_invalid([&] { bar.advance(-0.5); }, "work");
  expect_invalid([&] { bar.advance(std::numeric_limits<double>::infinity()); }, "work");
}

}  // namespace
}  // namespace gengap::cli
