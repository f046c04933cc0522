#!/usr/bin/env bash
# Installs, builds and runs every test: unit tests, whole-job tests, and (with
# VLM_LEARNING_TESTS=1) the learning runs, which take ~10 minutes each here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh
bash scripts/build.sh
build_dir=${VLM_BUILD_DIR:-$root/build}
cd "$build_dir"
# Unit tests share the 2 cores; the whole-job tests run one at a time.
ctest --output-on-failure -j "$(nproc)" -L unit
if [ "${VLM_LEARNING_TESTS:-0}" = 1 ]; then
  ctest --output-on-failure -L learning
fi
ctest --output-on-failure -L e2e
