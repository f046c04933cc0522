#!/usr/bin/env bash
# Installs, builds and runs every test: unit tests, the collectives under mpirun (1-4 ranks), the
# learning runs (minutes each; skip them with VLM_LEARNING_TESTS=0 while iterating) and the
# whole-job tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh
bash scripts/build.sh
build_dir=${VLM_BUILD_DIR:-$root/build}
cd "$build_dir"
# Unit tests and whole-job tests share the cores (the whole-job tests that rest on short timeouts
# run alone: tests/CMakeLists.txt); the learning runs run one at a time (their 15-minute bar
# assumes the machine to itself).
ctest --output-on-failure -j "$(nproc)" -L unit
ctest --output-on-failure -L dist
if [ "${VLM_LEARNING_TESTS:-1}" = 1 ]; then
  ctest --output-on-failure -L learning
fi
ctest --output-on-failure -j "$(nproc)" -L e2e
