#pragma once
// What every run records beside its numbers (STYLE.md "Results carry what was
// requested and what was actually used"): library and dependency versions,
// compiler and instruction set, OpenBLAS core, thread count, and wall-clock
// time per phase.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace gengap {

// Wall-clock seconds per named phase, in the order the phases ran.
class PhaseTimings {
 public:
  void add(std::string phase, double seconds);
  const std::vector<std::pair<std::string, double>>& phases() const { return phases_; }
  double seconds(const std::string& phase) const;  // 0 if the phase did not run
  double total() const;
  // {"<phase>": seconds, ..., "total": seconds}
  nlohmann::ordered_json to_json() const;

  // Times a scope: PhaseTimings::Scope s(timings, "gram_train");
  class Scope {
   public:
    Scope(PhaseTimings& timings, std::string phase);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    PhaseTimings& timings_;
    std::string phase_;
    std::chrono::steady_clock::time_point start_;
  };

 private:
  std::vector<std::pair<std::string, double>> phases_;
};

// The environment of this process: gengap version, compiler, -march flag,
// xsimd architecture, OpenBLAS core/config/threads (and OPENBLAS_CORETYPE if
// set), TBB version, the number of TBB threads allowed, host and UTC start time.
nlohmann::ordered_json environment_record();

// "2024-05-01T12:34:56Z"
std::string utc_timestamp();

}  // namespace gengap
