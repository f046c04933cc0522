#!/usr/bin/env bash
# Installs the dependencies (idempotent) and builds everything into build/ (or $VLM_BUILD_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/env.sh"
bash "$root/scripts/install-deps.sh"
build_dir=${VLM_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${VLM_CMAKE_ARGS:-} >/dev/null
start=$(date +%s)
cmake --build "$build_dir" -j "$(nproc)"
echo "build: done in $(( $(date +%s) - start )) s ($build_dir)"
