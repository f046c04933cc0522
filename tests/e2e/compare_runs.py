"""Compares two vlm-worker runs: per-step losses (metrics.jsonl) to a relative tolerance, and
the final model's tensors (every *.safetensors under final/) to an absolute one.
Usage: compare_runs.py REFERENCE CANDIDATE [--loss-rtol 1e-5] [--param-atol 1e-5]"""
import argparse, json, pathlib, struct, sys

import torch

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F64": torch.float64}


def read_safetensors(path):
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    body = data[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = bytearray(body[begin:end])
        tensors[name] = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors


def losses(run):
    rows = [json.loads(line) for line in open(run / "metrics.jsonl")]
    return [(r["stage"], r["step"], r["loss"]) for r in rows if "loss" in r]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reference", type=pathlib.Path)
    parser.add_argument("candidate", type=pathlib.Path)
    parser.add_argument("--loss-rtol", type=float, default=1e-5)
    parser.add_argument("--param-atol", type=float, default=1e-5)
    args = parser.parse_args()
    ref, cand = losses(args.reference), losses(args.candidate)
    assert [r[:2] for r in ref] == [c[:2] for c in cand], f"steps differ: {ref} vs {cand}"
    worst_loss = max(abs(a[2] - b[2]) / max(abs(a[2]), 1e-12) for a, b in zip(ref, cand))
    files = sorted(p.relative_to(args.reference) for p in (args.reference / "final").rglob("*.safetensors"))
    assert files, f"no safetensors under {args.reference}/final"
    worst_param, count = 0.0, 0
    for rel in files:
        a, b = read_safetensors(args.reference / rel), read_safetensors(args.candidate / rel)
        assert a.keys() == b.keys(), f"{rel}: tensor names differ"
        for name in a:
            diff = (a[name].double() - b[name].double()).abs().max().item() if a[name].numel() else 0.0
            worst_param = max(worst_param, diff)
            count += 1
    print(f"{len(ref)} steps: worst loss difference {worst_loss:.2e} (relative), "
          f"{count} tensors: worst parameter difference {worst_param:.2e}")
    ok = worst_loss <= args.loss_rtol and worst_param <= args.param_atol
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
