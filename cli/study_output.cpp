#include "study_output.hpp"

#include <cmath>
#include <cstdio>

namespace gengap::cli {

std::string format_number(double x, const char* pattern) {
  if (!std::isfinite(x)) return "-";
  char text[48];
  std::snprintf(text, sizeof text, pattern, x);
  return text;
}

void print_plots(const nlohmann::ordered_json& plots, const std::filesystem::path& dir) {
  if (plots.contains("error")) {
    std::fprintf(stderr, "gengap: warning: plots not drawn (%s); their data and gnuplot scripts are in %s\n",
                 plots["error"].get<std::string>().c_str(), dir.string().c_str());
  } else if (plots.contains("files")) {
    std::string files;
    for (const auto& name : plots["files"]) files += (files.empty() ? "" : ", ") + name.get<std::string>();
    std::printf("  plots: %s (%s)\n", dir.string().c_str(), files.c_str());
  }
}

}  // namespace gengap::cli
