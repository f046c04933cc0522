#!/usr/bin/env bash
# Installs, builds and runs every test (unit tests, then the whole-job tests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh
bash scripts/build.sh
build_dir=${VLM_BUILD_DIR:-$root/build}
cd "$build_dir"
# Unit tests share the 2 cores; the whole-job tests measure learning and run one at a time.
ctest --output-on-failure -j "$(nproc)" -L unit
ctest --output-on-failure -L e2e
