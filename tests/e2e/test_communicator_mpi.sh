#!/usr/bin/env bash
# The communicator's collectives on the MPI backend: the unit test, under mpirun -np 3.
source "$(dirname "$0")/lib.sh"
mpirun --oversubscribe -np 3 "$build_dir/tests/test_cluster" --gtest_filter='Communicator.*' --gtest_color=no \
  > "$work/out.txt" 2>&1 || fail "collectives failed under mpirun: $(cat "$work/out.txt")"
# Every rank prints gtest's summary: three PASSED lines, and no FAILED one.
[ "$(grep -c '\[  PASSED  \]' "$work/out.txt")" -eq 3 ] && ! grep -q '\[  FAILED  \]' "$work/out.txt" ||
  fail "not every rank passed: $(cat "$work/out.txt")"
echo "PASS"
