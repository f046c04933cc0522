"""The PyTorch side of bench/engine.sh: bench/gpt_like.yaml's decoder trained with DDP (mode ddp)
or DDP + ZeroRedundancyOptimizer (mode zero) over gloo on CPU, on random tokens, and timed.

The model repeats models/llm.cc: RMSNorm, RoPE in HF's rotate-half convention (as rope.cc),
causal attention, SwiGLU MLP, no biases, untied lm_head. Modes gpt2_ddp and gpt2_zero train a
GPT-2-style model of the same width, depth, parameter count and matmul FLOPs instead (LayerNorm,
GELU MLP of 4x width, learned positions, biases, fused QKV), whose elementwise work PyTorch runs
in its own fused kernels. Each rank gets one thread, like each MPI rank of vlm-bench-engine.
The ranks run on tcmalloc when libtcmalloc-minimal4 is installed (scripts/install-deps.sh), as
PyTorch's CPU performance guides advise: glibc's malloc maps large blocks afresh each time, and
a 4 KiB page fault costs ~14 us on this VM, which made the peer up to 4x slower.
Prints one JSON line per mode, with the keys vlm-bench-engine uses.

Run with Debian's /usr/bin/python3 (it has torch 1.13):
  /usr/bin/python3 bench/engine_peer.py --modes ddp zero --warmup 3 --steps 20
"""
import argparse
import ctypes
import json
import math
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
import yaml
from torch import nn
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel

TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"

MIB = 1024 * 1024


# ---- the model -------------------------------------------------------------------------------

class RmsNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps))


def rotary_tables(positions, head_dim, theta):
    """cos and sign-folded sin, [positions, head_dim]: computed in double and rounded once, as
    rope.cc does. The sin table's first half is negated so that rotate_half(x) * sin becomes
    swap_halves(x) * signed_sin."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(positions, dtype=torch.float64), inv_freq)
    cos = torch.cat([angles.cos(), angles.cos()], -1)
    signed_sin = torch.cat([-angles.sin(), angles.sin()], -1)
    return cos.float(), signed_sin.float()


def apply_rotary(x, cos, signed_sin):
    """x: [B, T, H, head_dim]; pairs (i, i + head_dim/2) are rotated together."""
    half = x.size(-1) // 2
    swapped = torch.cat([x[..., half:], x[..., :half]], -1)
    return x * cos.unsqueeze(-2) + swapped * signed_sin.unsqueeze(-2)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.head_dim = heads, d // heads
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x, cos, signed_sin, mask):
        b, t, _ = x.shape
        shape = (b, t, self.heads, self.head_dim)
        q = apply_rotary(self.q_proj(x).view(shape), cos, signed_sin).transpose(1, 2)
        k = apply_rotary(self.k_proj(x).view(shape), cos, signed_sin).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        # Written out as attention.cc does (1.13 has no public scaled_dot_product_attention).
        scores = (q / math.sqrt(self.head_dim)) @ k.transpose(-1, -2) + mask
        out = torch.softmax(scores, -1) @ v  # [B, H, T, head_dim]
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class SwiGlu(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.gate_proj = nn.Linear(d, hidden, bias=False)
        self.up_proj = nn.Linear(d, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["rms_norm_eps"]
        self.self_attn = Attention(d, cfg["num_heads"])
        self.mlp = SwiGlu(d, cfg["intermediate_size"])
        self.input_layernorm = RmsNorm(d, eps)
        self.post_attention_layernorm = RmsNorm(d, eps)

    def forward(self, x, cos, signed_sin, mask):
        h = x + self.self_attn(self.input_layernorm(x), cos, signed_sin, mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class CausalLm(nn.Module):
    def __init__(self, cfg, max_seq):
        super().__init__()
        d = cfg["hidden_size"]
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], d)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg["num_layers"]))
        self.norm = RmsNorm(d, cfg["rms_norm_eps"])
        self.lm_head = nn.Linear(d, cfg["vocab_size"], bias=False)
        cos, signed_sin = rotary_tables(max_seq, d // cfg["num_heads"], cfg["rope_theta"])
        mask = torch.full((max_seq, max_seq), float("-inf")).triu(1)
        # Buffers, not parameters: DDP neither counts nor synchronizes them (broadcast_buffers off).
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("signed_sin", signed_sin, persistent=False)
        self.register_buffer("mask", mask, persistent=False)
        # llm.cc's initialize(): normal(0, init_std) for embedding and linears, ones for norms.
        for name, p in self.named_parameters():
            if not name.endswith("layernorm.weight") and name != "norm.weight":
                nn.init.normal_(p, std=cfg["init_std"])

    def forward(self, ids):
        t = ids.size(1)
        cos, signed_sin, mask = self.cos[:t], self.signed_sin[:t], self.mask[:t, :t]
        h = self.embed_tokens(ids)
        for layer in self.layers:
            h = layer(h, cos, signed_sin, mask)
        return self.lm_head(self.norm(h))


class Gpt2Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        # 2 x d x 4d weights: the SwiGLU's 3 x d x intermediate at intermediate = 8d/3.
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, mask):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).view(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        scores = (q / math.sqrt(q.size(-1))) @ k.transpose(-1, -2) + mask
        out = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(b, t, d)
        h = x + self.c_proj(out)
        return h + self.mlp(self.ln_2(h))


class Gpt2Lm(nn.Module):
    def __init__(self, cfg, max_seq):
        super().__init__()
        d = cfg["hidden_size"]
        self.wte = nn.Embedding(cfg["vocab_size"], d)
        self.wpe = nn.Embedding(max_seq, d)
        self.blocks = nn.ModuleList(Gpt2Block(d, cfg["num_heads"])
                                    for _ in range(cfg["num_layers"]))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, cfg["vocab_size"], bias=False)
        self.register_buffer("mask", torch.full((max_seq, max_seq), float("-inf")).triu(1),
                             persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=cfg["init_std"])

    def forward(self, ids):
        t = ids.size(1)
        h = self.wte(ids) + self.wpe(torch.arange(t))
        for block in self.blocks:
            h = block(h, self.mask[:t, :t])
        return self.lm_head(self.ln_f(h))


# ---- memory, as common/process_memory.cc measures it --------------------------------------------

def status_bytes(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def track_live_memory():
    """Fixed mmap threshold and a trim, as vlm-bench-engine does: without it glibc keeps freed
    large buffers in the heap and the two sides' resident sizes would not compare."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 256 * 1024)  # -3: M_MMAP_THRESHOLD
    libc.malloc_trim(0)


def reset_peak():
    """Restarts VmHWM from the current resident size (Linux), so warm-up transients stay out."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


# ---- one rank ---------------------------------------------------------------------------------

def run_rank(rank, world, mode, cfg, args, results):
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    track_live_memory()
    baseline = status_bytes("VmRSS")

    torch.manual_seed(args.seed)  # the same initial weights everywhere (DDP broadcasts rank 0's)
    architecture = Gpt2Lm if mode.startswith("gpt2_") else CausalLm
    model = DistributedDataParallel(architecture(cfg, args.seq), broadcast_buffers=False)
    adamw = dict(lr=args.lr, weight_decay=args.weight_decay)
    if mode.endswith("zero"):
        optimizer = ZeroRedundancyOptimizer(model.parameters(),
                                            optimizer_class=torch.optim.AdamW, **adamw)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), **adamw)
    params = sum(p.numel() for p in model.parameters())

    gen = torch.Generator().manual_seed(args.seed + rank)  # each rank its own tokens
    tokens_per_step = world * args.batch * args.seq
    step_ends = []
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            dist.barrier()
            track_live_memory()
            reset_peak()
            start, cpu_start = time.perf_counter(), time.process_time()
        ids = torch.randint(cfg["vocab_size"], (args.batch, args.seq), generator=gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "bf16"):
            logits = model(ids)
            # Next-token cross entropy, the mean over this rank's tokens; DDP averages the
            # gradients.
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)),
                                   ids[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step_ends.append(time.perf_counter())
    dist.barrier()
    seconds = time.perf_counter() - start
    # CPU seconds this rank got per wall second: well below 1 means other work took its core.
    cpu_share = (time.process_time() - cpu_start) / seconds
    timed = step_ends[args.warmup:]
    step_ms = sorted(1000 * (b - a) for a, b in zip([start] + timed[:-1], timed))

    mine = torch.tensor([status_bytes("VmHWM"), baseline, loss.item(), cpu_share],
                        dtype=torch.float64)
    everyone = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(everyone, mine)
    if rank == 0:
        peaks = [float(r[0]) for r in everyone]
        baselines = [float(r[1]) for r in everyone]
        results.put({
            "mode": mode if args.dtype == "fp32" else f"{mode} bf16", "dtype": args.dtype,
            "world_size": world, "params": params,
            "allocator": "tcmalloc" if TCMALLOC in os.environ.get("LD_PRELOAD", "") else "glibc",
            "batch_per_rank": args.batch, "seq": args.seq, "threads_per_rank": 1,
            "warmup": args.warmup, "steps": args.steps,
            "ms_per_step": round(1000 * seconds / args.steps, 2),
            # Rank 0's; a median below the mean points at interruptions by other work.
            "ms_per_step_median": round(step_ms[len(step_ms) // 2], 2),
            "tokens_per_s": round(tokens_per_step * args.steps / seconds, 1),
            "final_loss": round(sum(float(r[2]) for r in everyone) / world, 6),
            "baseline_rss_mb": round(max(baselines) / MIB, 1),
            "peak_rss_mb": round(max(peaks) / MIB, 1),
            "peak_above_baseline_mb": round(max(p - b for p, b in zip(peaks, baselines)) / MIB, 1),
            "peak_rss_mb_per_rank": [round(p / MIB, 1) for p in peaks],
            "cpu_per_wall_per_rank": [round(float(r[3]), 2) for r in everyone],
        })
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=os.path.join(here, "gpt_like.yaml"),
                        help="model.llm and optimizer lr/weight_decay are read from it")
    parser.add_argument("--modes", nargs="+", choices=["ddp", "zero", "gpt2_ddp", "gpt2_zero"],
                        default=["ddp", "zero"])
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4, help="sequences per rank")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: forward and loss under CPU autocast to bfloat16 (what HF "
                             "Trainer's --bf16 does on CPU); weights, gradients and AdamW stay "
                             "fp32")
    parser.add_argument("--glibc-malloc", action="store_true",
                        help="run the ranks on glibc's malloc rather than tcmalloc")
    args = parser.parse_args()

    recipe = yaml.safe_load(open(args.recipe))
    cfg = {"rope_theta": 1e4, "rms_norm_eps": 1e-5, "init_std": 0.02, **recipe["model"]["llm"]}
    if cfg.get("tie_word_embeddings") or cfg.get("qkv_bias") or cfg.get("num_kv_heads", 0) not in (0, cfg["num_heads"]):
        raise SystemExit("engine_peer.py models untied heads without biases or GQA only")
    optimizer = recipe.get("optimizer", {})
    args.lr = float(optimizer.get("lr", 1e-4))
    args.weight_decay = float(optimizer.get("weight_decay", 0.0))

    # Read at library load, so they must be in the environment the spawned ranks inherit.
    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    if os.path.exists(TCMALLOC) and not args.glibc_malloc:
        os.environ["LD_PRELOAD"] = TCMALLOC
    results = mp.get_context("spawn").SimpleQueue()
    for mode in args.modes:
        os.environ["MASTER_PORT"] = str(free_port())
        mp.spawn(run_rank, args=(args.world, mode, cfg, args, results), nprocs=args.world)
        print(json.dumps(results.get()), flush=True)


if __name__ == "__main__":
    main()
