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
# Unit tests share the 2 cores; the learning runs and whole-job tests run one at a time (the
# learning run's 10-minute bar assumes the machine to itself).
ctest --output-on-failure -j "$(nproc)" -L unit
ctest --output-on-failure -L dist
if [ "${VLM_LEARNING_TESTS:-1}" = 1 ]; then
  ctest --output-on-failure -L learning
fi
ctest --output-on-failure -L e2e
