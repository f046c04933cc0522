"""VDEP's exact split recomputed from its written rule, apart from our C++ (data/vdep_mix.h).

Usage: vdep_split.py CORPUS_JSON SEED GLOBAL_BATCH RATIO STAGE TRACE_FILE...

CORPUS_JSON is the caption file the stage read (a JSON array, or JSON Lines); TRACE_FILEs are
what vlm-worker wrote with VLM_TRACE_ROWS (one JSON line per row a rank trained: stage, step,
position, sample, vdep, label_tokens). The rule, from the paper (vdep.txt 3.3: "within each batch,
the data is evenly divided, with one half (randomly selected) used to compute the image loss and
the other half to compute the text loss"; 4: "We double the input data"):
  V = floor(B r / (1 + r) + 0.5) VDEP rows and L = B - V LLaVA rows in every global batch;
  mode m (0 LLaVA, 1 VDEP) reads stream S_m, pass p of which is range(N) shuffled by
  Rng(derive_seed(seed, 0x76646570, 2 p + m)); S_m[k] = pass k // N, entry k % N;
  global batch b lays out [1] * V + [0] * L shuffled by Rng(derive_seed(seed, 0x726f6c6573, b));
  the j-th VDEP slot of batch b (counted from slot 0) holds S_1[b V + j], the j-th LLaVA slot
  S_0[b L + j].
Checks, over every traced step: each global position holds the sample and mode the rule gives;
every global batch is whole (B rows) with exactly V VDEP rows; VDEP rows carry no labelled token
and LLaVA rows do (the text and image terms come from disjoint rows). Prints a summary.
"""
import json
import math
import sys
from collections import defaultdict

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX_STREAM = 0x76646570  # "vdep"
ROLE_STREAM = 0x726F6C6573  # "roles"


def mix64(x):
    x = (x + GOLDEN) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def derive_seed(seed, a, b=0):
    return mix64(mix64(mix64(seed & MASK) ^ (a & MASK)) ^ (b & MASK))


class Rng:
    """splitmix64: the state advances by the golden gamma, each output is mix64 of the state."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + GOLDEN) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):  # multiply-shift: (next * n) >> 64
        return (self.next() * n) >> 64

    def shuffle(self, items):  # Fisher-Yates from the back
        for i in range(len(items), 1, -1):
            j = self.below(i)
            items[i - 1], items[j] = items[j], items[i - 1]


class Rule:
    def __init__(self, seed, samples, batch, ratio):
        self.seed, self.n, self.batch = seed, samples, batch
        self.vdep_rows = math.floor(batch * ratio / (1.0 + ratio) + 0.5)
        self.llava_rows = batch - self.vdep_rows
        self.passes = {}

    def stream(self, mode, k):
        p = k // self.n
        if (mode, p) not in self.passes:
            order = list(range(self.n))
            Rng(derive_seed(self.seed, MIX_STREAM, 2 * p + mode)).shuffle(order)
            self.passes[(mode, p)] = order
        return self.passes[(mode, p)][k % self.n]

    def batch_rows(self, b):
        roles = [1] * self.vdep_rows + [0] * self.llava_rows
        Rng(derive_seed(self.seed, ROLE_STREAM, b)).shuffle(roles)
        seen = [0, 0]
        rows = []
        for mode in roles:
            per_batch = self.vdep_rows if mode else self.llava_rows
            rows.append((self.stream(mode, b * per_batch + seen[mode]), mode))
            seen[mode] += 1
        return rows


def corpus_size(path):
    with open(path) as f:
        text = f.read()
    if text.lstrip().startswith("["):
        return len(json.loads(text))
    return sum(1 for line in text.splitlines() if line.strip())


def main():
    corpus, seed, batch, ratio, stage = sys.argv[1:6]
    seed, batch, ratio = int(seed), int(batch), float(ratio)
    rule = Rule(seed, corpus_size(corpus), batch, ratio)
    rows = {}
    for path in sys.argv[6:]:
        for line in open(path):
            row = json.loads(line)
            if row["stage"] != stage:
                continue
            assert row["position"] not in rows, f"position {row['position']} traced twice"
            rows[row["position"]] = row
    assert rows, f"no traced rows of stage {stage}"
    by_batch = defaultdict(list)
    for position, row in rows.items():
        by_batch[position // batch].append(row)
    for b, members in sorted(by_batch.items()):
        assert len(members) == batch, f"batch {b} has {len(members)} traced rows, not {batch}"
        expected = rule.batch_rows(b)
        for row in members:
            sample, mode = expected[row["position"] % batch]
            assert (row["sample"], row["vdep"]) == (sample, mode), (
                f"position {row['position']}: trained sample {row['sample']} vdep {row['vdep']}, "
                f"the rule gives sample {sample} vdep {mode}")
            assert row["step"] == b + 1, f"position {row['position']} trained at step {row['step']}"
            if mode:
                assert row["label_tokens"] == 0, f"VDEP row {row['position']} has labels"
            else:
                assert row["label_tokens"] > 0, f"LLaVA row {row['position']} has no labels"
        vdep = sum(r["vdep"] for r in members)
        assert vdep == rule.vdep_rows, f"batch {b}: {vdep} VDEP rows, not {rule.vdep_rows}"
    print(f"{len(by_batch)} global batches of {batch}, each {rule.vdep_rows} VDEP rows (no labels) "
          f"and {rule.llava_rows} LLaVA rows (labelled), every row the rule's sample and mode")


if __name__ == "__main__":
    main()
