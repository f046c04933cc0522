#!/usr/bin/env bash
# The learning tests' shared corpus: vlm-synth's shapes corpus (seed 11), sharded, written once
# per ctest run into BUILD/test-data/learning-corpus (a ctest fixture the learning tests require)
# instead of once per test. Its `complete` file is written last: a test never uses a half-made
# corpus. Usage: make_learning_corpus.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$(cd "$1" && pwd)
src_dir=$(cd "$2" && pwd)
source "$src_dir/scripts/env.sh"
bin=$build_dir/bin
target=$build_dir/test-data/learning-corpus
rm -rf "$target"
mkdir -p "$target"
start=$(date +%s)
"$bin/vlm-synth" --out "$target" --seed 11 > /dev/null
bash "$src_dir/scripts/shard_tiny_corpus.sh" "$bin" "$target" > "$target/shard.log" 2>&1 \
  || { tail -n 20 "$target/shard.log"; echo "FAIL: vlm-shard failed" >&2; exit 1; }
touch "$target/complete"
echo "learning corpus: $target ($(( $(date +%s) - start )) s)"
