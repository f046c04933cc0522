"""Inverse-LLaVA's forward, loss and gradients in plain torch, against vlmtrain's.

Usage: inverse_fusion.py <dir>, where <dir> holds (written by tests/unit/models/fusion_test.cc):
  params.safetensors  every parameter of the model by its full name ("llm.model.layers.0...")
  batch.safetensors   input_ids [B, T] (-200 at image slots), labels [B, T] (-100: none),
                      images [N, 3, H, W]
  config.safetensors  the scalar settings as one-element tensors, and fusion_vision_layers
  ours.safetensors    vlmtrain's logits, loss and "grad.<name>" for each parameter it trained

The model is written out here from the paper (Inverse-LLaVA Eq. 3-5) and the HF layouts of
CLIPVisionModel and LlamaForCausalLM; it shares no code with the C++ side. Exits 1 on any
difference above the bar.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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


def layer_norm(x, p, prefix, eps):
    return F.layer_norm(x, (x.shape[-1],), p[prefix + ".weight"], p[prefix + ".bias"], eps)


def linear(x, p, prefix):
    return F.linear(x, p[prefix + ".weight"], p.get(prefix + ".bias"))


def clip_hidden_states(pixels, p, s):
    """HF CLIPVisionModel's hidden_states: [0] embeddings after pre_layrnorm, [i] layer i."""
    root = "vision.vision_model."
    eps = s.float("vision_layer_norm_eps")
    heads = s.int("vision_num_heads")
    patch = s.int("vision_patch_size")
    patches = F.conv2d(pixels, p[root + "embeddings.patch_embedding.weight"], stride=patch)
    patches = patches.flatten(2).transpose(1, 2)
    cls = p[root + "embeddings.class_embedding"].expand(pixels.shape[0], 1, -1)
    x = torch.cat([cls, patches], 1) + p[root + "embeddings.position_embedding.weight"]
    x = layer_norm(x, p, root + "pre_layrnorm", eps)
    states = [x]
    for i in range(s.int("vision_num_layers")):
        prefix = f"{root}encoder.layers.{i}."
        h = layer_norm(x, p, prefix + "layer_norm1", eps)
        n, t, d = h.shape
        hd = d // heads

        def split(y):
            return y.view(n, t, heads, hd).transpose(1, 2)

        q = split(linear(h, p, prefix + "self_attn.q_proj")) / math.sqrt(hd)
        k = split(linear(h, p, prefix + "self_attn.k_proj"))
        v = split(linear(h, p, prefix + "self_attn.v_proj"))
        attn = torch.softmax(q @ k.transpose(-1, -2), -1) @ v
        x = x + linear(attn.transpose(1, 2).reshape(n, t, d), p, prefix + "self_attn.out_proj")
        h = linear(layer_norm(x, p, prefix + "layer_norm2", eps), p, prefix + "mlp.fc1")
        x = x + linear(h * torch.sigmoid(1.702 * h), p, prefix + "mlp.fc2")
        states.append(x)
    return states


def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], -1)


def apply_rope(x, theta):
    """x [B, H, T, D]; positions 0..T-1, HF LLaMA's rotate_half convention."""
    t, d = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.outer(torch.arange(t, dtype=torch.float64), inv_freq)
    emb = torch.cat([angles, angles], -1).to(x.dtype)
    return x * emb.cos() + rotate_half(x) * emb.sin()


def fusion_terms(h, vision, p, prefix, mode):
    """What the fusion adds to q_proj(H), k_proj(H), v_proj(H) (paper Eq. 3-5, or the public
    code's additive form)."""
    f = prefix + "self_attn.fusion."
    terms = []
    if mode == "concat":
        joint = torch.cat([h @ p[f + "t2v.weight"].t(), vision], -1)
        for name in "qkv":
            terms.append(p[f + f"alpha_{name}"] * (joint @ p[f + f"{name}_concat.weight"].t()))
    else:
        for name in "qkv":
            inner = F.gelu(linear(vision, p, f + f"{name}_down"))
            terms.append(p[f + f"alpha_{name}"] * linear(inner, p, f + f"{name}_up"))
    return terms


def decoder_layer(x, vision, p, prefix, s, mode):
    eps = s.float("llm_rms_norm_eps")
    heads, kv_heads = s.int("llm_num_heads"), s.int("llm_num_kv_heads")
    b, t, d = x.shape
    hd = d // heads
    h = rms_norm(x, p[prefix + "input_layernorm.weight"], eps)
    q = linear(h, p, prefix + "self_attn.q_proj")
    k = linear(h, p, prefix + "self_attn.k_proj")
    v = linear(h, p, prefix + "self_attn.v_proj")
    if prefix + "self_attn.fusion.alpha_q" in p:
        dq, dk, dv = fusion_terms(h, vision, p, prefix, mode)
        q, k, v = q + dq, k + dk, v + dv
    q = apply_rope(q.view(b, t, heads, hd).transpose(1, 2), s.float("llm_rope_theta"))
    k = apply_rope(k.view(b, t, kv_heads, hd).transpose(1, 2), s.float("llm_rope_theta"))
    v = v.view(b, t, kv_heads, hd).transpose(1, 2)
    repeat = heads // kv_heads  # query head i reads key/value head i // repeat (HF's repeat_kv)
    k = k.repeat_interleave(repeat, dim=1)
    v = v.repeat_interleave(repeat, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    scores = scores.masked_fill(~causal, float("-inf"))
    attn = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(b, t, d)
    x = x + linear(attn, p, prefix + "self_attn.o_proj")
    h = rms_norm(x, p[prefix + "post_attention_layernorm.weight"], eps)
    gate = linear(h, p, prefix + "mlp.gate_proj")
    up = linear(h, p, prefix + "mlp.up_proj")
    return x + linear(F.silu(gate) * up, p, prefix + "mlp.down_proj")


def forward(p, batch, s, mode, vision_layers):
    ids = batch["input_ids"]
    slots = ids == IMAGE_SLOT
    # Vision stream: the chosen hidden states side by side, CLS dropped, written into the image
    # slots in row-major order; zeros at text positions.
    states = clip_hidden_states(batch["images"], p, s)
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
    for i in range(s.int("llm_num_layers")):
        x = decoder_layer(x, vision, p, f"llm.model.layers.{i}.", s, mode)
    x = rms_norm(x, p["llm.model.norm.weight"], s.float("llm_rms_norm_eps"))
    head = p.get("llm.lm_head.weight", p["llm.model.embed_tokens.weight"])
    return x @ head.t()


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
