#!/usr/bin/env bash
# Shards the tiny corpus's caption, instruction and VoRA files with 2 ranks, into
# CORPUS/shards/, where the recipes under recipes/tiny read them.
# Usage: shard_tiny_corpus.sh BIN_DIR CORPUS_DIR
set -euo pipefail
bin=$1
corpus=$2
shard() {  # shard INPUT IMAGE_ROOT OUT
  mpirun --oversubscribe -np 2 "$bin/vlm-shard" --input "$corpus/$1" --image-root "$corpus/$2" \
    --out "$corpus/shards/$3"
}
shard blip_laion_cc_sbu_558k.json images captions
shard llava_v1_5_mix665k.json . mix
shard vora_30m.jsonl . vora  # VoRA's captions (frames/) with text-only lines mixed in
