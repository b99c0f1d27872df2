#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the default study
# (S1 early-stopping) into ${1:-results/s1}.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${GENGAP_BUILD_DIR:-$root/build}"
"$root/scripts/build.sh"
"$build/cli/gengap" run --out "${1:-$root/results/s1}" "${@:2}"
