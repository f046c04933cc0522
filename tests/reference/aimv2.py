"""Reference for the AIMv2 vision tower: a Hugging Face style model folder made here, and the
C++ tower's hidden states of it checked against plain torch (float64).

Usage:
  aimv2.py make DIR    writes DIR/<variant>/{config.json, model.safetensors} (random weights under
                       the remote-code AIMv2Model's names, float32) and DIR/pixels.safetensors
  aimv2.py check DIR   reads DIR/ours.safetensors (what tests/unit/models/aimv2_test.cc computed
                       from those folders: <variant>.hidden.<i>, <variant>.last_hidden_state, and
                       the same under <variant>.bf16.) and compares

Variants: "plain" has the published models' settings (no biases but the patch conv's); "biased"
sets qkv_bias and use_bias, and an rms_norm_eps other than the default. Norm weights and biases
are drawn away from 1 and 0 so that a tower ignoring one of them disagrees.

float32: every hidden state within 1e-5 of the float64 reference, measured as the largest
absolute difference over the largest absolute reference value. bfloat16: the C++ tower's error
against float64 at most 3 times that of the same plain-torch definition run in bfloat16.
Exits non-zero on any disagreement.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_models as ref  # noqa: E402
import safetensors_io  # noqa: E402

VARIANTS = {
    "plain": {"qkv_bias": False, "use_bias": False, "rms_norm_eps": 1e-5},
    "biased": {"qkv_bias": True, "use_bias": True, "rms_norm_eps": 1e-3},
}
SHAPE = {"hidden_size": 24, "intermediate_size": 40, "num_hidden_layers": 3,
         "num_attention_heads": 4, "image_size": 28, "patch_size": 7, "num_channels": 3}
IMAGES = 2
FP32_BAR = 1e-5
BF16_FACTOR = 3.0


def config_of(variant):
    cfg = {"architectures": ["AIMv2Model"], "model_type": "aimv2", **SHAPE, **VARIANTS[variant],
           "attention_dropout": 0.0, "projection_dropout": 0.0, "torch_dtype": "float32"}
    return cfg


def random_weights(cfg, gen):
    """Every tensor of AIMv2Model for cfg, by its HF name."""
    d, inner, p = cfg["hidden_size"], cfg["intermediate_size"], cfg["patch_size"]
    patches = (cfg["image_size"] // p) ** 2

    def normal(*shape, mean=0.0, std=0.3):
        return torch.randn(*shape, generator=gen) * std + mean

    w = {"preprocessor.patchifier.proj.weight": normal(d, 3, p, p, std=0.1),
         "preprocessor.patchifier.proj.bias": normal(d, std=0.2),
         "preprocessor.patchifier.norm.weight": normal(d, mean=1.0, std=0.2),
         "preprocessor.pos_embed": normal(1, patches, d, std=0.5),
         "trunk.post_trunk_norm.weight": normal(d, mean=1.0, std=0.2)}
    shapes = {"attn.qkv": (3 * d, d), "attn.proj": (d, d), "mlp.fc1": (inner, d),
              "mlp.fc2": (d, inner), "mlp.fc3": (inner, d)}
    for i in range(cfg["num_hidden_layers"]):
        n = f"trunk.blocks.{i}."
        for name, shape in shapes.items():
            w[n + name + ".weight"] = normal(*shape, std=1.0 / shape[1] ** 0.5)
            has_bias = cfg["qkv_bias"] if name == "attn.qkv" else cfg["use_bias"]
            if has_bias:
                w[n + name + ".bias"] = normal(shape[0], std=0.2)
        w[n + "norm_1.weight"] = normal(d, mean=1.0, std=0.2)
        w[n + "norm_2.weight"] = normal(d, mean=1.0, std=0.2)
    return w


def make(folder):
    gen = torch.Generator().manual_seed(20240611)
    for variant in VARIANTS:
        cfg = config_of(variant)
        os.makedirs(os.path.join(folder, variant), exist_ok=True)
        with open(os.path.join(folder, variant, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        safetensors_io.save(os.path.join(folder, variant, "model.safetensors"),
                            random_weights(cfg, gen))
    pixels = torch.randn(IMAGES, 3, SHAPE["image_size"], SHAPE["image_size"], generator=gen)
    safetensors_io.save(os.path.join(folder, "pixels.safetensors"), {"pixels": pixels})
    return 0


def scale_relative(ours, expected):
    """max |ours - expected| / max |expected|."""
    return ((ours.double() - expected.double()).abs().max() / expected.abs().max()).item()


def outputs(weights, pixels, cfg, dtype):
    """The hidden states and last_hidden_state of the plain-torch tower, computed in dtype."""
    w = {name: t.to(dtype) for name, t in weights.items()}
    heads, eps = cfg["num_attention_heads"], cfg["rms_norm_eps"]
    with torch.no_grad():
        states = ref.aimv2_hidden_states(w, "", pixels.to(dtype), heads, eps)
        last = ref.aimv2_last_hidden_state(w, "", states, eps)
    return states + [last]


def check(folder):
    ours = safetensors_io.load(os.path.join(folder, "ours.safetensors"))
    pixels = safetensors_io.load(os.path.join(folder, "pixels.safetensors"))["pixels"]
    ok = True
    for variant in VARIANTS:
        with open(os.path.join(folder, variant, "config.json")) as f:
            cfg = json.load(f)
        weights = safetensors_io.load(os.path.join(folder, variant, "model.safetensors"))
        exact = outputs(weights, pixels, cfg, torch.float64)
        plain_bf16 = outputs(weights, pixels, cfg, torch.bfloat16)
        names = [f"hidden.{i}" for i in range(len(exact) - 1)] + ["last_hidden_state"]
        for k, name in enumerate(names):
            got = ours[f"{variant}.{name}"]
            if got.shape != exact[k].shape:
                print(f"FAIL {variant}.{name}: shape {tuple(got.shape)}, "
                      f"expected {tuple(exact[k].shape)}")
                ok = False
                continue
            fp32 = scale_relative(got, exact[k])
            bf16 = scale_relative(ours[f"{variant}.bf16.{name}"], exact[k])
            bf16_bar = BF16_FACTOR * scale_relative(plain_bf16[k], exact[k])
            good = fp32 <= FP32_BAR and bf16 <= bf16_bar
            print(f"{'ok  ' if good else 'FAIL'} {variant}.{name}: fp32 {fp32:.2e} (bar "
                  f"{FP32_BAR:g}), bf16 {bf16:.2e} (bar {bf16_bar:.2e}: {BF16_FACTOR:g} x plain "
                  f"torch's bf16)")
            ok &= good
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        sys.exit(__doc__)
    sys.exit(make(sys.argv[2]) if sys.argv[1] == "make" else check(sys.argv[2]))
