#!/usr/bin/env bash
# The sanitizer suite: the LibTorch-free libraries (every parser, the shard reader and writer, the
# run's network parts) built with AddressSanitizer and UBSan into build-sanitize/ (or
# $VLM_SANITIZE_BUILD_DIR), then their unit tests and the fuzzers, with more mutants than the
# ordinary suite runs (VLM_FUZZ_ITERATIONS). Any report ends the test that made it, and the suite.
# VLM_SANITIZE_BUILD_ONLY=1: build, run nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/env.sh"
build_dir=${VLM_SANITIZE_BUILD_DIR:-$root/build-sanitize}
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVLM_SANITIZE=ON \
  -DVLM_TORCH_FREE=ON -DVLM_WITH_CUDA=OFF >/dev/null
start=$(date +%s)
cmake --build "$build_dir" -j "$(nproc)"
echo "sanitize: built in $(( $(date +%s) - start )) s ($build_dir)"
# scripts/test.sh builds early, in the background, and runs the tests later.
[ "${VLM_SANITIZE_BUILD_ONLY:-0}" = 1 ] && exit 0
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export VLM_FUZZ_ITERATIONS=${VLM_FUZZ_ITERATIONS:-20000}
cd "$build_dir"
start=$(date +%s)
ctest --output-on-failure -j "$(nproc)" -L unit
echo "sanitize: tests passed in $(( $(date +%s) - start )) s"
