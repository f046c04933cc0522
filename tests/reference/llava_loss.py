"""LLaVA-1.5's and VDEP's first-step losses computed from the raw corpus, for
tests/e2e/test_loss_reference.sh.

Usage: llava_loss.py RECIPE RUN_DIR TRACE_PREFIX CORPUS LLM_FOLDER VISION_FOLDER EXPORT_FOLDER
RECIPE is llava_two_stage (both stages) or vdep (its hybrid pre-training stage).

From our run this script takes only the logged losses and, for LLaVA, which records the first
global batch held (the row trace: corpus indices; the sampler's order is not what is checked
here). Everything else it computes itself:
- VDEP's batch: which records, and which of them in VDEP mode, from the seed by the paper's rule
  (tests/reference/vdep_split.py, exactly half of the batch in each mode);
- the samples: the records read from the corpus's JSON file, rendered, tokenized and masked by
  tests/js/template_reference.js (LLaVA's conversation.py and preprocess rules on the model
  folder's tokenizer.json), each <image> widened to the tower's patch count as LLaVA's
  prepare_inputs_labels_for_multimodal does; a VDEP-mode row gets the added <auto_image> token
  right before its image and no label (vdep.txt 3.3: that half gives only the image loss);
- the pixels: tests/e2e/image_reference.py's reading of LLaVA's image pipeline (Pillow);
- the model: tests/reference/ref_models.py in float64 on the weights of the model folders (the
  LLM and the vision tower every stage starts from) plus, from our export, the projector (random
  at step 0) and any token rows the recipe added (VDEP's <auto_image>); only their values come
  from us;
- the loss: every row on its own (no padding). Text: next-token cross entropy summed over the
  labelled targets of the whole global batch, divided by their count (our documented
  normalisation; HF Trainer, which LLaVA uses, averages per-micro-batch means instead, which
  agrees when the micro batches hold as many targets). VDEP's image term: || X_I[j + shift] -
  X_I^h[j] ||^2 summed over the hidden dimension, averaged over every image position pair of the
  batch's VDEP rows, X_I the projector's output (detached), X_I^h the final-norm hidden state.
Exits 1 if a row's labelled-token count or a logged loss term differs (1e-6 relative; ours is float32).
"""
import json
import pathlib
import subprocess
import sys

import numpy as np
import torch

here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here))
sys.path.insert(0, str(here.parent / "e2e"))
import image_reference  # noqa: E402
import ref_models as ref  # noqa: E402
import safetensors_io  # noqa: E402
import vdep_split  # noqa: E402

TOLERANCE = 1e-6
FEATURE_LAYER = -2  # LLaVA-1.5: mm_vision_select_layer -2, patch tokens only
SEED = 42           # training.seed of both published recipes
VDEP_SHIFT = 1      # recipes/vdep.yaml: vdep.shift
VDEP_RATIO = 1.0    # vdep.ratio

# (recipe, stage): (template, corpus file, image root, image aspect)
STAGES = {
    ("llava_two_stage", "pretrain"): ("plain", "LLaVA-Pretrain/blip_laion_cc_sbu_558k.json",
                                      "LLaVA-Pretrain/images", "square"),
    ("llava_two_stage", "finetune"): ("vicuna_v1", "llava_v1_5_mix665k.json", ".", "pad"),
    ("vdep", "pretrain"): ("plain", "LLaVA-Pretrain/blip_laion_cc_sbu_558k.json",
                           "LLaVA-Pretrain/images", "square"),
}


def load_weights(llm, vision, export):
    p = {}
    for prefix, folder in (("llm.", llm), ("vision.", vision)):
        for path in sorted(pathlib.Path(folder).glob("*.safetensors")):
            p.update({prefix + k: v.double() for k, v in safetensors_io.load(path).items()})
    for k, v in safetensors_io.load(export / "projector.safetensors").items():
        p["projector." + k.split("mm_projector.", 1)[1]] = v.double()  # model.mm_projector.{0,2}
    exported = safetensors_io.load(export / "llm" / "model.safetensors")
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        ours, base = exported[name].double(), p["llm." + name]
        # lr 1e-30 moves a zero weight to about 1e-30 and no other.
        assert torch.allclose(ours[:base.shape[0]], base, rtol=0, atol=1e-25), name
        p["llm." + name] = ours  # with the rows the recipe added
    return p


def traced_rows(trace_prefix, stage):
    prefix = pathlib.Path(trace_prefix)
    rows = []
    for path in sorted(prefix.parent.glob(prefix.name + ".rank*.jsonl")):
        rows += [r for r in map(json.loads, open(path)) if r["stage"] == stage and r["step"] == 1]
    rows.sort(key=lambda r: r["position"])
    assert [r["position"] for r in rows] == list(range(len(rows))), "positions are not 0..B-1"
    return rows


def render(template, llm_folder, records):
    lines = "".join(json.dumps(r) + "\n" for r in records)
    out = subprocess.run(["node", "template_reference.js", template, str(llm_folder)],
                         cwd=here.parent / "js", input=lines, capture_output=True, text=True,
                         check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def widen(ids, labels, image_tokens, auto_image=None):
    """Each -200 becomes image_tokens slots with no label, as LLaVA splices image features;
    a VDEP-mode row (auto_image given) gets that token before each image and no labels."""
    out_ids, out_labels = [], []
    for i, label in zip(ids, labels):
        if i == ref.IMAGE_SLOT:
            if auto_image is not None:
                out_ids.append(auto_image)
                out_labels.append(ref.IGNORE)
            out_ids += [ref.IMAGE_SLOT] * image_tokens
            out_labels += [ref.IGNORE] * image_tokens
        else:
            out_ids.append(i)
            out_labels.append(ref.IGNORE if auto_image is not None else label)
    return torch.tensor([out_ids]), torch.tensor([out_labels])


def pixels(path, processor, aspect):
    _, floats = image_reference.reference(path, processor, aspect, "image_mean")
    return torch.from_numpy(np.ascontiguousarray(floats)).double()[None]


def forward(p, cfg, ids, image):
    """(logits, final-norm hidden states, image embeddings or None, slot mask) of one row."""
    embeddings = None
    if image is not None:
        states = ref.clip_hidden_states(p, "vision.", image, cfg["vision_heads"])
        embeddings = ref.projector(p, states[FEATURE_LAYER][:, 1:])
    embeds, slots = ref.embed_with_slots(p, ids, embeddings)
    t = ids.shape[1]
    mask = torch.full((t, t), float("-inf"), dtype=torch.float64).triu(1)[None, None]
    logits, last, _ = ref.decoder(p, embeds, mask, cfg)
    return logits, last, embeddings, slots


def image_pairs(last, embeddings, slots, shift):
    """VDEP's squared distances: hidden state at image position j against embedding j + shift."""
    positions = slots[0].nonzero().flatten()
    h = last[0, positions[: embeddings.shape[1] - shift]]
    target = embeddings[0, shift:].detach()
    return (target - h).pow(2).sum(-1)


class Check:
    def __init__(self):
        self.ok = True

    def close(self, what, reference, ours):
        relative = abs(ours - reference) / abs(reference)
        good = relative <= TOLERANCE
        self.ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {what}: reference {reference:.8f}, ours {ours:.8f}, "
              f"relative {relative:.1e}")


def stage_batch(recipe, stage, trace_prefix, records):
    """[(record index, VDEP mode)] of the first global batch, and our trace of it."""
    rows = traced_rows(trace_prefix, stage)
    if recipe != "vdep":
        return [(r["sample"], 0) for r in rows], rows
    rule = vdep_split.Rule(SEED, len(records), len(rows), VDEP_RATIO)
    return rule.batch_rows(0), rows


def main():
    recipe = sys.argv[1]
    run_dir, trace_prefix, corpus, llm, vision, export = map(pathlib.Path, sys.argv[2:8])
    llm_config = json.load(open(llm / "config.json"))
    vision_config = json.load(open(vision / "config.json"))["vision_config"]
    processor = image_reference.read_processor(vision / "preprocessor_config.json")
    image_tokens = (vision_config["image_size"] // vision_config["patch_size"]) ** 2
    auto_image = llm_config["vocab_size"]  # the first added row
    cfg = {"heads": llm_config["num_attention_heads"],
           "kv_heads": llm_config.get("num_key_value_heads", llm_config["num_attention_heads"]),
           "rope_theta": llm_config.get("rope_theta", 10000.0), "eps": llm_config["rms_norm_eps"],
           "vision_heads": vision_config["num_attention_heads"]}
    p = load_weights(llm, vision, export)
    logged = {m["stage"]: m for m in map(json.loads, open(run_dir / "metrics.jsonl"))
              if m["step"] == 1}

    check = Check()
    for (name, stage), (template, corpus_file, image_root, aspect) in STAGES.items():
        if name != recipe:
            continue
        records = json.load(open(corpus / corpus_file, encoding="utf-8"))
        batch, traced = stage_batch(recipe, stage, trace_prefix, records)
        chosen = [records[index] for index, _ in batch]
        samples = render(template, llm, chosen)
        ce_sum, targets, pairs = 0.0, 0, []
        for (index, vdep), trace, record, sample in zip(batch, traced, chosen, samples):
            assert "ids" in sample and not sample.get("mismatch"), (stage, record["id"], sample)
            if (trace["sample"], trace["vdep"]) != (index, vdep):
                check.ok = False
                print(f"FAIL {stage} position {trace['position']}: ours trained record "
                      f"{trace['sample']} vdep {trace['vdep']}, the rule gives {index} vdep {vdep}")
            ids, labels = widen(sample["ids"], sample["labels"], image_tokens,
                                auto_image if vdep else None)
            image = None
            if "image" in record:
                image = pixels(corpus / image_root / record["image"], processor, aspect)
            logits, last, embeddings, slots = forward(p, cfg, ids, image)
            ce, n = ref.masked_ce_sum(logits, labels)
            if n != trace["label_tokens"]:
                check.ok = False
                print(f"FAIL {stage} position {trace['position']} ({record['id']}): "
                      f"{n} labelled targets, ours {trace['label_tokens']}")
            ce_sum, targets = ce_sum + float(ce), targets + n
            if vdep:
                pairs.append(image_pairs(last, embeddings, slots, VDEP_SHIFT))
        vdep_rows = sum(vdep for _, vdep in batch)
        print(f"{recipe} {stage} ({template}, {aspect}): {len(batch)} rows ({vdep_rows} VDEP), "
              f"{targets} labelled targets")
        check.close(f"{stage} loss/text_ce", ce_sum / targets, logged[stage]["loss/text_ce"])
        if recipe == "vdep":
            check.close(f"{stage} loss/image_l2", float(torch.cat(pairs).mean()),
                        logged[stage]["loss/image_l2"])
    sys.exit(0 if check.ok else 1)


if __name__ == "__main__":
    main()
