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
# The sanitizer build needs nothing from the tests: it starts now at the lowest CPU priority and
# takes the cycles the tests leave idle (the whole-job tests wait on Slurm, heartbeats and paced
# runs for about a quarter of their time); the sanitizer suite at the end then only runs.
sanitize_build_pid=
if [ "${VLM_SANITIZER_TESTS:-1}" = 1 ]; then
  # A process group of its own (set -m), so that a failing test run stops the compilers too; not
  # a session of its own (setsid): with the kernel's autogroup scheduling, nice counts only
  # within a session, and a build in another one took half the cores from the learning runs.
  set -m
  VLM_SANITIZE_BUILD_ONLY=1 nice -n 19 bash "$root/scripts/sanitize.sh" \
    > "$build_dir/sanitize-build.log" 2>&1 &
  sanitize_build_pid=$!
  set +m
  trap '[ -n "$sanitize_build_pid" ] && kill -- "-$sanitize_build_pid" 2>/dev/null || true' EXIT
fi
# Unit tests and whole-job tests share the cores (the whole-job tests that rest on short timeouts
# run alone: tests/CMakeLists.txt); the learning runs run one at a time (their 15-minute bar
# assumes the machine to itself, but for the sanitizer build's idle-priority share).
ctest --output-on-failure -j "$(nproc)" -L unit
ctest --output-on-failure -L dist
if [ "${VLM_LEARNING_TESTS:-1}" = 1 ]; then
  ctest --output-on-failure -L learning
fi
ctest --output-on-failure -j "$(nproc)" -L e2e
if [ "${VLM_SANITIZER_TESTS:-1}" = 1 ]; then
  if ! wait "$sanitize_build_pid"; then
    cat "$build_dir/sanitize-build.log"
    echo "sanitize: the build failed" >&2
    exit 1
  fi
  sanitize_build_pid=
  tail -1 "$build_dir/sanitize-build.log"
  bash "$root/scripts/sanitize.sh"
fi
