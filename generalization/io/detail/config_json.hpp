#pragma once
// Reading one JSON config value with errors that name the dotted key: shared
// by every strict config reader (S1's EarlyStoppingConfig, the studies'
// StudyConfig), so that the same mistake gets the same message everywhere.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "gengap/kernels/error.hpp"

namespace gengap::detail {

// Shortest round-trip form (0.0005, 1e-10, 64000), not std::to_string's fixed six decimals.
std::string config_number(double x);
// "number 2.5", "string \"x\"" (long values cut at 40 characters).
std::string describe_json(const nlohmann::json& value);
// A finite number; InvalidArgument(key, ...) otherwise.
double read_json_double(const nlohmann::json& value, const std::string& key);
std::string read_json_string(const nlohmann::json& value, const std::string& key);
// A non-negative integer; 1e3 or 1000.0 (integers written as floats) are
// accepted when exact.
std::uint64_t read_json_unsigned(const nlohmann::json& value, const std::string& key);
// InvalidArgument(key, "must be positive[ and finite], got ...") unless value > 0 (and finite).
void require_positive(std::size_t value, const char* key);
void require_positive(double value, const char* key);
// "field: problem" of a library error re-labelled with the config's dotted
// key, so the user sees the key they typed.
[[noreturn]] void rethrow_as(const std::string& key, const InvalidArgument& error);
// The same for an options struct read from a config group: "rtol: ..." from
// ReverseSdeOptions::validate becomes "sampler.rtol: ...".
[[noreturn]] void rethrow_in_group(const std::string& group, const InvalidArgument& error);

// The writing side: NaN and infinities are not JSON, so a missing or
// non-finite number is written as null.
nlohmann::ordered_json number_or_null(double x);

}  // namespace gengap::detail
