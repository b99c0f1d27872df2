#pragma once
// What every `gengap study` command does around its run, shared by the S2-S4
// sweeps (study_command.cpp) and S6 smoothing (smoothing_study_command.cpp):
// numbers in the terminal table, the final status in config.json, and the
// plots line.
#include <exception>
#include <filesystem>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace gengap::cli {

// printf of x with `pattern`; "-" when x is not finite (not computed).
std::string format_number(double x, const char* pattern = "%.4g");

// Runs the study and leaves config.json with its final status, each write
// under `write_mutex` (the interrupt's): "complete" after `run` returns,
// "failed: <what>" when it throws (then rethrows; the finished part of the
// folder stays valid and config.json says why the rest is missing).
// write_record(status) writes config.json.
template <class Run, class WriteRecord>
auto run_recording_status(std::mutex& write_mutex, Run&& run, WriteRecord&& write_record) {
  try {
    auto result = run();
    const std::lock_guard lock(write_mutex);
    write_record(std::string("complete"));
    return result;
  } catch (const std::exception& e) {
    const std::lock_guard lock(write_mutex);
    try {
      write_record(std::string("failed: ") + e.what());
    } catch (const std::exception&) {
      // The previous config.json stays: it describes the finished part.
    }
    throw;
  }
}

// "  plots: <dir> (a.png, b.png)" on stdout, or a warning on stderr when
// they could not be drawn (plots_record's "error": the data and scripts are there).
void print_plots(const nlohmann::ordered_json& plots, const std::filesystem::path& dir);

}  // namespace gengap::cli
