#!/usr/bin/env bash
# The bytes each rank sends per step (Communicator::traffic, counted in every flat-buffer
# collective) match ZeRO's analysis within 10% at 2 and 3 ranks: stage 0's all-reduce and stages
# 1-2's reduce-scatter plus all-gather move 2 x trainable parameters x (N-1)/N elements a rank;
# stage 3 gathers every parameter for the forward and again for the backward and reduce-scatters
# the trainable ones: (2 x parameters + trainable) x (N-1)/N. Ours sends a little less at stage 3:
# the embedding is not gathered again for its backward, which reads none of its weights (here
# 5.6% of ZeRO's figure). fp32: 4 bytes an element; with training.dtype bf16 at stages 2 and 3,
# 2 bytes (bf16 gradients travel and are summed in fp32, bf16 parameters are gathered), ZeRO's
# 16-bit figure.
source "$(dirname "$0")/lib.sh"

# params_heavy cut to 2 layers and 4,096 rows (12.6M parameters): the counts are exact at any size,
# and its random initialisation, not the step, is most of a run's time.
recipe=$src_dir/tests/e2e/recipes/params_heavy.yaml
smaller=(--set model.llm.num_layers=2 --set model.llm.vocab_size=4096)
for ranks in 2 3; do
  for stage in 0 1 2 3; do
    mpirun --oversubscribe -np "$ranks" "$bin/vlm-bench-engine" --recipe "$recipe" \
      "${smaller[@]}" --set sharding.stage="$stage" --steps 1 --warmup 0 --batch 1 --seq 16 \
      --json "$work/r${ranks}_s$stage.json" > "$work/r${ranks}_s$stage.log" 2>&1 \
      || { tail -n 20 "$work/r${ranks}_s$stage.log"; fail "ranks $ranks stage $stage failed"; }
  done
  for stage in 2 3; do
    mpirun --oversubscribe -np "$ranks" "$bin/vlm-bench-engine" --recipe "$recipe" \
      "${smaller[@]}" --set sharding.stage="$stage" --set training.dtype=bf16 --steps 1 \
      --warmup 0 --batch 1 --seq 16 --json "$work/r${ranks}_s${stage}_bf16.json" \
      > "$work/r${ranks}_s${stage}_bf16.log" 2>&1 \
      || { tail -n 20 "$work/r${ranks}_s${stage}_bf16.log"; fail "ranks $ranks stage $stage bf16"; }
  done
done
/usr/bin/python3 - "$work" <<'PY' || fail "the traffic is not ZeRO's"
import json, sys
print(f"{'ranks':<6} {'stage':<6} {'dtype':<6} {'sent MB/step':>13} {'ZeRO MB/step':>13} "
      f"{'ratio':>7}")
bad = []
runs = [(ranks, stage, "fp32") for ranks in (2, 3) for stage in range(4)]
runs += [(ranks, stage, "bf16") for ranks in (2, 3) for stage in (2, 3)]
for ranks, stage, dtype in runs:
    suffix = "_bf16" if dtype == "bf16" else ""
    r = json.load(open(f"{sys.argv[1]}/r{ranks}_s{stage}{suffix}.json"))
    params, trainable = r["params"], r["trainable_params"]
    elements = (2 * params + trainable) if stage == 3 else 2 * trainable
    zero = (2 if dtype == "bf16" else 4) * elements * (ranks - 1) / ranks
    ratio = r["sent_bytes_per_step"] / zero
    print(f"{ranks:<6} {stage:<6} {dtype:<6} {r['sent_bytes_per_step'] / 1e6:13.2f} "
          f"{zero / 1e6:13.2f} {ratio:7.3f}")
    if abs(ratio - 1) > 0.10:
        bad.append(f"{ranks} ranks stage {stage} {dtype}: sent/ZeRO {ratio:.3f}")
assert not bad, "; ".join(bad)
PY
echo "PASS"
