# Helpers for the vlm-shard whole-job tests (sourced after lib.sh; not a test itself).

# shard_mpi N ARGS...: vlm-shard on N ranks (more ranks than cores allowed).
shard_mpi() {
  local ranks=$1; shift
  mpirun --oversubscribe -np "$ranks" "$bin/vlm-shard" "$@"
}

# same_folders A B: the same file names, and every file byte-identical.
same_folders() {
  diff <(cd "$1" && ls) <(cd "$2" && ls) > /dev/null || fail "$1 and $2 hold different files"
  local f
  for f in $(cd "$1" && ls); do
    cmp -s "$1/$f" "$2/$f" || fail "$1/$f and $2/$f differ"
  done
}

# index_total FOLDER KEY: a number from index.json's "totals" (or its skipped_by_reason).
index_total() {
  /usr/bin/python3 -c 'import json, sys
t = json.load(open(sys.argv[1] + "/index.json"))["totals"]
print(t[sys.argv[2]] if sys.argv[2] in t else t["skipped_by_reason"][sys.argv[2]])' "$1" "$2"
}

# expect_total FOLDER LOG KEY VALUE: index.json's total KEY is VALUE, else fail showing LOG.
expect_total() {
  local got
  got=$(index_total "$1" "$3")
  [ "$got" = "$4" ] || fail "$3 = $got, want $4; $(cat "$2")"
}

# no_shard_processes: no vlm-shard of this test is still running (mpirun ends them all).
no_shard_processes() {
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    pgrep -f "vlm-shard.*$work" > /dev/null || return 0
    sleep 0.5
  done
  fail "vlm-shard processes left behind: $(pgrep -af "vlm-shard.*$work")"
}
