#!/usr/bin/env bash
# The communicator's collectives on the MPI backend: the unit test, under mpirun -np 3.
source "$(dirname "$0")/lib.sh"
mpirun --oversubscribe -np 3 "$build_dir/tests/test_cluster" --gtest_filter='Communicator.*' --gtest_color=no \
  > "$work/out.txt" 2>&1 || fail "collectives failed under mpirun: $(cat "$work/out.txt")"
[ "$(grep -c '\[  PASSED  \] 2 tests' "$work/out.txt")" -eq 3 ] ||
  fail "not every rank passed: $(cat "$work/out.txt")"
echo "PASS"
