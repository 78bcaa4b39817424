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
import argparse
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--version", action="store_true", help="print torch's version and exit")
    p.add_argument("--kind", choices=["train", "generate", "generate_uncached"], default="train")
    p.add_argument("--check-cache", action="store_true", help="check cached against full logits and exit")
    p.add_argument("--arch", choices=["gpt", "mosaic"], default="gpt")
    for name, default in [("d", 128), ("layers", 2), ("heads", 4), ("ctx", 256), ("batch", 8), ("pmem", 0),
                          ("vocab", 2048), ("threads", 1), ("warmup", 1), ("min-steps", 2),
                          ("gen-tokens", 32), ("seed", 1)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--min-time", type=float, default=3.0)
    return p.parse_args()


def build(args, torch, twin):
    """float32 leaf tensors under memlab's parameter names, drawn as memlab's initialisation
    (nanoGPT's for gpt, the Memory Mosaics library's for mosaic; lib/nn/gpt.c, mosaic.c)."""
    cfg = {"arch": args.arch, "vocab": args.vocab, "d": args.d, "heads": args.heads, "layers": args.layers,
           "ctx": args.ctx, "bias": 0, "pmem": args.pmem or round(3.5 * args.d)}
    g = torch.Generator().manual_seed(args.seed)
    d, H, L, V = args.d, args.heads, args.layers, args.vocab
    P = {}
    normal = lambda *shape, std: torch.randn(*shape, generator=g) * std
    if args.arch == "gpt":
        P["wte"] = normal(V, d, std=0.02)
        P["wpe"] = normal(args.ctx, d, std=0.02)
        proj = 0.02 / math.sqrt(2 * L)
        for l in range(L):
            P[f"h.{l}.ln_1.weight"] = torch.ones(d)
            P[f"h.{l}.attn.c_attn.weight"] = normal(3 * d, d, std=0.02)
            P[f"h.{l}.attn.c_proj.weight"] = normal(d, d, std=proj)
            P[f"h.{l}.ln_2.weight"] = torch.ones(d)
            P[f"h.{l}.mlp.c_fc.weight"] = normal(4 * d, d, std=0.02)
            P[f"h.{l}.mlp.c_proj.weight"] = normal(d, 4 * d, std=proj)
    else:
        Pn, hs = cfg["pmem"], d // H
        std, proj = 1 / math.sqrt(d), 1 / math.sqrt(d) / math.sqrt(L)
        leak = torch.linspace(0.5, 5, H) / twin.PSCALE if H > 1 else torch.full((1,), 0.5 / twin.PSCALE)
        P["wte"] = normal(V, d, std=1.0)
        for l in range(L):
            P[f"h.{l}.ln_1.weight"] = torch.ones(d)
            P[f"h.{l}.ctx.W_k.weight"] = normal(d, d, std=std)
            P[f"h.{l}.ctx.W_v.weight"] = normal(d, d, std=std)
            P[f"h.{l}.ctx.c_proj.weight"] = normal(d, d, std=proj)
            P[f"h.{l}.ctx.leaky_key_beta"] = leak.clone()
            P[f"h.{l}.ctx.kernel_beta"] = torch.full((H,), 1 / twin.PSCALE)
            P[f"h.{l}.ctx.value_coef"] = torch.rand(H, generator=g)
            P[f"h.{l}.ctx.value_beta"] = torch.full((H,), -0.5 / twin.PSCALE)
            P[f"h.{l}.ln_2.weight"] = torch.ones(d)
            P[f"h.{l}.pmem.W_k.weight"] = normal(d, d, std=std)
            P[f"h.{l}.pmem.M_k"] = normal(Pn, d, std=1 / math.sqrt(hs))
            P[f"h.{l}.pmem.M_v"] = normal(Pn, d, std=1 / math.sqrt(hs))
            P[f"h.{l}.pmem.c_proj.weight"] = normal(d, d, std=proj)
            P[f"h.{l}.pmem.leaky_key_beta"] = leak.clone()
            P[f"h.{l}.pmem.kernel_beta"] = torch.full((H,), 1 / twin.PSCALE)
            P[f"h.{l}.pmem.value_beta"] = torch.full((H,), -0.5 / twin.PSCALE)
    P["ln_f.weight"] = torch.ones(d)
    return cfg, {k: v.float().requires_grad_(True) for k, v in P.items()}


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
    g = torch.Generator().manual_seed(args.seed + 1)
    B, T, V = args.batch, args.ctx, args.vocab
    ids = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    decay = [v for v in P.values() if v.dim() >= 2]
    plain = [v for v in P.values() if v.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": plain, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    params = list(P.values())
    step, start, timed, loss = 0, 0.0, 0, float("nan")
    while True:
        if step == args.warmup:
            start = time.perf_counter()
        z = logits(P, hidden(P, ids, cfg, twin), cfg)
        loss_t = F.cross_entropy(z.view(-1, V), targets.view(-1))
        opt.zero_grad(set_to_none=True)
        loss_t.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        loss = loss_t.item()
        if not math.isfinite(loss):
            sys.exit(f"lm_peer.py: the loss became {loss} at step {step + 1}")
        step += 1
        if step > args.warmup:
            timed = step - args.warmup
            elapsed = time.perf_counter() - start
            if timed >= args.min_steps and elapsed >= args.min_time:
                break
    return timed * B * T / elapsed, timed, elapsed, loss


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
    args = parse()
    # Debian's torch does its matrix products in OpenBLAS (the pthread build the alternatives select),
    # whose thread count torch.set_num_threads leaves alone: set it, and OpenMP's, before loading.
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch
    if args.version:
        print(torch.__version__)
        return
    torch.set_num_threads(args.threads)
    import twin_lm as twin
    cfg, P = build(args, torch, twin)
    if args.check_cache:
        return check_cache(args, torch, twin, cfg, P)
    run = run_train if args.kind == "train" else run_generate
    tps, steps, seconds, loss = run(args, torch, twin, cfg, P)
    print("kind,tokens_per_s,steps,seconds,loss")
    print(f"{args.kind},{tps:.6g},{steps},{seconds:.6g},{'' if math.isnan(loss) else f'{loss:.6g}'}")


if __name__ == "__main__":
    main()
