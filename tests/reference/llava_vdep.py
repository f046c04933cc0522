"""Reference for LLaVA's masked cross entropy and VDEP's hybrid loss (RECIPES.md sections 1, 3).
Usage: llava_vdep.py DIR OBJECTIVE SHIFT ALPHA LLM_HEADS LLM_KV_HEADS VISION_HEADS
DIR holds inputs.safetensors (parameters, input_ids, labels, images, attention_mask) and
expected.safetensors (our loss, its terms and gradients); exits 1 if any differs by more than
1e-5 relative."""
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import ref_models as ref  # noqa: E402
import safetensors_io  # noqa: E402

AUTO_IMAGE = 19  # the test's "<auto_image>" id


def main():
    folder = pathlib.Path(sys.argv[1])
    objective, shift, alpha = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    llm_heads, llm_kv_heads, vision_heads = (int(a) for a in sys.argv[5:8])
    data = safetensors_io.load(folder / "inputs.safetensors")
    expected = safetensors_io.load(folder / "expected.safetensors")
    params = {k: v.clone().requires_grad_(f"grad.{k}" in expected)
              for k, v in data.items() if "." in k}
    ids, labels, images = data["input_ids"], data["labels"], data["images"]

    ok = True
    lengths = [int((labels[b] != ref.IGNORE).nonzero().max()) + 1 for b in range(ids.shape[0])]
    mask = ref.causal_mask(ids.shape[0], ids.shape[1], lengths)
    ok &= bool(torch.equal(mask, data["attention_mask"]))
    print("ok   attention mask equal" if ok else "FAIL attention mask differs")

    features = ref.clip_hidden_states(params, "vision.", images, vision_heads)[-2][:, 1:]
    image_embeds = ref.projector(params, features)  # [N, P, d]
    embeds, slots = ref.embed_with_slots(params, ids, image_embeds)
    if objective == "vdep":
        added = params["llm.model.embed_tokens.added.weight"][0]
        embeds = torch.where((ids == AUTO_IMAGE)[..., None], added, embeds)
    cfg = {"heads": llm_heads, "kv_heads": llm_kv_heads, "rope_theta": 1e4, "eps": 1e-5}
    logits, last, _ = ref.decoder(params, embeds, mask, cfg)
    ce, count = ref.masked_ce_sum(logits, labels)
    terms = {"text_ce": ce / count}
    loss = terms["text_ce"]
    if objective == "vdep":
        # VDEP-mode rows are those with <auto_image>; image j's hidden state vs embedding j+shift.
        pairs = []
        image = 0
        for b in range(ids.shape[0]):
            positions = slots[b].nonzero().flatten().tolist()
            tokens = image_embeds.shape[1]
            for first in range(0, len(positions), tokens):
                if (ids[b] == AUTO_IMAGE).any():
                    for j in range(tokens - shift):
                        h = last[b, positions[first + j]]
                        target = image_embeds[image, j + shift].detach()
                        pairs.append((target - h).pow(2).sum())
                image += 1
        terms["image_l2"] = torch.stack(pairs).mean()
        loss = loss + alpha * terms["image_l2"]
    loss.backward()

    ok &= safetensors_io.compare("loss", loss.detach().reshape(1), expected["loss"])
    for name, value in terms.items():
        ok &= safetensors_io.compare(f"term {name}", value.detach().reshape(1),
                                     expected[f"term.{name}"])
    for name, param in params.items():
        if param.requires_grad:
            ok &= safetensors_io.compare(f"grad {name}", param.grad, expected[f"grad.{name}"])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
