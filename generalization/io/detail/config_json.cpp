#include "gengap/generalization/io/detail/config_json.hpp"

#include <cmath>

#include <fmt/format.h>

namespace gengap::detail {

std::string config_number(double x) { return fmt::format("{}", x); }

std::string describe_json(const nlohmann::json& value) {
  const std::string text = value.dump();
  return std::string(value.type_name()) + " " + (text.size() > 40 ? text.substr(0, 37) + "..." : text);
}

double read_json_double(const nlohmann::json& value, const std::string& key) {
  if (!value.is_number()) throw InvalidArgument(key, "expected a number, got " + describe_json(value));
  const double x = value.get<double>();
  if (!std::isfinite(x)) throw InvalidArgument(key, "must be finite, got " + config_number(x));
  return x;
}

std::string read_json_string(const nlohmann::json& value, const std::string& key) {
  if (!value.is_string()) throw InvalidArgument(key, "expected a string, got " + describe_json(value));
  return value.get<std::string>();
}

std::uint64_t read_json_unsigned(const nlohmann::json& value, const std::string& key) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer()) {  // signed storage (a C++ int literal): fine unless negative
    const std::int64_t x = value.get<std::int64_t>();
    if (x < 0) throw InvalidArgument(key, "must be a non-negative integer, got " + value.dump());
    return static_cast<std::uint64_t>(x);
  }
  if (value.is_number_float()) {
    const double x = value.get<double>();
    if (std::isfinite(x) && x >= 0.0 && x == std::floor(x) && x < 1.8e19) return static_cast<std::uint64_t>(x);
    throw InvalidArgument(key, "must be a non-negative integer, got " + value.dump());
  }
  throw InvalidArgument(key, "expected a non-negative integer, got " + describe_json(value));
}

nlohmann::ordered_json number_or_null(double x) {
  return std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr);
}

void rethrow_as(const std::string& key, const InvalidArgument& error) {
  const std::string what = error.what();
  const std::size_t colon = what.find(": ");
  throw InvalidArgument(key, colon == std::string::npos ? what : what.substr(colon + 2));
}

void rethrow_in_group(const std::string& group, const InvalidArgument& error) {
  const std::string what = error.what();
  const std::size_t colon = what.find(": ");
  if (colon == std::string::npos) throw InvalidArgument(group, what);
  throw InvalidArgument(group + "." + what.substr(0, colon), what.substr(colon + 2));
}

void require_positive(std::size_t value, const char* key) {
  require(value > 0, key, "must be positive, got " + std::to_string(value));
}

void require_positive(double value, const char* key) {
  require(std::isfinite(value) && value > 0.0, key, "must be positive and finite, got " + config_number(value));
}

}  // namespace gengap::detail
