#pragma once
// The names of an enum's values, one table per enum, from which both its
// parse_* and its to_string are made: a name is spelled once, and every
// unknown name gets the same message,
//   "<field>: unknown <what> '<name>' (expected a|b|c)".
#include <cstddef>
#include <span>
#include <string_view>

namespace gengap {

template <class Enum>
struct EnumName {
  Enum value;
  std::string_view name;  // a string literal (to_string's const char* callers rely on it)
};

// Throws InvalidArgument(field, "unknown <what> '<name>' (expected a|b|c)").
[[noreturn]] void throw_unknown_enum_name(std::string_view name, std::span<const std::string_view> names,
                                          std::string_view field, std::string_view what);
[[noreturn]] void throw_invalid_enum_value(std::string_view field, std::string_view what);

template <class Enum, std::size_t N>
Enum parse_enum_name(std::string_view name, const EnumName<Enum> (&names)[N], std::string_view field,
                     std::string_view what) {
  std::string_view spelled[N];
  for (std::size_t k = 0; k < N; ++k) {
    if (names[k].name == name) return names[k].value;
    spelled[k] = names[k].name;
  }
  throw_unknown_enum_name(name, spelled, field, what);
}

// Throws InvalidArgument(field, "not a valid <what> value") for a value outside the table
// (a cast from an out-of-range integer).
template <class Enum, std::size_t N>
std::string_view enum_name(Enum value, const EnumName<Enum> (&names)[N], std::string_view field,
                           std::string_view what) {
  for (const auto& entry : names) {
    if (entry.value == value) return entry.name;
  }
  throw_invalid_enum_value(field, what);
}

}  // namespace gengap
