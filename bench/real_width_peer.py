"""PyTorch's side of bench/real_width.sh: recipes/mid/llava_real_width.yaml's model trained with
DDP over gloo on 2 CPU ranks, fp32 AdamW, on random images and tokens of the recipe's shapes.

The model is built from the real config files in tests/fixtures (Vicuna-7B v1.5's decoder cut to
the recipe's layers; CLIP ViT-L/14-336's vision tower, frozen, features of layer -2 without CLS;
the mlp2x_gelu projector), with bench/engine_peer.py's decoder. A micro batch is one sequence of
max_seq_len tokens whose first 576 positions after BOS hold the image; each rank runs
global_batch / (2 x micro) micro batches per step, as our run does.

Each rank's address space is capped (--memory-cap-gib): a model that does not fit fails its
allocation instead of driving the machine into the OOM killer, and the JSON says where it failed
and what DDP needs per rank by count (weights, gradients and AdamW's two moments in fp32 for the
trainable part, weights for the frozen tower).

  /usr/bin/python3 bench/real_width_peer.py --recipe recipes/mid/llava_real_width.yaml --steps 3
"""
import argparse
import json
import os
import resource
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_peer import CausalLm  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = 1 << 30


class ClipVision(nn.Module):
    """CLIPVisionModel's encoder, enough for LLaVA's features (layer -2, CLS dropped)."""

    def __init__(self, cfg):
        super().__init__()
        d, patch, image = cfg["hidden_size"], cfg["patch_size"], cfg["image_size"]
        self.heads = cfg["num_attention_heads"]
        self.patch = nn.Conv2d(3, d, patch, patch, bias=False)
        self.cls = nn.Parameter(torch.zeros(d))
        self.positions = nn.Parameter(torch.zeros((image // patch) ** 2 + 1, d))
        self.pre = nn.LayerNorm(d)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d, self.heads, cfg["intermediate_size"], dropout=0.0,
                                       activation=lambda x: x * torch.sigmoid(1.702 * x),
                                       batch_first=True, norm_first=True)
            for _ in range(cfg["num_hidden_layers"] - 1))  # layer -2's output is the last used

    def forward(self, images):
        x = self.patch(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.size(0), 1, -1), x], 1) + self.positions
        x = self.pre(x)
        for layer in self.layers:
            x = layer(x)
        return x[:, 1:]


class RealWidthModel(nn.Module):
    def __init__(self, llm_cfg, vision_cfg, max_seq):
        super().__init__()
        self.vision = ClipVision(vision_cfg)
        self.vision.requires_grad_(False)
        d_v, d = vision_cfg["hidden_size"], llm_cfg["hidden_size"]
        self.projector = nn.Sequential(nn.Linear(d_v, d), nn.GELU(), nn.Linear(d, d))
        self.llm = CausalLm(llm_cfg, max_seq)

    def forward(self, images, ids):
        with torch.no_grad():
            features = self.vision(images)
        image_embeds = self.projector(features)
        text = self.llm.embed_tokens(ids)
        tokens = image_embeds.size(1)
        h = torch.cat([text[:, :1], image_embeds, text[:, 1 + tokens:]], 1)
        t = h.size(1)
        cos, sin, mask = self.llm.cos[:t], self.llm.signed_sin[:t], self.llm.mask[:t, :t]
        for layer in self.llm.layers:
            h = layer(h, cos, sin, mask)
        return self.llm.lm_head(self.llm.norm(h))


def configs(recipe):
    fixtures = os.path.join(ROOT, "tests", "fixtures")
    llm = json.load(open(os.path.join(fixtures, "lmsys/vicuna-7b-v1.5/config.json")))
    clip = json.load(open(os.path.join(fixtures, "openai/clip-vit-large-patch14-336/config.json")))
    layers = recipe["model"]["llm"]["num_layers"]
    llm_cfg = {"hidden_size": llm["hidden_size"], "num_heads": llm["num_attention_heads"],
               "intermediate_size": llm["intermediate_size"], "num_layers": layers,
               "vocab_size": llm["vocab_size"], "rms_norm_eps": llm["rms_norm_eps"],
               "rope_theta": 10000.0, "init_std": 0.02}
    return llm_cfg, clip["vision_config"]


def needed_bytes(model):
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return 4 * (4 * trainable + frozen), trainable, frozen


def worker(rank, world, port, args, out):
    cap = int(args.memory_cap_gib * GIB)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    recipe = yaml.safe_load(open(args.recipe))
    seq = recipe["data"]["max_seq_len"]
    training = recipe["training"]
    micro = training["micro_batch_size"]
    accumulation = training["global_batch_size"] // (micro * world)
    result = {"rank": rank, "fits": False, "stage": "build"}
    try:
        torch.manual_seed(0)
        llm_cfg, vision_cfg = configs(recipe)
        model = RealWidthModel(llm_cfg, vision_cfg, seq)
        result["needed_bytes_per_rank"], result["trainable"], result["frozen"] = needed_bytes(model)
        result["stage"] = "ddp"
        ddp = DistributedDataParallel(model)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                      lr=2e-5, weight_decay=0.0)
        times = []
        for step in range(args.steps):
            result["stage"] = f"step {step + 1}"
            start = time.perf_counter()
            for k in range(accumulation):
                images = torch.randn(micro, 3, vision_cfg["image_size"], vision_cfg["image_size"])
                ids = torch.randint(0, llm_cfg["vocab_size"], (micro, seq))
                context = ddp.no_sync() if k + 1 < accumulation else _Nothing()
                with context:
                    logits = ddp(images, ids)
                    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)),
                                           ids[:, 1:].reshape(-1))
                    loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - start)
        result.update(fits=True, stage="done", step_times_s=times,
                      tokens_per_step=training["global_batch_size"] * seq)
    except (RuntimeError, MemoryError) as error:
        result["error"] = str(error).splitlines()[0][:300]
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.put(result)


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--memory-cap-gib", type=float, default=11.5)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.get_context("spawn")
    out = context.Queue()
    processes = [context.Process(target=worker, args=(r, 2, port, args, out)) for r in range(2)]
    for p in processes:
        p.start()
    results = []
    deadline = time.time() + 3600
    while len(results) < 2 and time.time() < deadline:
        try:
            results.append(out.get(timeout=10))
        except Exception:  # noqa: BLE001 (queue.Empty): a rank that died sends nothing
            if all(not p.is_alive() for p in processes) and out.empty():
                break
    for p in processes:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    results.sort(key=lambda r: r["rank"])
    print(json.dumps({"mode": "ddp", "ranks": 2, "memory_cap_gib": args.memory_cap_gib,
                      "exit_codes": [p.exitcode for p in processes], "results": results}))


if __name__ == "__main__":
    main()
