"""What the PyTorch peers of `memlab bench run` share (lm_peer.py, the twin; lm_peer_torch2.py,
PyTorch 2's idiom): the command line, the thread settings made before torch loads, memlab's
initialisation drawn under memlab's parameter names, the optimiser, the timed training loop, the
CSV row, and the check of a model's loss against memlab's on a memlab checkpoint (--check-loss)."""
import argparse
import json
import math
import os
import struct
import sys
import time

PSCALE = 10.0      # the mosaic's per-head scalars are stored / 10 (docs/models.md)


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--version", action="store_true", help="print torch's version and exit")
    p.add_argument("--kind", choices=["train", "generate", "generate_uncached"], default="train")
    p.add_argument("--check-loss", metavar="CKPT",
                   help="the loss of a memlab checkpoint written by tests/check_bench.c against the one it records; exit 1 past 1e-4")
    p.add_argument("--arch", choices=["gpt", "mosaic"], default="gpt")
    for name, default in [("d", 128), ("layers", 2), ("heads", 4), ("ctx", 256), ("batch", 8), ("pmem", 0),
                          ("vocab", 2048), ("threads", 1), ("warmup", 1), ("min-steps", 2),
                          ("gen-tokens", 32), ("seed", 1)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--min-time", type=float, default=3.0)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="bf16: autocast (cuda only)")
    return p


def set_threads(threads):
    """Before torch loads: Debian's torch does its matrix products in OpenBLAS (the pthread build the
    alternatives select), whose thread count torch.set_num_threads leaves alone; OpenMP's too."""
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


def config(args):
    return {"arch": args.arch, "vocab": args.vocab, "d": args.d, "heads": args.heads, "layers": args.layers,
            "ctx": args.ctx, "bias": 0, "pmem": args.pmem or round(3.5 * args.d)}


def init_params(cfg, torch, seed):
    """float32 tensors under memlab's parameter names, drawn as memlab's initialisation (nanoGPT's
    for gpt, the Memory Mosaics library's for mosaic; lib/nn/gpt.c, mosaic.c)."""
    g = torch.Generator().manual_seed(seed)
    d, H, L, V = cfg["d"], cfg["heads"], cfg["layers"], cfg["vocab"]
    P = {}
    normal = lambda *shape, std: torch.randn(*shape, generator=g) * std
    if cfg["arch"] == "gpt":
        P["wte"] = normal(V, d, std=0.02)
        P["wpe"] = normal(cfg["ctx"], d, std=0.02)
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
        leak = torch.linspace(0.5, 5, H) / PSCALE if H > 1 else torch.full((1,), 0.5 / PSCALE)
        P["wte"] = normal(V, d, std=1.0)
        for l in range(L):
            P[f"h.{l}.ln_1.weight"] = torch.ones(d)
            P[f"h.{l}.ctx.W_k.weight"] = normal(d, d, std=std)
            P[f"h.{l}.ctx.W_v.weight"] = normal(d, d, std=std)
            P[f"h.{l}.ctx.c_proj.weight"] = normal(d, d, std=proj)
            P[f"h.{l}.ctx.leaky_key_beta"] = leak.clone()
            P[f"h.{l}.ctx.kernel_beta"] = torch.full((H,), 1 / PSCALE)
            P[f"h.{l}.ctx.value_coef"] = torch.rand(H, generator=g)
            P[f"h.{l}.ctx.value_beta"] = torch.full((H,), -0.5 / PSCALE)
            P[f"h.{l}.ln_2.weight"] = torch.ones(d)
            P[f"h.{l}.pmem.W_k.weight"] = normal(d, d, std=std)
            P[f"h.{l}.pmem.M_k"] = normal(Pn, d, std=1 / math.sqrt(hs))
            P[f"h.{l}.pmem.M_v"] = normal(Pn, d, std=1 / math.sqrt(hs))
            P[f"h.{l}.pmem.c_proj.weight"] = normal(d, d, std=proj)
            P[f"h.{l}.pmem.leaky_key_beta"] = leak.clone()
            P[f"h.{l}.pmem.kernel_beta"] = torch.full((H,), 1 / PSCALE)
            P[f"h.{l}.pmem.value_beta"] = torch.full((H,), -0.5 / PSCALE)
    P["ln_f.weight"] = torch.ones(d)
    return {k: v.float() for k, v in P.items()}


def adamw(torch, params, **extra):
    """memlab's optimiser (babistories'): AdamW (0.9, 0.95), eps 1e-8, decay 0.1 on matrices only."""
    decay = [v for v in params if v.dim() >= 2]
    plain = [v for v in params if v.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": plain, "weight_decay": 0.0}],
                             lr=1e-3, betas=(0.9, 0.95), eps=1e-8, **extra)


def random_batch(args, torch):
    g = torch.Generator().manual_seed(args.seed + 1)
    ids = torch.randint(0, args.vocab, (args.batch, args.ctx), generator=g)
    targets = torch.randint(0, args.vocab, (args.batch, args.ctx), generator=g)
    return ids, targets


def timed_train(args, torch, params, loss_of, opt, name):
    """Training steps (loss_of() -> the loss tensor; backward, clip at 1, AdamW, zero_grad(set_to_none))
    until --min-steps and --min-time are reached after --warmup untimed steps. Every step reads its
    loss back (as memlab's does), which also waits for a GPU. Returns tokens/s, steps, seconds, loss."""
    step, start, timed, loss = 0, 0.0, 0, float("nan")
    while True:
        if step == args.warmup:
            start = time.perf_counter()
        loss_t = loss_of()
        opt.zero_grad(set_to_none=True)
        loss_t.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        loss = loss_t.item()
        if not math.isfinite(loss):
            sys.exit(f"{name}: the loss became {loss} at step {step + 1}")
        step += 1
        if step > args.warmup:
            timed = step - args.warmup
            elapsed = time.perf_counter() - start
            if timed >= args.min_steps and elapsed >= args.min_time:
                break
    return timed * args.batch * args.ctx / elapsed, timed, elapsed, loss


def print_row(kind, tps, steps, seconds, loss):
    print("kind,tokens_per_s,steps,seconds,loss")
    print(f"{kind},{tps:.6g},{steps},{seconds:.6g},{'' if math.isnan(loss) else f'{loss:.6g}'}")


# ---- --check-loss: a memlab checkpoint and the loss memlab computed on it -----------------------------

def read_checkpoint(path, torch):
    """A safetensors file's __metadata__ and its F32 / F64 tensors (a memlab checkpoint, io/ckpt.h)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": torch.float32, "F64": torch.float64}
    tensors = {}
    for name, t in header.items():
        if t["dtype"] not in dtypes:
            sys.exit(f"{path}: tensor {name} has dtype {t['dtype']} (expected F32 or F64)")
        a, b = t["data_offsets"]
        data = bytearray(raw[8 + n + a:8 + n + b])
        tensors[name] = torch.frombuffer(data, dtype=dtypes[t["dtype"]]).reshape(t["shape"]).float()
    return meta, tensors


def check_ids(n, vocab, salt):
    """The check's token ids, the same formula as tests/check_bench.c: ((i + salt) * 7919 + 13) mod 2^20
    mod vocab, a spread of ids without a shared generator."""
    return [(((i + salt) * 7919 + 13) % (1 << 20)) % vocab for i in range(n)]


def check_case(path, torch):
    """(cfg, weights, ids, targets, memlab's loss) of a --check-loss checkpoint: a bench-shaped model
    (no biases, learned positions for the gpt, exact GELU, the library mosaic) and batch x ctx ids."""
    meta, P = read_checkpoint(path, torch)
    want = {"memlab_model": "lm", "bias": "0"}
    want.update({"pos": "learned", "gelu": "erf"} if meta.get("arch") == "gpt" else {"mosaic_variant": "library"})
    for k, v in want.items():
        if meta.get(k) != v:
            sys.exit(f"{path}: the peers compute memlab bench's models: {k} must be {v}, not {meta.get(k)}")
    cfg = {k: int(meta[k]) for k in ("vocab", "ctx", "d", "layers", "heads", "pmem", "bias")}
    cfg["arch"] = meta["arch"]
    B, T = int(meta["check_batch"]), cfg["ctx"]
    ids = torch.tensor(check_ids(B * T, cfg["vocab"], 0)).view(B, T)
    targets = torch.tensor(check_ids(B * T, cfg["vocab"], 1)).view(B, T)
    return cfg, P, ids, targets, float(meta["check_loss"])


def check_loss_report(name, loss, want):
    err = abs(loss - want) / abs(want)
    print(f"{name}: loss {loss:.9g}, memlab {want:.9g}, relative difference {err:.3g}")
    if not err <= 1e-4:
        sys.exit(1)
