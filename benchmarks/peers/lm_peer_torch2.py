"""PyTorch 2 peer of `memlab bench run`: memlab's gpt and mosaic written the way PyTorch 2 users write
them today, timed as lm_peer.py times the twins, printing the same CSV row.

- gpt: nanoGPT's model (github.com/karpathy/nanoGPT, model.py): nn.Module blocks, one c_attn
  product split into q, k, v, F.scaled_dot_product_attention(is_causal=True), exact GELU, pre-LN,
  tied head.
- mosaic: memlab's mosaic (the Memory Mosaics library's function, docs/fidelity.md) computed the way
  the paper's nanoMosaics code computes it (facebookresearch/MemoryMosaics, nanoMosaics/mosaic_model.py):
  the leaky average as a lower-triangular [T, T] matrix of decay powers times the keys; the
  contextual memory as SDPA of the normalised keys against themselves under the strict mask (u < t,
  passed as a boolean attn_mask, scale=1), the first position's output zero; the persistent memory as
  SDPA of the keys over the learned slots (scale=1). Library terms where the two differ: key-scale
  caps 5 and 10, logits / sqrt(d).
- The same initialisation, shapes, random batch and optimiser as lm_peer.py (peer_common.py); the
  state dict carries memlab's parameter names (the persistent tables as [H, P, hs], nanoMosaics'
  layout, converted from memlab's [P, d] on load).

Options beyond lm_peer.py's: --compile (torch.compile of the model: loss included, as nanoGPT's
train.py does), --device cpu|cuda, --dtype fp32|bf16 (bf16: autocast on cuda; fp32 master weights).
On cuda, AdamW is the fused one. F.scaled_dot_product_attention needs torch >= 2.1 (its scale
argument); under an older torch (Debian's 1.13) the peer falls back to the same products written
out (the FALLBACK below, said on stderr), so that its functions can be tested against memlab's
where only that torch exists. Training only: nanoGPT and nanoMosaics have no decoding cache (the
twin peer has one); --kind generate_uncached re-runs the window per token, as their generate does.

    python3 benchmarks/peers/lm_peer_torch2.py --kind train --arch mosaic --d 128 --layers 2 \\
        --heads 4 --ctx 256 --batch 32 --vocab 2048 --threads 16 --compile
    python3 benchmarks/peers/lm_peer_torch2.py --check-loss CKPT   # tests/check_bench.c writes CKPT
"""
import math
import sys
import time

import peer_common as common

torch = nn = F = None   # imported in main(), after the thread settings
HAS_SDPA = False


def attend(q, k, v, mask=None, causal=False, scale=None):
    """F.scaled_dot_product_attention; FALLBACK (torch without SDPA only): the same products written out."""
    if HAS_SDPA:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)
    att = (q @ k.transpose(-2, -1)) * (1 / math.sqrt(q.size(-1)) if scale is None else scale)
    if causal:
        mask = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        att = att.masked_fill(~mask, float("-inf"))
    return torch.softmax(att, dim=-1) @ v


def module_classes():
    """The nn.Module classes, defined once torch is imported."""

    class LayerNorm(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))

        def forward(self, x):
            return F.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)

    def linear(i, o):
        return nn.Linear(i, o, bias=False)

    class CausalSelfAttention(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.n_head = cfg["heads"]
            self.c_attn = linear(cfg["d"], 3 * cfg["d"])
            self.c_proj = linear(cfg["d"], cfg["d"])

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(C, dim=2)
            q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
            y = attend(q, k, v, causal=True)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class MLP(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.c_fc = linear(cfg["d"], 4 * cfg["d"])
            self.gelu = nn.GELU()
            self.c_proj = linear(4 * cfg["d"], cfg["d"])

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))

    class GptBlock(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.ln_1, self.attn = LayerNorm(cfg["d"]), CausalSelfAttention(cfg)
            self.ln_2, self.mlp = LayerNorm(cfg["d"]), MLP(cfg)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class Keys(nn.Module):
        """W_k, the leaky average as nanoMosaics' LeakyAvg (exp(-lambda lag), lower triangle, one product
        per head), normalised, scaled by exp(min(10 kappa, 5))^power (the library's caps)."""

        def __init__(self, cfg, power):
            super().__init__()
            H, T = cfg["heads"], cfg["ctx"]
            self.n_head, self.power = H, power
            self.W_k = linear(cfg["d"], cfg["d"])
            self.leaky_key_beta = nn.Parameter(torch.zeros(H))
            self.kernel_beta = nn.Parameter(torch.zeros(H))
            t = torch.arange(T)
            self.register_buffer("neg_lag", -(t.view(T, 1) - t.view(1, T)).clamp(min=0).float(), persistent=False)

        def forward(self, x):
            B, T, C = x.size()
            H = self.n_head
            k = self.W_k(x).view(B, T, H, C // H).transpose(1, 2)
            lam = (self.leaky_key_beta.abs() * common.PSCALE).view(1, H, 1, 1)
            k = torch.exp(self.neg_lag[:T, :T] * lam).tril() @ k
            k = k / k.norm(dim=-1, keepdim=True).clamp(min=1e-12)
            scale = torch.exp(torch.clamp(self.kernel_beta * common.PSCALE, max=5.0) * self.power)
            return k * scale.view(1, H, 1, 1)

    class ContextMem(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            H, T = cfg["heads"], cfg["ctx"]
            self.n_head = H
            self.keys = Keys(cfg, 1)
            self.W_v = linear(cfg["d"], cfg["d"])
            self.c_proj = linear(cfg["d"], cfg["d"])
            self.value_coef = nn.Parameter(torch.zeros(H))
            self.value_beta = nn.Parameter(torch.zeros(H))
            self.register_buffer("strict", torch.ones(T, T, dtype=torch.bool).tril(diagonal=-1), persistent=False)

        def forward(self, x):
            B, T, C = x.size()
            H = self.n_head
            k = self.keys(x)
            v = self.W_v(x).view(B, T, H, C // H).transpose(1, 2)
            c = self.value_coef.view(1, H, 1, 1)
            v = c * v + (1 - c) * F.pad(v, (0, 0, -1, 1))   # c v~_t + (1 - c) v~_{t+1}, zero past the end
            v = v / v.norm(dim=-1, keepdim=True).clamp(min=1e-12)
            v = v * torch.exp(self.value_beta * common.PSCALE).view(1, H, 1, 1)
            y = torch.zeros_like(v)   # position 0 reads nothing
            y[:, :, 1:] = attend(k[:, :, 1:], k, v, mask=self.strict[1:T, :T], scale=1.0)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class PersistentMem(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            H, hs = cfg["heads"], cfg["d"] // cfg["heads"]
            self.n_head = H
            self.keys = Keys(cfg, 2)
            self.M_k = nn.Parameter(torch.zeros(H, cfg["pmem"], hs))
            self.M_v = nn.Parameter(torch.zeros(H, cfg["pmem"], hs))
            self.value_beta = nn.Parameter(torch.zeros(H))
            self.c_proj = linear(cfg["d"], cfg["d"])

        def forward(self, x):
            B, T, C = x.size()
            H = self.n_head
            y = attend(self.keys(x), self.M_k.unsqueeze(0), self.M_v.unsqueeze(0), scale=1.0)
            y = y * torch.exp(self.value_beta * common.PSCALE).view(1, H, 1, 1)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class MosaicBlock(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.ln_1, self.ctx = LayerNorm(cfg["d"]), ContextMem(cfg)
            self.ln_2, self.pmem = LayerNorm(cfg["d"]), PersistentMem(cfg)

        def forward(self, x):
            x = x + self.ctx(self.ln_1(x))
            return x + self.pmem(self.ln_2(x))

    class LM(nn.Module):
        """Token embedding (tied to the head), learned positions for the gpt, the blocks, ln_f; forward
        returns the mean cross-entropy (nanoGPT's forward(idx, targets)), or the logits without targets."""

        def __init__(self, cfg):
            super().__init__()
            self.cfg = cfg
            self.wte = nn.Parameter(torch.zeros(cfg["vocab"], cfg["d"]))
            gpt = cfg["arch"] == "gpt"
            if gpt:
                self.wpe = nn.Parameter(torch.zeros(cfg["ctx"], cfg["d"]))
            self.h = nn.ModuleList([(GptBlock if gpt else MosaicBlock)(cfg) for _ in range(cfg["layers"])])
            self.ln_f = LayerNorm(cfg["d"])
            self.logit_scale = 1.0 if gpt else 1 / math.sqrt(cfg["d"])

        def forward(self, ids, targets=None):
            x = F.embedding(ids, self.wte)
            if self.cfg["arch"] == "gpt":
                x = x + self.wpe[: ids.size(1)]
            for block in self.h:
                x = block(x)
            logits = F.linear(self.ln_f(x), self.wte) * self.logit_scale
            if targets is None:
                return logits
            return F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.view(-1))

    return LM


# memlab's names -> this module's: the key features sit in a Keys submodule
RENAMES = [(".ctx.W_k.", ".ctx.keys.W_k."), (".pmem.W_k.", ".pmem.keys.W_k.")]
KEY_SCALARS = ("leaky_key_beta", "kernel_beta")


def load_memlab(model, P, cfg):
    """memlab's tensors (memlab names, [P, d] tables) into the module."""
    H, hs = cfg["heads"], cfg["d"] // cfg["heads"]
    sd = {}
    for name, v in P.items():
        for a, b in RENAMES:
            name = name.replace(a, b)
        head, _, last = name.rpartition(".")
        if last in KEY_SCALARS:
            name = f"{head}.keys.{last}"
        if last in ("M_k", "M_v"):
            v = v.view(cfg["pmem"], H, hs).transpose(0, 1)
        sd[name] = v
    model.load_state_dict(sd)


def build(cfg, P, device, compile_it):
    model = module_classes()(cfg)
    load_memlab(model, P, cfg)
    model = model.to(device)
    return model, (torch.compile(model) if compile_it else model)


def autocast(args):
    if args.dtype == "bf16":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return torch.autocast(device_type=args.device, enabled=False)


def run_train(args, cfg):
    model, fwd = build(cfg, common.init_params(cfg, torch, args.seed), args.device, args.compile)
    ids, targets = (t.to(args.device) for t in common.random_batch(args, torch))
    params = list(model.parameters())
    opt = common.adamw(torch, params, **({"fused": True} if args.device == "cuda" else {}))

    def loss_of():
        with autocast(args):
            return fwd(ids, targets)

    return common.timed_train(args, torch, params, loss_of, opt, "lm_peer_torch2.py")


def run_generate_uncached(args, cfg):
    """Greedy tokens after a prompt of ctx / 2, each re-running the model over its last ctx tokens."""
    _, fwd = build(cfg, common.init_params(cfg, torch, args.seed), args.device, args.compile)
    g = torch.Generator().manual_seed(args.seed + 1)
    seq = torch.randint(0, args.vocab, (1, max(args.ctx // 2, 1)), generator=g).to(args.device)
    with torch.inference_mode(), autocast(args):
        def step(seq):
            return torch.cat([seq, fwd(seq[:, -args.ctx:])[:, -1].argmax(-1, keepdim=True)], 1)
        for _ in range(args.warmup):
            seq = step(seq)
        start = time.perf_counter()
        for _ in range(args.gen_tokens):
            seq = step(seq)
        elapsed = time.perf_counter() - start
    return args.gen_tokens / elapsed, args.gen_tokens, elapsed, float("nan")


def check_loss(args):
    cfg, P, ids, targets, want = common.check_case(args.check_loss, torch)
    _, fwd = build(cfg, P, args.device, args.compile)
    with torch.no_grad():
        loss = fwd(ids.to(args.device), targets.to(args.device)).item()
    how = "SDPA" if HAS_SDPA else "FALLBACK without SDPA"
    common.check_loss_report(f"torch2 {cfg['arch']} ({how}{', compiled' if args.compile else ''})", loss, want)


def main():
    global torch, nn, F, HAS_SDPA
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = p.parse_args()
    if args.dtype == "bf16" and args.device != "cuda":
        sys.exit("lm_peer_torch2.py: --dtype bf16 needs --device cuda")
    common.set_threads(args.threads)
    import torch as torch_module
    torch = torch_module
    nn, F = torch.nn, torch.nn.functional
    if args.version:
        print(torch.__version__)
        return
    torch.set_num_threads(args.threads)
    # torch >= 2.1: SDPA with its scale argument
    HAS_SDPA = hasattr(F, "scaled_dot_product_attention") and tuple(map(int, torch.__version__.split(".")[:2])) >= (2, 1)
    if not HAS_SDPA:
        print(f"lm_peer_torch2.py: torch {torch.__version__} lacks scaled_dot_product_attention(scale=): "
              "FALLBACK to the same products written out", file=sys.stderr)
    if args.compile and not hasattr(torch, "compile"):
        sys.exit(f"lm_peer_torch2.py: --compile needs torch >= 2.0 (this is {torch.__version__})")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("lm_peer_torch2.py: --device cuda: torch sees no GPU")
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False   # fp32 means fp32, as memlab's
    if args.check_loss:
        return check_loss(args)
    cfg = common.config(args)
    if args.kind == "generate":
        sys.exit("lm_peer_torch2.py: no decoding cache (nanoGPT and nanoMosaics have none): "
                 "--kind generate_uncached, or the twin peer (lm_peer.py)")
    run = run_train if args.kind == "train" else run_generate_uncached
    common.print_row(args.kind, *run(args, cfg))


if __name__ == "__main__":
    main()
