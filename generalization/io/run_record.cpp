#include "gengap/generalization/io/run_record.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/version.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

#include "gengap/kernels/blas_runtime.hpp"
#include "gengap/kernels/simd_info.hpp"
#include "gengap/version.hpp"

namespace gengap {

void PhaseTimings::add(std::string phase, double seconds) { phases_.emplace_back(std::move(phase), seconds); }

double PhaseTimings::seconds(const std::string& phase) const {
  double sum = 0.0;
  for (const auto& [name, s] : phases_) {
    if (name == phase) sum += s;
  }
  return sum;
}

double PhaseTimings::total() const {
  double sum = 0.0;
  for (const auto& entry : phases_) sum += entry.second;
  return sum;
}

nlohmann::ordered_json PhaseTimings::to_json() const {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [name, s] : phases_) j[name] = j.contains(name) ? j[name].get<double>() + s : s;
  j["total"] = total();
  return j;
}

PhaseTimings::Scope::Scope(PhaseTimings& timings, std::string phase)
    : timings_(timings), phase_(std::move(phase)), start_(std::chrono::steady_clock::now()) {}

PhaseTimings::Scope::~Scope() {
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
  timings_.add(std::move(phase_), elapsed.count());
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

nlohmann::ordered_json environment_record() {
  const BlasInfo blas = blas_info();
  nlohmann::ordered_json j;
  j["gengap_version"] = kVersion;
  j["compiler"] = kCompiler;
  j["march"] = kArchFlag;
  j["xsimd_arch"] = simd_architecture();
  j["xsimd_version"] = xsimd_version();
  j["openblas"] = {{"core", blas.core_name},
                   {"recommended_core", blas.recommended_core},
                   {"slow_kernels", blas.slow_kernels},
                   {"threads", blas.threads},
                   {"config", blas.config}};
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  j["openblas"]["OPENBLAS_CORETYPE"] = coretype != nullptr ? coretype : "";
  j["tbb_version"] = TBB_runtime_version();
  j["threads"] = tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  j["host"] = host;
  j["started_utc"] = utc_timestamp();
  return j;
}

}  // namespace gengap
