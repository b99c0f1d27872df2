#pragma once
// The options of `gengap study NAME`, shared by the sweep studies
// (study_command.hpp) and S6 (smoothing_study_command.hpp), which the sweep
// command dispatches to.
#include <string>

#include "config_overrides.hpp"

namespace gengap::cli {

struct StudyCommandOptions : ConfigCommandOptions {
  std::string study;  // modes-shift | capacity | sample-size | diffusion-time | smoothing
  std::string out;    // empty: results/<study>
};

}  // namespace gengap::cli
