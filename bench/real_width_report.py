"""bench/real_width.sh's table: reads the scratch folder the script filled, prints the table and
writes the JSON. Exits 1 when the losses of 2 and 3 ranks differ by more than 1e-5 relative or a
rank's peak resident memory is more than 15% from the plan's figure.

FLOPs are counted per sequence, as the model computes them: the decoder 6 x its matmul weights
(the lm_head included, the embedding lookup not) per token plus attention's 12 x layers x T x d
(PaLM's formula); the projector 6 x its weights per image token; the frozen vision tower forward
only, 2 x its matmul weights per token over the 23 layers LLaVA's layer -2 features need, plus
its attention 4 x T^2 x d per layer.
"""
import json
import os
import re
import sys

GIB = 1 << 30


def read(path):
    with open(path) as f:
        return f.read()


def plan_peak(text):
    """The largest 'peak' line of vlm-worker --plan, in bytes."""
    peaks = []
    for line in text.splitlines():
        m = re.match(r"\s*peak\s+([\d.]+) (GiB|MiB)", line)
        if m:
            peaks.append(float(m.group(1)) * (GIB if m.group(2) == "GiB" else 1 << 20))
    return max(peaks)


def run_peaks(log):
    """Each rank's peak resident bytes, from the trainer's stage-end line."""
    m = re.findall(r"peak resident memory per rank \(GiB\): ([\d. ]+);", log)
    return [float(x) * GIB for x in m[-1].split()]


def metrics(run_dir):
    rows = {}
    for line in read(os.path.join(run_dir, "metrics.jsonl")).splitlines():
        row = json.loads(line)
        rows[row["step"]] = row
    return [rows[k] for k in sorted(rows)]


def flops_per_sequence(seq, image_tokens=576):
    d, layers, inter, vocab = 4096, 2, 11008, 32000
    llm = layers * (4 * d * d + 3 * d * inter) + vocab * d
    decoder = 6 * llm * seq + 12 * layers * seq * d * seq
    d_v, inter_v, used_layers, t_v = 1024, 4096, 23, 577
    projector = 6 * (d_v * d + d * d) * image_tokens
    vision = used_layers * (2 * (4 * d_v * d_v + 2 * d_v * inter_v) * t_v + 4 * t_v * t_v * d_v)
    return decoder + projector + vision


def main():
    work, json_path = sys.argv[1], sys.argv[2]
    peak_gflops = float(read(os.path.join(work, "matmul_gflops")).strip())
    seq = 1024
    report = {"matmul_gflops_2_threads": peak_gflops,
              "load_before": read(os.path.join(work, "load_before")).strip(),
              "load_after": read(os.path.join(work, "load_after")).strip(), "runs": {}}
    failures = []
    losses = {}
    for ranks in (2, 3):
        rows = metrics(os.path.join(work, f"run{ranks}"))
        losses[ranks] = [r["loss"] for r in rows]
        step_times = [r["step_time_s"] for r in rows]
        tokens = rows[-1]["tokens"]
        sequences = tokens / seq
        # The first step warms the allocator and the caches: the rest are the steady state.
        steady = step_times[1:] or step_times
        step_s = sum(steady) / len(steady)
        mfu = flops_per_sequence(seq) * sequences / step_s / (peak_gflops * 1e9)
        plan = plan_peak(read(os.path.join(work, f"plan{ranks}.txt")))
        peaks = run_peaks(read(os.path.join(work, f"run{ranks}.log")))
        ratios = [p / plan for p in peaks]
        report["runs"][ranks] = {"s_per_step": step_s, "tokens_per_s": tokens / step_s,
                                 "mfu": mfu, "plan_peak_gib": plan / GIB,
                                 "peak_rss_gib": [p / GIB for p in peaks],
                                 "peak_over_plan": ratios, "losses": losses[ranks],
                                 "wall_s": int(read(os.path.join(work, f"seconds{ranks}")))}
        for rank, ratio in enumerate(ratios):
            if abs(ratio - 1) > 0.15:
                failures.append(f"{ranks} ranks, rank {rank}: peak/plan {ratio:.3f}")
    worst = max(abs(a - b) / abs(b) for a, b in zip(losses[2], losses[3]))
    report["loss_rel_diff_2_vs_3"] = worst
    if worst > 1e-5 or len(losses[2]) != len(losses[3]):
        failures.append(f"losses of 2 and 3 ranks differ by {worst:.2e} relative")

    peer_text = read(os.path.join(work, "peer.json")).strip()
    peer = json.loads(peer_text) if peer_text else {"results": []}
    report["pytorch_ddp"] = peer

    print(f"real width: d 4096 x 2 layers + CLIP ViT-L/14-336, {seq}-token sequences, ZeRO-3, "
          f"fp32; matmul peak {peak_gflops:.0f} GFLOP/s (2 threads)")
    print(f"{'run':<22} {'s/step':>8} {'tokens/s':>9} {'MFU':>6} {'peak GiB/rank':>16} "
          f"{'plan GiB':>9}")
    for ranks, run in report["runs"].items():
        peaks = " ".join(f"{p:.2f}" for p in run["peak_rss_gib"])
        print(f"{'vlmtrain ' + str(ranks) + ' ranks':<22} {run['s_per_step']:>8.1f} "
              f"{run['tokens_per_s']:>9.0f} {run['mfu']:>6.1%} {peaks:>16} "
              f"{run['plan_peak_gib']:>9.2f}")
    results = peer.get("results", [])
    if results and all(r.get("fits") for r in results):
        times = results[0]["step_times_s"][1:] or results[0]["step_times_s"]
        step_s = sum(times) / len(times)
        peaks = " ".join(f"{r['peak_rss_bytes'] / GIB:.2f}" for r in results)
        print(f"{'PyTorch DDP 2 ranks':<22} {step_s:>8.1f} "
              f"{results[0]['tokens_per_step'] / step_s:>9.0f} "
              f"{flops_per_sequence(seq) * results[0]['tokens_per_step'] / seq / step_s / (peak_gflops * 1e9):>6.1%} "
              f"{peaks:>16}")
    else:
        need = max((r.get("needed_bytes_per_rank", 0) for r in results), default=0)
        where = "; ".join(f"rank {r['rank']}: {r.get('stage')}: {r.get('error', '')}"
                          for r in results) or "no rank reported"
        print(f"{'PyTorch DDP 2 ranks':<22} does not fit: needs {need / GIB:.1f} GiB per rank for "
              f"weights, gradients and AdamW alone (2 ranks: {2 * need / GIB:.1f} GiB of this "
              f"machine's 24); {where}")
    print(f"losses, 2 vs 3 ranks: {losses[2]} vs {losses[3]}: largest difference {worst:.2e} "
          "relative")
    with open(json_path, "w") as f:
        json.dump(report, f, indent=2)
    if failures:
        print("FAIL: " + "; ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
