#!/usr/bin/env bash
# Installs gengap's Debian 12 build and run dependencies if any is missing.
# Idempotent and non-interactive: does nothing when everything is present.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libtbb-dev libxsimd-dev xtl-dev
  libopenblas-dev liblapack-dev liblapacke-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev librandom123-dev
  gnuplot-nox python3-numpy python3-scipy
  python3-dev pybind11-dev python3-pytest python3-matplotlib
  libopenmpi-dev openmpi-bin
  zlib1g-dev python3-sklearn
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
