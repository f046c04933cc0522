"""Compares two vlm-worker runs: per-step losses (metrics.jsonl) to a relative tolerance, and
the final model's tensors (every *.safetensors under final/) to an absolute one, or to one
relative to each tensor's largest value. A step logged more than once (a run killed after it and
resumed from an earlier checkpoint) counts with its last value. Tolerances of 0: bit for bit.
Usage: compare_runs.py REFERENCE CANDIDATE [--loss-rtol 1e-5] [--param-atol 1e-5]
                       [--param-rtol R]"""
import argparse, json, pathlib, sys


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "reference"))
from safetensors_io import load_numpy as read_safetensors  # noqa: E402


def losses(run):
    last = {}
    for line in open(run / "metrics.jsonl"):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # half a line: the run was killed while writing it
            continue
        # The loss and each of its terms ("loss/text_ce", "loss/image_l2", ...).
        for key, value in row.items():
            if key == "loss" or key.startswith("loss/"):
                last[(row["stage"], row["step"], key)] = value
    return [(stage, step, key, loss) for (stage, step, key), loss in last.items()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reference", type=pathlib.Path)
    parser.add_argument("candidate", type=pathlib.Path)
    parser.add_argument("--loss-rtol", type=float, default=1e-5)
    parser.add_argument("--param-atol", type=float, default=1e-5)
    parser.add_argument("--param-rtol", type=float, default=None,
                        help="instead of --param-atol: max |a - b| / max |a| per tensor")
    args = parser.parse_args()
    ref, cand = losses(args.reference), losses(args.candidate)
    assert [r[:3] for r in ref] == [c[:3] for c in cand], f"steps differ: {ref} vs {cand}"
    worst_loss = max(abs(a[3] - b[3]) / max(abs(a[3]), 1e-12) for a, b in zip(ref, cand))
    files = sorted(p.relative_to(args.reference) for p in (args.reference / "final").rglob("*.safetensors"))
    assert files, f"no safetensors under {args.reference}/final"
    worst_param, worst_relative, count = 0.0, 0.0, 0
    for rel in files:
        a, b = read_safetensors(args.reference / rel), read_safetensors(args.candidate / rel)
        assert a.keys() == b.keys(), f"{rel}: tensor names differ"
        for name in a:
            if a[name].size == 0:
                continue
            ref_values, cand_values = a[name].astype("f8"), b[name].astype("f8")
            assert ref_values.shape == cand_values.shape, f"{rel} {name}: shapes differ"
            diff = float(abs(ref_values - cand_values).max())
            if diff != diff:  # a NaN on either side is a difference, never a match
                diff = float("inf")
            scale = float(abs(ref_values).max())
            worst_param = max(worst_param, diff)
            worst_relative = max(worst_relative, diff / scale if scale > 0 else diff)
            count += 1
    print(f"{len(ref)} logged losses and loss terms: worst difference {worst_loss:.2e} (relative), "
          f"{count} tensors: worst parameter difference {worst_param:.2e} "
          f"({worst_relative:.2e} of the tensor's largest value)")
    params_ok = (worst_relative <= args.param_rtol if args.param_rtol is not None
                 else worst_param <= args.param_atol)
    ok = worst_loss <= args.loss_rtol and params_ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
