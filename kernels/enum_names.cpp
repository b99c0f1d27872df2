#include "gengap/kernels/enum_names.hpp"

#include <string>

#include "gengap/kernels/error.hpp"

namespace gengap {

// Out of line and by append: the messages are built once per misuse, and
// GCC 12 reports false -Wrestrict warnings on inlined std::string operator+.
void throw_unknown_enum_name(std::string_view name, std::span<const std::string_view> names, std::string_view field,
                             std::string_view what) {
  std::string message = "unknown ";
  message.append(what).append(" '").append(name).append("' (expected ");
  for (std::size_t k = 0; k < names.size(); ++k) message.append(k ? "|" : "").append(names[k]);
  message.append(")");
  throw InvalidArgument(field, message);
}

void throw_invalid_enum_value(std::string_view field, std::string_view what) {
  std::string message = "not a valid ";
  message.append(what).append(" value");
  throw InvalidArgument(field, message);
}

}  // namespace gengap
