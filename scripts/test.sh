#!/usr/bin/env bash
# Installs, builds and runs every test: unit tests, the collectives under mpirun (1-4 ranks), the
# learning runs (minutes each; skip them with VLM_LEARNING_TESTS=0 while iterating), the
# whole-job tests, and the sanitizer suite (scripts/sanitize.sh: the parsers, readers and network
# parts under ASan and UBSan, with the fuzzers; skip it with VLM_SANITIZER_TESTS=0).
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
if [ "${VLM_SANITIZER_TESTS:-1}" = 1 ]; then
  bash "$root/scripts/sanitize.sh"
fi
