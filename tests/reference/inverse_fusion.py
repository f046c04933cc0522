"""Inverse-LLaVA's forward, loss and gradients in plain torch, against vlmtrain's.

Usage: inverse_fusion.py <dir>, where <dir> holds (written by tests/unit/models/fusion_test.cc):
  params.safetensors  every parameter of the model by its full name ("llm.model.layers.0...")
  batch.safetensors   input_ids [B, T] (-200 at image slots), labels [B, T] (-100: none),
                      images [N, 3, H, W]
  config.safetensors  the scalar settings as one-element tensors, and fusion_vision_layers
  ours.safetensors    vlmtrain's logits, loss and "grad.<name>" for each parameter it trained

The fusion is written out here from the paper (Inverse-LLaVA Eq. 3-5; V RMS-normalised first when
the model has a fusion vision_norm, as the public code's concat layer does), the rest of the model
from ref_models.py (HF's CLIPVisionModel and LlamaForCausalLM); none of it shares code with the
C++ side. Exits 1 on any
difference above the bar.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_models as ref  # noqa: E402
import safetensors_io  # noqa: E402

IMAGE_SLOT = -200
IGNORE = -100


class Settings:
    def __init__(self, tensors):
        self.t = tensors

    def int(self, key):
        return int(self.t[key].reshape(-1)[0].item())

    def float(self, key):
        return float(self.t[key].reshape(-1)[0].item())


def fusion_terms(h, vision, p, prefix, mode):
    """What the fusion adds to q_proj(H), k_proj(H), v_proj(H) (paper Eq. 3-5, or the public
    code's additive form)."""
    f = prefix + "self_attn.fusion."
    terms = []
    if f + "vision_norm.weight" in p:
        # The public concat layer's LlamaRMSNorm(d_v), built without an eps: its default 1e-6.
        vision = ref.rms_norm(p, f + "vision_norm", vision, 1e-6)
    if mode == "concat":
        joint = torch.cat([h @ p[f + "t2v.weight"].t(), vision], -1)
        for name in "qkv":
            terms.append(p[f + f"alpha_{name}"] * (joint @ p[f + f"{name}_concat.weight"].t()))
    else:
        for name in "qkv":
            inner = F.gelu(ref.linear(p, f + f"{name}_down", vision))
            terms.append(p[f + f"alpha_{name}"] * ref.linear(p, f + f"{name}_up", inner))
    return terms


def forward(p, batch, s, mode, vision_layers):
    ids = batch["input_ids"]
    slots = ids == IMAGE_SLOT
    # Vision stream: the chosen hidden states side by side, CLS dropped, written into the image
    # slots in row-major order; zeros at text positions.
    states = ref.clip_hidden_states(p, "vision.", batch["images"], s.int("vision_num_heads"),
                                    s.float("vision_layer_norm_eps"))
    features = torch.cat([states[i] for i in vision_layers], -1)
    if s.int("vision_drop_cls"):
        features = features[:, 1:]
    d_v = features.shape[-1]
    vision = torch.zeros(ids.shape[0] * ids.shape[1], d_v, dtype=features.dtype)
    vision[slots.reshape(-1).nonzero().reshape(-1)] = features.reshape(-1, d_v)
    vision = vision.view(ids.shape[0], ids.shape[1], d_v)
    # Text stream: token embeddings, zeros at the image slots.
    x = p["llm.model.embed_tokens.weight"][ids.masked_fill(slots, 0)]
    x = x.masked_fill(slots.unsqueeze(-1), 0.0)
    cfg = {"heads": s.int("llm_num_heads"), "kv_heads": s.int("llm_num_kv_heads"),
           "rope_theta": s.float("llm_rope_theta"), "eps": s.float("llm_rms_norm_eps")}

    def fusion_of(layer):  # the fusion blocks add to q_proj(H), k_proj(H), v_proj(H)
        prefix = f"llm.model.layers.{layer}."
        if prefix + "self_attn.fusion.alpha_q" not in p:
            return None
        return lambda h: fusion_terms(h, vision, p, prefix, mode)

    b, t = ids.shape
    logits, _, _ = ref.decoder(p, x, ref.causal_mask(b, t, [t] * b, dtype=x.dtype), cfg, fusion_of)
    return logits


def next_token_loss(logits, labels):
    targets = labels[:, 1:].reshape(-1)
    flat = logits[:, :-1].reshape(-1, logits.shape[-1])
    kept = targets != IGNORE
    return F.cross_entropy(flat[kept], targets[kept], reduction="sum") / kept.sum()


def expect_zero(name, ours, expected, bar=1e-12):
    """A key bias shifts every score of a query row alike, and softmax ignores that: without a
    mask (CLIP's attention) its gradient is zero in exact arithmetic, and both sides hold only
    rounding noise, which a relative comparison would weigh as signal."""
    worst = max(ours.abs().max().item(), expected.abs().max().item())
    ok = worst <= bar
    print(f"{'ok  ' if ok else 'FAIL'} {name}: zero in exact arithmetic, largest entry "
          f"{worst:.3g} (bar {bar:g})")
    return ok


def main():
    folder = sys.argv[1]
    params = safetensors_io.load(os.path.join(folder, "params.safetensors"))
    batch = safetensors_io.load(os.path.join(folder, "batch.safetensors"))
    settings_tensors = safetensors_io.load(os.path.join(folder, "config.safetensors"))
    ours = safetensors_io.load(os.path.join(folder, "ours.safetensors"))
    s = Settings(settings_tensors)
    mode = "concat" if s.int("fusion_concat") else "additive"
    tower_layers = s.int("vision_num_layers")
    vision_layers = [i if i >= 0 else tower_layers + 1 + i
                     for i in settings_tensors["fusion_vision_layers"].tolist()]
    print(f"mode {mode}, vision hidden states {vision_layers}, "
          f"fusion blocks {sorted({n.split('.')[3] for n in params if '.fusion.' in n})}")

    for tensor in params.values():
        tensor.requires_grad_(True)
    logits = forward(params, batch, s, mode, vision_layers)
    loss = next_token_loss(logits, batch["labels"])
    loss.backward()

    ok = safetensors_io.compare("logits", ours["logits"], logits.detach())
    ok &= safetensors_io.compare("loss", ours["loss"].reshape(()), loss.detach())
    checked = [name[len("grad."):] for name in ours if name.startswith("grad.")]
    for name in ["t2v.weight", "q_concat.weight", "alpha_q"] if mode == "concat" else \
            ["q_down.weight", "q_up.weight", "alpha_q"]:
        if not any(n.endswith("fusion." + name) for n in checked):
            print(f"FAIL no gradient of a fusion {name} was given to check")
            ok = False
    for name in sorted(checked):
        if name.startswith("vision.") and name.endswith("self_attn.k_proj.bias"):
            ok &= expect_zero("grad " + name, ours["grad." + name], params[name].grad)
            continue
        ok &= safetensors_io.compare("grad " + name, ours["grad." + name], params[name].grad)
    print(f"{len(checked)} gradients compared")
    print("PASS" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
