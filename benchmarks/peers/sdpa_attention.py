"""PyTorch's F.scaled_dot_product_attention at the shapes of benchmarks/attention_cuda.cu, the peer
of memlab's fused CUDA attention: forward and backward (dq, dk, dv) timed apart with CUDA events,
median of the repetitions, fp32 and bf16 inputs. q, k, v are [B, H, T, hs] views of one fused
[B, T, 3C] tensor, as nanoGPT makes them. Causal uses is_causal=True (the flash path in bf16);
strict (u < t, the mosaic's mask) cannot be said that way and goes as an explicit boolean mask,
which is what the paper's code does, so it takes the memory-efficient or math path.
CSV: bench,B,Tq,Tk,H,hs,mask,dtype,fwd_ms,bwd_ms,backend_note
Also the leaky average as the paper's code writes it (a lower-triangular [T, T] matrix of decay
powers per head, applied as a batched product), the peer of memlab's O(T) scan: leaky,... lines.
Also the mosaic's persistent memory (B T queries, one shared [2688, C] table, no mask): sdpa-mosaic-pmem.
Usage: python3 sdpa_attention.py [B, default 32]"""
import sys

import torch
import torch.nn.functional as F


def time_ms(f, reps=20):
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    f()
    f()
    ts = []
    for _ in range(reps):
        a.record()
        f()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2]


def bench(name, B, T, H, hs, mask, dtype):
    C = H * hs
    qkv = torch.randn(B, T, 3 * C, device="cuda", dtype=dtype, requires_grad=True)
    q, k, v = (t.view(B, T, H, hs).transpose(1, 2) for t in qkv.split(C, dim=2))
    kw = {}
    if mask == "causal":
        kw["is_causal"] = True
    else:  # strict: key u < query t; a row without keys gives NaN in SDPA (-inf everywhere) -> let row 0 see itself
        m = torch.ones(T, T, device="cuda", dtype=torch.bool).tril(-1)
        m[0, 0] = True
        kw["attn_mask"] = m
    out = F.scaled_dot_product_attention(q, k, v, **kw)
    dout = torch.randn_like(out)
    fwd = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, **kw))

    def fb():
        o = F.scaled_dot_product_attention(q, k, v, **kw)
        torch.autograd.grad(o, qkv, dout)

    both = time_ms(fb)
    print(f"sdpa-{name},{B},{T},{T},{H},{hs},{mask},{str(dtype)[6:]},{fwd:.3f},{both - fwd:.3f},bwd=fwd+bwd-fwd", flush=True)


def pmem(B, T, P, H, hs, dtype):
    """The mosaic's persistent memory: B T queries against one [P, C] key and value table shared by
    the batch, no mask (the flash path in bf16), gradients to the queries and the shared tables."""
    C = H * hs
    q = torch.randn(1, H, B * T, hs, device="cuda", dtype=dtype, requires_grad=True)
    kv = torch.randn(2, 1, H, P, hs, device="cuda", dtype=dtype, requires_grad=True)
    out = F.scaled_dot_product_attention(q, kv[0], kv[1])
    dout = torch.randn_like(out)
    fwd = time_ms(lambda: F.scaled_dot_product_attention(q, kv[0], kv[1]), reps=5)
    both = time_ms(lambda: torch.autograd.grad(F.scaled_dot_product_attention(q, kv[0], kv[1]), (q, kv), dout), reps=5)
    print(f"sdpa-mosaic-pmem,1,{B * T},{P},{H},{hs},full,{str(dtype)[6:]},{fwd:.3f},{both - fwd:.3f},bwd=fwd+bwd-fwd", flush=True)


def leaky(B, T, H, hs, dtype):
    """out_t = sum_{u<=t} a_h^(t-u) inp_u as one [H, T, T] lower-triangular product."""
    x = torch.randn(B, H, T, hs, device="cuda", dtype=dtype, requires_grad=True)
    theta = torch.full((H,), 0.3, device="cuda", requires_grad=True)

    def f():
        a = torch.exp(-theta.abs())
        t = torch.arange(T, device="cuda")
        e = (t[:, None] - t[None, :]).clamp(min=0).to(torch.float32)
        w = torch.where(t[:, None] >= t[None, :], a[:, None, None] ** e, torch.zeros((), device="cuda"))
        return torch.matmul(w.to(dtype), x)

    y = f()
    dy = torch.randn_like(y)
    fwd = time_ms(f)
    both = time_ms(lambda: torch.autograd.grad(f(), (x, theta), dy))
    print(f"leaky-tril,{B},{T},{T},{H},{hs},tril,{str(dtype)[6:]},{fwd:.3f},{both - fwd:.3f},lower-triangular product", flush=True)


if __name__ == "__main__":
    B = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print("bench,B,Tq,Tk,H,hs,mask,dtype,fwd_ms,bwd_ms,note")
    for dtype in (torch.float32, torch.bfloat16):
        bench("gpt", B, 512, 12, 64, "causal", dtype)
        bench("gpt-strict", B, 512, 12, 64, "strict", dtype)
        leaky(B, 512, 12, 64, dtype)
        pmem(B, 512, 2688, 12, 64, dtype)
