"""PyTorch peer of `memlab bench run`: the same gpt and mosaic, the same training step and the same
generation loop, timed the same way, printing the same CSV row. The models are the PyTorch twins
that the test fixtures come from (tests/reference/twin_lm.py: gpt_block, mosaic_block), so the peer
computes exactly memlab's functions; here they run in float32 with torch's own kernels.

Fair by construction: idiomatic PyTorch 1.13 on the CPU (F.linear, F.layer_norm, batched matmul
attention as nanoGPT writes it without flash attention, which 1.13 lacks; the mosaic's leaky average
as a T x T matrix product, as the Memory Mosaics library's plain `memory_mosaics` model does),
torch.optim.AdamW with its defaults, torch.set_num_threads (and OpenBLAS's and OpenMP's thread
counts) equal to memlab's --threads, no autograd anomaly checks, no profiling. Training: F.cross_entropy, backward, clip_grad_norm_(1), AdamW (0.9,
0.95, eps 1e-8, decay 0.1 on matrices only), zero_grad(set_to_none=True). Generation: greedy, the
logits of the last position only, under torch.inference_mode(); `generate` with a KV cache (gpt:
nanoGPT-style preallocated key and value tensors per block) or the mosaic's memory cache (stored keys
and values, running leaky averages, each value completed when the next token arrives: the same
algorithm as memlab's lib/nn/lm_decode.c), `generate_uncached` re-running the window per token.
`--check-cache` compares the cached logits with the full forward's and exits 1 when they differ.

    /usr/bin/python3 benchmarks/peers/lm_peer.py --kind train --arch gpt --d 128 --layers 2 \
        --heads 4 --ctx 256 --batch 32 --vocab 2048 --threads 2
    /usr/bin/python3 benchmarks/peers/lm_peer.py --version
"""
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))

import peer_common as common  # noqa: E402 (beside this file)


def build(args, torch):
    """memlab's initialisation (peer_common.init_params) as leaf tensors."""
    cfg = common.config(args)
    return cfg, {k: v.requires_grad_(True) for k, v in common.init_params(cfg, torch, args.seed).items()}


def hidden(P, ids, cfg, twin):
    """twin_lm.forward up to the final LayerNorm (so that generation can take the last row)."""
    x = twin.F.embedding(ids, P["wte"])
    if "wpe" in P:
        x = x + P["wpe"][: ids.shape[1]]
    block = twin.gpt_block if cfg["arch"] == "gpt" else twin.mosaic_block
    for l in range(cfg["layers"]):
        x = block(x, P, l, cfg)
    return twin.layernorm(x, P, "ln_f")


def logits(P, h, cfg):
    z = h @ P["wte"].t()
    return z / math.sqrt(cfg["d"]) if cfg["arch"] == "mosaic" else z


def run_train(args, torch, twin, cfg, P):
    F = torch.nn.functional
    ids, targets = common.random_batch(args, torch)
    params = list(P.values())

    def loss_of():
        z = logits(P, hidden(P, ids, cfg, twin), cfg)
        return F.cross_entropy(z.view(-1, args.vocab), targets.view(-1))

    return common.timed_train(args, torch, params, loss_of, common.adamw(torch, params), "lm_peer.py")


def check_loss(args, torch, twin):
    """The twin's loss on a memlab checkpoint against memlab's (peer_common.check_case)."""
    cfg, P, ids, targets, want = common.check_case(args.check_loss, torch)
    z = logits(P, hidden(P, ids, cfg, twin), cfg)
    loss = torch.nn.functional.cross_entropy(z.view(-1, cfg["vocab"]), targets.view(-1)).item()
    common.check_loss_report(f"twin {cfg['arch']}", loss, want)


class Cache:
    """Per block: keys and values [1, H, cap, hs]; for the mosaic also the raw value of the last
    position and the running leaky averages of both key streams [1, H, 1, hs]."""

    def __init__(self, torch, cfg, cap):
        H, hs = cfg["heads"], cfg["d"] // cfg["heads"]
        self.k = [torch.zeros(1, H, cap, hs) for _ in range(cfg["layers"])]
        self.v = [torch.zeros(1, H, cap, hs) for _ in range(cfg["layers"])]
        self.vraw, self.leak_ctx, self.leak_pm = ([None] * cfg["layers"] for _ in range(3))
        self.len = 0


def gpt_step(x, P, l, cfg, cache, pos, twin):
    H, d = cfg["heads"], cfg["d"]
    h = twin.layernorm(x, P, f"h.{l}.ln_1")
    q, k, v = (twin.heads(t, H) for t in twin.linear(h, P, f"h.{l}.attn.c_attn").split(d, dim=-1))
    cache.k[l][:, :, pos:pos + 1] = k
    cache.v[l][:, :, pos:pos + 1] = v
    K, V = cache.k[l][:, :, :pos + 1], cache.v[l][:, :, :pos + 1]
    a = twin.torch.softmax((q @ K.transpose(-1, -2)) / math.sqrt(d // H), dim=-1) @ V
    x = x + twin.linear(twin.unheads(a), P, f"h.{l}.attn.c_proj")
    h = twin.layernorm(x, P, f"h.{l}.ln_2")
    h = twin.gelu(twin.linear(h, P, f"h.{l}.mlp.c_fc"), cfg)
    return x + twin.linear(h, P, f"h.{l}.mlp.c_proj")


def leaky_step(k, P, pre, H, power, state, twin):
    """One step of twin.leaky_keys: k_t + a k_{t-1} carried in state, normalised and scaled."""
    torch = twin.torch
    a = torch.exp(-(P[pre + ".leaky_key_beta"] * twin.PSCALE).abs()).view(1, H, 1, 1)
    k = k if state is None else k + a * state
    s = torch.exp(torch.clamp(P[pre + ".kernel_beta"] * twin.PSCALE, max=twin.KEY_CAP) * power)
    return k, k / k.norm(dim=-1, keepdim=True) * s.view(1, H, 1, 1)


def mosaic_step(x, P, l, cfg, cache, pos, twin):
    torch, H = twin.torch, cfg["heads"]
    pre = f"h.{l}.ctx"
    h = twin.layernorm(x, P, f"h.{l}.ln_1")
    cache.leak_ctx[l], k = leaky_step(twin.heads(twin.linear(h, P, pre + ".W_k"), H), P, pre, H, 1,
                                      cache.leak_ctx[l], twin)
    v = twin.heads(twin.linear(h, P, pre + ".W_v"), H)
    if pos > 0:   # complete the value of pos - 1 now that v~_pos is known
        c = P[pre + ".value_coef"].view(1, H, 1, 1)
        done = c * cache.vraw[l] + (1 - c) * v
        done = done / done.norm(dim=-1, keepdim=True) * torch.exp(P[pre + ".value_beta"] * twin.PSCALE).view(1, H, 1, 1)
        cache.v[l][:, :, pos - 1:pos] = done
    cache.vraw[l] = v
    cache.k[l][:, :, pos:pos + 1] = k
    if pos == 0:
        y = torch.zeros_like(k)   # position 0 reads nothing
    else:
        K, V = cache.k[l][:, :, :pos], cache.v[l][:, :, :pos]
        y = torch.softmax(k @ K.transpose(-1, -2), dim=-1) @ V
    x = x + twin.linear(twin.unheads(y), P, pre + ".c_proj")

    pre = f"h.{l}.pmem"
    h = twin.layernorm(x, P, f"h.{l}.ln_2")
    cache.leak_pm[l], k = leaky_step(twin.heads(twin.linear(h, P, pre + ".W_k"), H), P, pre, H, 2,
                                     cache.leak_pm[l], twin)
    Pn, d = P[pre + ".M_k"].shape
    Mk = P[pre + ".M_k"].view(Pn, H, d // H).transpose(0, 1)
    Mv = P[pre + ".M_v"].view(Pn, H, d // H).transpose(0, 1)
    y = torch.softmax(k @ Mk.transpose(-1, -2), dim=-1) @ Mv
    y = y * torch.exp(P[pre + ".value_beta"] * twin.PSCALE).view(1, H, 1, 1)
    return x + twin.linear(twin.unheads(y), P, pre + ".c_proj")


def decode_step(P, token, cfg, cache, twin):
    """Logits [1, 1, V] of the next token after feeding `token` ([1, 1]) at position cache.len."""
    pos = cache.len
    x = twin.F.embedding(token, P["wte"])
    if "wpe" in P:
        x = x + P["wpe"][pos:pos + 1]
    step = gpt_step if cfg["arch"] == "gpt" else mosaic_step
    for l in range(cfg["layers"]):
        x = step(x, P, l, cfg, cache, pos, twin)
    cache.len += 1
    return logits(P, twin.layernorm(x, P, "ln_f"), cfg)


def gen_count(args, cached):
    prompt = max(args.ctx // 2, 1)
    room = args.ctx - prompt - args.warmup
    return max(room, 0) if cached and room < args.gen_tokens else args.gen_tokens


def run_generate(args, torch, twin, cfg, P):
    cached = args.kind == "generate"
    g = torch.Generator().manual_seed(args.seed + 1)
    prompt, G = max(args.ctx // 2, 1), gen_count(args, cached)
    if G < 1:
        sys.exit(f"lm_peer.py: no room to generate after a prompt of {prompt} tokens in a context of {args.ctx}")
    seq = torch.randint(0, args.vocab, (1, prompt), generator=g)
    with torch.inference_mode():
        if cached:
            cache = Cache(torch, cfg, prompt + args.warmup + G)
            for i in range(prompt):
                z = decode_step(P, seq[:, i:i + 1], cfg, cache, twin)

            def next_token(seq):
                nonlocal z
                tok = z[:, -1].argmax(-1, keepdim=True)
                z = decode_step(P, tok, cfg, cache, twin)
                return tok
        else:
            def next_token(seq):
                window = seq[:, -args.ctx:]
                return logits(P, hidden(P, window, cfg, twin)[:, -1:, :], cfg)[:, -1].argmax(-1, keepdim=True)
        for _ in range(args.warmup):
            seq = torch.cat([seq, next_token(seq)], 1)
        start = time.perf_counter()
        for _ in range(G):
            seq = torch.cat([seq, next_token(seq)], 1)
        elapsed = time.perf_counter() - start
    return G / elapsed, G, elapsed, float("nan")


def check_cache(args, torch, twin, cfg, P):
    """Cached logits of every position against the full forward's (float32: 1e-4 relative)."""
    g = torch.Generator().manual_seed(args.seed + 2)
    ids = torch.randint(0, args.vocab, (1, args.ctx), generator=g)
    with torch.inference_mode():
        full = logits(P, hidden(P, ids, cfg, twin), cfg)
        cache = Cache(torch, cfg, args.ctx)
        step = torch.cat([decode_step(P, ids[:, t:t + 1], cfg, cache, twin) for t in range(args.ctx)], 1)
    err = ((step - full).abs() / full.abs().clamp(min=1)).max().item()
    print(f"{cfg['arch']}: cached vs full logits, max relative difference {err:.3g}")
    if not err <= 1e-4:
        sys.exit(1)


def main():
    args = common.parser(__doc__.split("\n")[0])
    args.add_argument("--check-cache", action="store_true", help="check cached against full logits and exit")
    args = args.parse_args()
    if args.device != "cpu" or args.dtype != "fp32":
        sys.exit("lm_peer.py: the twin peer runs on the CPU in fp32 (lm_peer_torch2.py has --device cuda)")
    common.set_threads(args.threads)
    import torch
    if args.version:
        print(torch.__version__)
        return
    torch.set_num_threads(args.threads)
    import twin_lm as twin
    if args.check_loss:
        return check_loss(args, torch, twin)
    cfg, P = build(args, torch)
    if args.check_cache:
        return check_cache(args, torch, twin, cfg, P)
    run = run_train if args.kind == "train" else run_generate
    common.print_row(args.kind, *run(args, torch, twin, cfg, P))


if __name__ == "__main__":
    main()
