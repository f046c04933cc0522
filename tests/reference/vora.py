"""Reference for a VoRA training loss, recomputed in plain torch (float64).

Usage: vora.py DIR, where DIR holds what tests/unit/models/vora_test.cc wrote:
  weights.safetensors  every parameter by its model name (teacher, vision embedding, LLM with
                       LoRA factors, aux heads)
  batch.safetensors    input_ids (-200 at image slots), labels (-100: no loss), images, lengths,
                       attention_mask (the C++ side's)
  ours.safetensors     loss, ce, distill, block_sum.<i>, logits, image_embeds, grad.<name>
  config.json          the scalar settings

It builds the attention mask itself from the image slot positions and checks the C++ mask entry
by entry, then computes the forward pass (vision embedding and aux heads here; the teacher
and the LLaMA decoder with LoRA from ref_models.py), the loss L = CE + mean over blocks and image tokens of (1 - cos) and its gradients by
autograd, and compares. The teacher is CLIP's tower or AIMv2's (config "teacher"); its targets are
its patch tokens (CLIP's class token dropped). Exits non-zero on any disagreement.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_models as ref  # noqa: E402
import safetensors_io  # noqa: E402

IMAGE_SLOT = -200
IGNORE = -100


# ---- the mask ------------------------------------------------------------------------------

def image_spans(row_ids, tokens_per_image):
    """(start, length) of each image: consecutive runs of slots, split into whole images."""
    spans, t, seq = [], 0, len(row_ids)
    while t < seq:
        if row_ids[t] != IMAGE_SLOT:
            t += 1
            continue
        start = t
        while t < seq and row_ids[t] == IMAGE_SLOT:
            t += 1
        run = t - start
        assert run % tokens_per_image == 0, f"a run of {run} slots is not whole images"
        spans += [(s, tokens_per_image) for s in range(start, t, tokens_per_image)]
    return spans


def reference_mask(input_ids, lengths, tokens_per_image):
    """0 where query q may see key k: k real and (k <= q or q and k in one image); else -inf."""
    batch, seq = input_ids.shape
    mask = torch.full((batch, 1, seq, seq), float("-inf"), dtype=torch.float64)
    for b in range(batch):
        ids = input_ids[b].tolist()
        image_of = [None] * seq
        for n, (start, length) in enumerate(image_spans(ids, tokens_per_image)):
            for t in range(start, start + length):
                image_of[t] = n
        for q in range(seq):
            for k in range(seq):
                real = k < lengths[b]
                same_image = image_of[q] is not None and image_of[q] == image_of[k]
                if real and (k <= q or same_image):
                    mask[b, 0, q, k] = 0.0
    return mask


def show_mask(mask_row, ids):
    marks = ["I" if i == IMAGE_SLOT else "t" for i in ids]
    print("     k: " + " ".join(marks))
    for q, row in enumerate(mask_row):
        cells = " ".join("." if v == 0 else "x" for v in row.tolist())
        print(f"q {q:2d} {marks[q]}: {cells}")


# ---- the model -----------------------------------------------------------------------------

def vision_embedding(W, images, cfg):
    p = "vision_embedding."
    x = F.conv2d(images, W[p + "patch_embed.weight"], W[p + "patch_embed.bias"],
                 stride=cfg["patch_size"])
    x = x.flatten(2).transpose(1, 2)
    x = ref.rms_norm(W, p + "norm", x, cfg["rms_norm_eps"]) + W[p + "position_embedding"]
    return x @ W[p + "proj.weight"].T


def main(folder):
    W = safetensors_io.load(os.path.join(folder, "weights.safetensors"))
    batch = safetensors_io.load(os.path.join(folder, "batch.safetensors"))
    ours = safetensors_io.load(os.path.join(folder, "ours.safetensors"))
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    ok = True

    input_ids, labels = batch["input_ids"], batch["labels"]
    lengths = batch["lengths"].tolist()
    P = cfg["image_tokens"]
    mask = reference_mask(input_ids, lengths, P)
    same = torch.equal(mask, batch["attention_mask"].double())
    print("mask of the two-image row (. visible, x masked):")
    show_mask(mask[0, 0], input_ids[0].tolist())
    print(f"{'ok  ' if same else 'FAIL'} attention mask: equal entry by entry")
    if not same:
        bad = (mask != batch["attention_mask"].double()).nonzero().tolist()
        print(f"  {len(bad)} entries differ, first {bad[:5]}")
        ok = False

    trainable = [name[len("grad."):] for name in ours if name.startswith("grad.")]
    for name in trainable:
        W[name] = W[name].clone().requires_grad_(True)

    images = batch["images"].double()
    image_embeds = vision_embedding(W, images, cfg)  # [N, P, d_h]
    slots = (input_ids == IMAGE_SLOT).reshape(-1)
    token_ids = input_ids.masked_fill(input_ids == IMAGE_SLOT, 0)
    embeds = W["llm.model.embed_tokens.weight"][token_ids]  # frozen
    d = embeds.shape[-1]
    flat = embeds.reshape(-1, d).clone()
    flat[slots] = image_embeds.reshape(-1, d)
    decoder_cfg = {"heads": cfg["llm_heads"], "kv_heads": cfg["llm_kv_heads"] or cfg["llm_heads"],
                   "rope_theta": cfg["rope_theta"], "eps": cfg["rms_norm_eps"],
                   "lora_scale": cfg["lora_scale"]}
    logits, _, blocks = ref.decoder(W, flat.view(embeds.shape), mask, decoder_cfg)

    targets = labels[:, 1:].reshape(-1)
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets,
                         ignore_index=IGNORE, reduction="sum") / (targets != IGNORE).sum()

    with torch.no_grad():
        if cfg["teacher"] == "aimv2":
            teacher = ref.aimv2_hidden_states(W, "vision.", images, cfg["vit_heads"],
                                              cfg["vit_rms_norm_eps"])
        else:
            teacher = ref.clip_hidden_states(W, "vision.", images, cfg["vit_heads"],
                                             cfg["layer_norm_eps"])
    first_patch = 0 if cfg["teacher"] == "aimv2" else 1  # CLIP's token 0 is its class token
    block_sums, tokens = {}, int(slots.sum())
    for i in cfg["blocks"]:
        student = blocks[i - 1].reshape(-1, d)[slots]
        head = f"aux_heads.{i}."
        student = ref.rms_norm(W, head + "norm", student, cfg["rms_norm_eps"]) \
            @ W[head + "proj.weight"].T
        target = teacher[i][:, first_patch:].reshape(-1, teacher[i].shape[-1])
        cosine = (student * target).sum(-1) / (student.norm(dim=-1) * target.norm(dim=-1))
        block_sums[i] = (1 - cosine).sum()
    distill = sum(block_sums.values()) / (tokens * len(block_sums))
    loss = ce + distill
    grads = torch.autograd.grad(loss, [W[name] for name in trainable])

    checks = [("loss", loss), ("ce", ce), ("distill", distill), ("logits", logits),
              ("image_embeds", image_embeds)]
    checks += [(f"block_sum.{i}", s) for i, s in block_sums.items()]
    checks += [("grad." + name, g) for name, g in zip(trainable, grads)]
    for name, expected in checks:
        ok &= safetensors_io.compare(name, ours[name], expected.detach(), rtol=1e-5)
    print(f"{len(trainable)} gradients checked; loss {loss.item():.6f} (ce {ce.item():.6f}, "
          f"distill {distill.item():.6f})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
