#!/usr/bin/env bash
# One study from a fresh clone: installs what is missing, builds, and runs
# `gengap study NAME` (modes-shift | capacity | sample-size | diffusion-time | smoothing | digits) into
# results/NAME; further arguments go to the program (e.g. --set n=500).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${GENGAP_BUILD_DIR:-$root/build}"
if [[ $# -lt 1 ]]; then
  echo "usage: scripts/run_study.sh modes-shift|capacity|sample-size|diffusion-time|smoothing|digits [gengap study options...]" >&2
  exit 2
fi
name="$1"
shift
"$root/scripts/build.sh"
"$build/cli/gengap" study "$name" --out "$root/results/$name" "$@"
