#pragma once
// Strict reading of a JSON config object, shared by every config reader (S1's
// EarlyStoppingConfig, the S2-S4 sweep group, S6's SmoothingStudyConfig):
// each known key is read once with an error naming the dotted key, and
// anything left over is an unknown key (a typo must not be silently ignored).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "gengap/generalization/io/detail/config_json.hpp"

namespace gengap::detail {

class ObjectReader {
 public:
  // prefix: the object's dotted key ("" for the root, named "config" in errors).
  ObjectReader(const nlohmann::json& object, std::string prefix) : object_(object), prefix_(std::move(prefix)) {
    if (!object_.is_object()) {
      throw InvalidArgument(prefix_.empty() ? "config" : prefix_, "expected a JSON object, got " + describe_json(object_));
    }
  }
  std::string key(const std::string& name) const { return prefix_.empty() ? name : prefix_ + "." + name; }
  // The value of `name` (marked as read), or nullptr when absent.
  const nlohmann::json* find(const std::string& name) {
    const auto it = object_.find(name);
    if (it == object_.end()) return nullptr;
    used_.insert(name);
    return &*it;
  }
  // Reads `name` into target when present: double, bool, string, optional
  // double (null: unset), vector of doubles, vector of counts, or a count.
  template <class T>
  void read(const std::string& name, T& target) {
    const nlohmann::json* value = find(name);
    if (value == nullptr) return;
    const std::string full = key(name);
    if constexpr (std::is_same_v<T, double>) {
      target = read_json_double(*value, full);
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!value->is_boolean()) throw InvalidArgument(full, "expected true or false, got " + describe_json(*value));
      target = value->get<bool>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      target = read_json_string(*value, full);
    } else if constexpr (std::is_same_v<T, std::optional<double>>) {
      if (value->is_null()) {
        target.reset();
      } else {
        target = read_json_double(*value, full);
      }
    } else if constexpr (std::is_same_v<T, std::vector<double>> || std::is_same_v<T, std::vector<std::size_t>>) {
      constexpr bool counts = std::is_same_v<T, std::vector<std::size_t>>;
      if (!value->is_array()) {
        throw InvalidArgument(full, std::string("expected an array of ") + (counts ? "integers" : "numbers") +
                                        ", got " + describe_json(*value));
      }
      T values;
      for (std::size_t i = 0; i < value->size(); ++i) {
        const std::string element = full + "[" + std::to_string(i) + "]";
        if constexpr (counts) {
          values.push_back(static_cast<std::size_t>(read_json_unsigned((*value)[i], element)));
        } else {
          values.push_back(read_json_double((*value)[i], element));
        }
      }
      target = std::move(values);
    } else if constexpr (std::is_same_v<T, std::size_t> || std::is_same_v<T, std::uint64_t>) {
      target = static_cast<T>(read_json_unsigned(*value, full));
    } else {
      static_assert(sizeof(T) == 0, "no JSON reader for this type: use read_named");
    }
  }
  // Reads a name (string) and converts it with parse(name); parse's
  // InvalidArgument is re-labelled with the dotted key.
  template <class T, class Parse>
  void read_named(const std::string& name, T& target, Parse parse) {
    const nlohmann::json* value = find(name);
    if (value == nullptr) return;
    const std::string full = key(name);
    const std::string text = read_json_string(*value, full);
    try {
      target = parse(text);
    } catch (const InvalidArgument& e) {
      rethrow_as(full, e);
    }
  }
  // When `name` is present: its object read by fill(ObjectReader&) (keys
  // prefixed "<this key>.<name>."), then checked for unknown keys.
  template <class Fill>
  void read_group(const std::string& name, Fill fill) {
    const nlohmann::json* value = find(name);
    if (value == nullptr) return;
    ObjectReader group(*value, key(name));
    fill(group);
    group.finish();
  }
  // Throws "<key>: unknown key" for the first key not read.
  void finish() const {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (!used_.contains(it.key())) throw InvalidArgument(key(it.key()), "unknown key");
    }
  }

 private:
  const nlohmann::json& object_;
  std::string prefix_;
  std::set<std::string> used_;
};

// `patch` over `target`: objects merge key by key, anything else replaces
// (null included: "kl.t_min": null means "unset", not "remove the key").
inline void merge_into(nlohmann::json& target, const nlohmann::json& patch) {
  if (!patch.is_object() || !target.is_object()) {
    target = patch;
    return;
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (target.contains(it.key())) {
      merge_into(target[it.key()], it.value());
    } else {
      target[it.key()] = it.value();
    }
  }
}

}  // namespace gengap::detail
