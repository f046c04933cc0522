#!/usr/bin/env bash
# The communicator's collectives on the MPI backend: the unit test, under mpirun -np 3. Every rank
# must run every test of the group and pass them all: each of the 3 ranks prints gtest's summary
# with the number of tests the group lists, and no rank reports a failure.
source "$(dirname "$0")/lib.sh"
filter='Communicator.*'
test_cluster=$build_dir/tests/test_cluster
listed=$("$test_cluster" --gtest_filter="$filter" --gtest_list_tests | grep -c '^  ')
[ "$listed" -ge 3 ] || fail "the group lists $listed tests, expected at least 3"
mpirun --oversubscribe -np 3 "$test_cluster" --gtest_filter="$filter" --gtest_color=no \
  > "$work/out.txt" 2>&1 || fail "collectives failed under mpirun: $(cat "$work/out.txt")"
passed=$(grep -c "\[  PASSED  \] $listed tests\." "$work/out.txt")
[ "$passed" -eq 3 ] && ! grep -q '\[  FAILED  \]' "$work/out.txt" ||
  fail "$passed of 3 ranks passed all $listed tests: $(cat "$work/out.txt")"
echo "PASS"
