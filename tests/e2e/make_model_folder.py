"""Writes a Hugging Face model folder from a real config.json: the config (optionally with fewer
decoder layers) and random safetensors weights of exactly the shapes and names the model's
transformers class has, so that a recipe can load "the model" here, where no weights can be
downloaded. Supports LlamaForCausalLM / Qwen2ForCausalLM and CLIPModel (its vision tower only:
a whole-CLIP checkpoint's text side is not needed and our loader ignores it).

  /usr/bin/python3 tests/e2e/make_model_folder.py CONFIG_JSON OUT_DIR [--layers N]
      [--dtype float16] [--copy FILE ...]
"""
import argparse
import json
import os
import shutil
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import safetensors_io  # noqa: E402


def llama_shapes(cfg):
    d, inter, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", heads) * (d // heads)
    bias = cfg.get("model_type") == "qwen2"
    shapes = {"model.embed_tokens.weight": (vocab, d), "model.norm.weight": (d,)}
    for i in range(cfg["num_hidden_layers"]):
        n = f"model.layers.{i}."
        shapes.update({n + "input_layernorm.weight": (d,), n + "post_attention_layernorm.weight": (d,),
                       n + "self_attn.q_proj.weight": (d, d), n + "self_attn.k_proj.weight": (kv, d),
                       n + "self_attn.v_proj.weight": (kv, d), n + "self_attn.o_proj.weight": (d, d),
                       n + "mlp.gate_proj.weight": (inter, d), n + "mlp.up_proj.weight": (inter, d),
                       n + "mlp.down_proj.weight": (d, inter)})
        if bias:
            shapes.update({n + "self_attn.q_proj.bias": (d,), n + "self_attn.k_proj.bias": (kv,),
                           n + "self_attn.v_proj.bias": (kv,)})
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (vocab, d)
    return shapes


def clip_vision_shapes(cfg):
    v = cfg["vision_config"] if "vision_config" in cfg else cfg
    d, inter, patch = v["hidden_size"], v["intermediate_size"], v["patch_size"]
    positions = (v["image_size"] // patch) ** 2 + 1
    m = "vision_model."
    shapes = {m + "embeddings.class_embedding": (d,),
              m + "embeddings.patch_embedding.weight": (d, 3, patch, patch),
              m + "embeddings.position_embedding.weight": (positions, d),
              m + "pre_layrnorm.weight": (d,), m + "pre_layrnorm.bias": (d,),
              m + "post_layernorm.weight": (d,), m + "post_layernorm.bias": (d,)}
    for i in range(v["num_hidden_layers"]):
        n = f"{m}encoder.layers.{i}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            shapes[n + f"self_attn.{proj}.weight"] = (d, d)
            shapes[n + f"self_attn.{proj}.bias"] = (d,)
        for norm in ("layer_norm1", "layer_norm2"):
            shapes[n + norm + ".weight"] = (d,)
            shapes[n + norm + ".bias"] = (d,)
        shapes.update({n + "mlp.fc1.weight": (inter, d), n + "mlp.fc1.bias": (inter,),
                       n + "mlp.fc2.weight": (d, inter), n + "mlp.fc2.bias": (d,)})
    return shapes


def write_random(path, shapes, dtype):
    """A safetensors file written tensor by tensor, so memory stays at one tensor."""
    pool = (torch.randn(1 << 20, generator=torch.Generator().manual_seed(0)) * 0.02).to(dtype)
    element = torch.tensor([], dtype=dtype).element_size()
    header, offset = {}, 0
    for name in sorted(shapes):
        size = element
        for n in shapes[name]:
            size *= n
        header[name] = {"dtype": safetensors_io.dtype_name(dtype), "shape": list(shapes[name]),
                        "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for name in sorted(shapes):
            write_values(f, name, header[name], dtype, pool)


def write_values(f, name, entry, dtype, pool):
    """Norm weights one, biases zero, everything else a shared block of normal(0, 0.02) values
    repeated to the tensor's size: random enough for a model that must load and run, and a 7B
    folder is written in seconds."""
    begin, end = entry["data_offsets"]
    count = (end - begin) // pool.element_size()
    if name.endswith(".weight") and "norm" in name.rsplit(".", 2)[-2]:
        block = torch.ones(count, dtype=dtype)
    elif name.endswith(".bias"):
        block = torch.zeros(count, dtype=dtype)
    else:
        block = pool
    raw = (block.view(torch.int16) if dtype == torch.bfloat16 else block).numpy().tobytes()
    left = end - begin
    while left > 0:
        f.write(raw[:left])
        left -= min(left, len(raw))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("out")
    parser.add_argument("--layers", type=int, help="keep the first N decoder layers")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--copy", nargs="*", default=[], help="files to copy into the folder")
    args = parser.parse_args()
    cfg = json.load(open(args.config))
    if args.layers is not None:
        (cfg["vision_config"] if "vision_config" in cfg else cfg)["num_hidden_layers"] = args.layers
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    kind = cfg.get("model_type")
    shapes = clip_vision_shapes(cfg) if kind == "clip" else llama_shapes(cfg)
    write_random(os.path.join(args.out, "model.safetensors"), shapes, getattr(torch, args.dtype))
    for path in args.copy:
        shutil.copy(path, args.out)
    total = 0
    for shape in shapes.values():
        count = 1
        for n in shape:
            count *= n
        total += count
    print(f"{args.out}: {total:,} parameters in {len(shapes)} tensors")


if __name__ == "__main__":
    main()
