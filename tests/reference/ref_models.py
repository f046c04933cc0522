"""The model's parts written out plainly in torch, from the parameter names alone, for the
reference checks: a CLIP vision tower, an AIMv2 vision tower, the mlp2x_gelu projector, a
LLaMA/Qwen2 decoder (RoPE with rotate_half pairs, grouped key/value heads, RMSNorm, SwiGLU) with
optional LoRA adapters.

Written independently of the C++ code: HF's conventions (CLIPVisionModel, LlamaForCausalLM, the
remote-code AIMv2Model of apple/aimv2-* with apple/ml-aim's aim-v2 torch code) are the
specification. Every function takes the parameter dict `p` and a name prefix.
"""
import math

import torch
import torch.nn.functional as F

IMAGE_SLOT = -200
IGNORE = -100


def linear(p, name, x, lora_scale=None):
    """x @ W^T + b, plus the LoRA term scale * B A x when the adapter's factors are in p."""
    y = x @ p[name + ".weight"].T
    if name + ".bias" in p:
        y = y + p[name + ".bias"]
    if lora_scale is not None and name + ".lora_A.weight" in p:
        y = y + lora_scale * (x @ p[name + ".lora_A.weight"].T @ p[name + ".lora_B.weight"].T)
    return y


def layer_norm(p, name, x, eps):
    return F.layer_norm(x, x.shape[-1:], p[name + ".weight"], p[name + ".bias"], eps)


def rms_norm(p, name, x, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * p[name + ".weight"]


def attention(q, k, v, mask):
    """q [B, H, T, D], k/v [B, H, T, D], mask additive [B or 1, 1, T, T] or None."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + mask
    return torch.softmax(scores, dim=-1) @ v


# ---- CLIP vision tower ---------------------------------------------------------------------

def clip_hidden_states(p, prefix, images, heads, eps=1e-5):
    """HF CLIPVisionModel's hidden_states: [0] embeddings after pre_layrnorm, [i] block i."""
    m = prefix + "vision_model."
    patch = p[m + "embeddings.patch_embedding.weight"]
    x = F.conv2d(images, patch, stride=patch.shape[-1]).flatten(2).transpose(1, 2)
    cls = p[m + "embeddings.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], 1) + p[m + "embeddings.position_embedding.weight"]
    x = layer_norm(p, m + "pre_layrnorm", x, eps)
    states = [x]
    layer = 0
    while f"{m}encoder.layers.{layer}.layer_norm1.weight" in p:
        n = f"{m}encoder.layers.{layer}."
        h = layer_norm(p, n + "layer_norm1", x, eps)
        b, t, d = h.shape
        split = lambda y: y.view(b, t, heads, d // heads).transpose(1, 2)  # noqa: E731
        a = attention(split(linear(p, n + "self_attn.q_proj", h)),
                      split(linear(p, n + "self_attn.k_proj", h)),
                      split(linear(p, n + "self_attn.v_proj", h)), None)
        x = x + linear(p, n + "self_attn.out_proj", a.transpose(1, 2).reshape(b, t, d))
        h = linear(p, n + "mlp.fc1", layer_norm(p, n + "layer_norm2", x, eps))
        x = x + linear(p, n + "mlp.fc2", h * torch.sigmoid(1.702 * h))  # QuickGELU
        states.append(x)
        layer += 1
    return states


# ---- AIMv2 vision tower ---------------------------------------------------------------------

def rms_norm_wide(p, name, x, eps):
    """AIMv2's RMSNorm: the statistics in float32 at least (bf16 input: computed in float32 and
    cast back), then times the weight."""
    wide = x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
    normed = wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + eps)
    return normed.to(x.dtype) * p[name + ".weight"]


def aimv2_hidden_states(p, prefix, images, heads, eps=1e-5):
    """AIMv2Model's hidden states, each [B, patches, d], with the embedding output first: [0] the
    preprocessor's output (conv patches, RMSNorm, plus pos_embed; no class token), [i] block i's
    output (HF's output_hidden_states tuple holds [1:]), all before post_trunk_norm."""
    pre = prefix + "preprocessor."
    conv = p[pre + "patchifier.proj.weight"]
    x = F.conv2d(images, conv, p[pre + "patchifier.proj.bias"], stride=conv.shape[-1])
    x = rms_norm_wide(p, pre + "patchifier.norm", x.flatten(2).transpose(1, 2), eps)
    x = x + p[pre + "pos_embed"]
    states = [x]
    block = 0
    while f"{prefix}trunk.blocks.{block}.norm_1.weight" in p:
        n = f"{prefix}trunk.blocks.{block}."
        h = rms_norm_wide(p, n + "norm_1", x, eps)
        b, t, d = h.shape
        # One Linear gives q, k and v: [B, T, 3, heads, head_dim] -> 3 x [B, heads, T, head_dim].
        q, k, v = linear(p, n + "attn.qkv", h).reshape(b, t, 3, heads, d // heads) \
            .permute(2, 0, 3, 1, 4).unbind(0)
        a = attention(q, k, v, None).transpose(1, 2).reshape(b, t, d)
        x = x + linear(p, n + "attn.proj", a)
        h = rms_norm_wide(p, n + "norm_2", x, eps)
        x = x + linear(p, n + "mlp.fc2",
                       F.silu(linear(p, n + "mlp.fc1", h)) * linear(p, n + "mlp.fc3", h))
        states.append(x)
        block += 1
    return states


def aimv2_last_hidden_state(p, prefix, states, eps=1e-5):
    return rms_norm_wide(p, prefix + "trunk.post_trunk_norm", states[-1], eps)


def projector(p, features):
    h = linear(p, "projector.0", features)
    if "projector.2.weight" in p:
        h = linear(p, "projector.2", F.gelu(h))
    return h


# ---- decoder ---------------------------------------------------------------------------------

def rope(x, positions, theta):
    """x [B, T, H, D]; pairs (i, i + D/2) rotate by position * theta^(-2i/D)."""
    d = x.shape[-1]
    inv = theta ** (-torch.arange(0, d // 2, dtype=torch.float64) * 2 / d)
    angles = positions.to(torch.float64)[..., None] * inv  # [B, T, D/2]
    cos = torch.cat([angles.cos()] * 2, -1)[:, :, None, :].to(x.dtype)
    sin = torch.cat([angles.sin()] * 2, -1)[:, :, None, :].to(x.dtype)
    rotated = torch.cat([-x[..., d // 2:], x[..., :d // 2]], -1)
    return x * cos + rotated * sin


def causal_mask(batch, seq, lengths, spans=(), dtype=torch.float64):
    """0 where key k is visible from query q: k <= q or both inside one span (sample, start,
    length), and k a real token; a padded query still sees its row's real keys."""
    allowed = torch.zeros(batch, seq, seq, dtype=torch.bool)
    for b in range(batch):
        for q in range(seq):
            for k in range(seq):
                allowed[b, q, k] = k <= q and k < lengths[b]
        for sample, start, length in spans:
            if sample == b:
                allowed[b, start:start + length, start:start + length] = True
        for q in range(seq):
            if not allowed[b, q].any():
                allowed[b, q, q] = True
    mask = torch.zeros(batch, 1, seq, seq, dtype=dtype)
    mask[~allowed[:, None]] = float("-inf")
    return mask


def decoder_block(p, n, x, positions, mask, cfg, extra_qkv=None):
    """One LLaMA block. extra_qkv(h) may return additions to (q, k, v) (Inverse-LLaVA's fusion)."""
    b, t, _ = x.shape
    heads, kv_heads, theta = cfg["heads"], cfg["kv_heads"], cfg["rope_theta"]
    scale = cfg.get("lora_scale")
    h = rms_norm(p, n + "input_layernorm", x, cfg["eps"])
    q = linear(p, n + "self_attn.q_proj", h, scale)
    k = linear(p, n + "self_attn.k_proj", h, scale)
    v = linear(p, n + "self_attn.v_proj", h, scale)
    if extra_qkv is not None:
        dq, dk, dv = extra_qkv(h)
        q, k, v = q + dq, k + dk, v + dv
    d = q.shape[-1] // heads
    q = rope(q.view(b, t, heads, d), positions, theta).transpose(1, 2)
    k = rope(k.view(b, t, kv_heads, d), positions, theta).transpose(1, 2)
    v = v.view(b, t, kv_heads, d).transpose(1, 2)
    repeat = heads // kv_heads
    k, v = k.repeat_interleave(repeat, 1), v.repeat_interleave(repeat, 1)
    a = attention(q, k, v, mask).transpose(1, 2).reshape(b, t, heads * d)
    x = x + linear(p, n + "self_attn.o_proj", a, scale)
    h = rms_norm(p, n + "post_attention_layernorm", x, cfg["eps"])
    mlp = F.silu(linear(p, n + "mlp.gate_proj", h, scale)) * linear(p, n + "mlp.up_proj", h, scale)
    return x + linear(p, n + "mlp.down_proj", mlp, scale)


def decoder(p, embeds, mask, cfg, extra_qkv_for_layer=None):
    """Returns (logits, last hidden after the final norm, each block's output)."""
    b, t, _ = embeds.shape
    positions = torch.arange(t).expand(b, t)
    x, blocks = embeds, []
    layer = 0
    while f"llm.model.layers.{layer}.input_layernorm.weight" in p:
        extra = extra_qkv_for_layer(layer) if extra_qkv_for_layer else None
        x = decoder_block(p, f"llm.model.layers.{layer}.", x, positions, mask, cfg, extra)
        blocks.append(x)
        layer += 1
    last = rms_norm(p, "llm.model.norm", x, cfg["eps"])
    head = p["llm.lm_head.weight"] if "llm.lm_head.weight" in p else p["llm.model.embed_tokens.weight"]
    return last @ head.T, last, blocks


def embed_with_slots(p, input_ids, image_embeds):
    """Token embeddings with the image embeddings written into the IMAGE_SLOT positions in
    row-major order; returns (embeds, slot mask)."""
    slots = input_ids == IMAGE_SLOT
    embeds = p["llm.model.embed_tokens.weight"][input_ids.masked_fill(slots, 0)]
    if image_embeds is not None and image_embeds.numel():
        flat = embeds.reshape(-1, embeds.shape[-1]).clone()
        flat[slots.reshape(-1)] = image_embeds.reshape(-1, embeds.shape[-1])
        embeds = flat.view(embeds.shape)
    return embeds, slots


def masked_ce_sum(logits, labels):
    """Next-token cross entropy summed over labelled targets, and their count."""
    targets = labels[:, 1:]
    pred = logits[:, :-1]
    keep = targets != IGNORE
    ce = F.cross_entropy(pred[keep], targets[keep], reduction="sum")
    return ce, int(keep.sum())
