/* The fused CUDA attention alone (lib/cuda/attention.cu) at the GPT-2-small shape and the mosaic's
 * two attentions, timed with CUDA events: forward (with lse) and backward (dq, dk, dv), fp32 and
 * bf16 operands. q, k, v are column slices of one fused [B, T, 3C] buffer as the gpt lays them out;
 * the mosaic's context memory has q = k and dq = dk; its persistent memory is B T queries against
 * a shared [P, C] table. Inputs are random; the numbers do not depend on them.
 * Output: one CSV line per configuration: bench,B,Tq,Tk,H,hs,mask,dtype,fwd_ms,bwd_ms,fwd_tflops,bwd_tflops
 * (median of the repetitions; flops count only the allowed logits, 4 hs per logit forward, 8 in
 * the backward's four products (dV, dP, dK, dQ) plus the recomputed QK^T: 10 hs).
 * Usage: attention_cuda [B, default 32] [NAME: only that configuration, e.g. mosaic-pmem for ncu] */
#include <string.h>

#include "cuda_timing.cuh"

extern "C" {
#include "core/kernels.h"
#include "cuda/kernels_seq_cuda.h"
}

static float *dev_random(size_t n)
{
    std::vector<float> h(n);
    unsigned s = 12345;
    for (auto &x : h) {
        s = s * 1664525u + 1013904223u;
        x = (float)(s >> 8) / 16777216.f * 2.f - 1.f;
    }
    float *d;
    CK(cudaMalloc(&d, n * sizeof(float)));
    CK(cudaMemcpy(d, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}

/* bf16 copy of a device fp32 buffer (truncation is fine for timing). */
__global__ void to_bf16(unsigned short *o, const float *x, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        o[i] = (unsigned short)(__float_as_uint(x[i]) >> 16);
}

static unsigned short *dev_bf16(const float *x, size_t n)
{
    unsigned short *o;
    CK(cudaMalloc(&o, n * 2));
    to_bf16<<<(unsigned)((n + 255) / 256), 256>>>(o, x, n);
    CK(cudaGetLastError());
    return o;
}

/* Allowed (query, key) pairs of one (batch, head). */
static double allowed_pairs(const att_dims *d)
{
    double n = 0;
    for (int i = 0; i < d->Tq; i++) {
        const int t = i + d->Tk - d->Tq;
        for (int u = 0; u < d->Tk; u++)
            n += att_allowed(d->mask, t, u);
    }
    return n;
}

static const char *mask_name(att_mask_kind k)
{
    return k == ATT_CAUSAL ? "causal" : k == ATT_STRICT ? "strict" : k == ATT_FULL ? "full" : "block";
}

/* layout: 0 fused qkv (gpt), 1 q = k (mosaic context memory), 2 shared k / v (persistent memory:
 * "mosaic-pmem" as one sequence of B x 512 queries, "mosaic-pmem-b" as the model calls it, B
 * sequences of 512 sharing the table) */
static const char *only;   /* argv[2]: the one configuration to run, or NULL for all */

static void bench(const char *name, int B, int Tq, int Tk, int H, int hs, att_mask_kind kind, int layout, int reps)
{
    if (only && strcmp(only, name) != 0)
        return;
    const int C = H * hs;
    att_dims d;
    memset(&d, 0, sizeof d);
    d.B = B, d.Tq = Tq, d.Tk = Tk, d.H = H, d.hs = hs;
    d.mask.kind = kind;
    d.scale = layout == 1 ? 1.f : 1.f / sqrtf((float)hs);
    size_t nq, nk;
    if (layout == 0) {
        d.ldq = d.ldk = d.ldv = 3 * C;
        d.bsq = d.bsk = d.bsv = (size_t)Tq * 3 * C;
        nq = (size_t)B * Tq * 3 * C, nk = 0;
    } else if (layout == 1) {
        d.ldq = d.ldk = d.ldv = C;
        d.bsq = d.bsk = d.bsv = (size_t)Tq * C;
        nq = (size_t)B * Tq * C, nk = nq;   /* k = q; the second buffer holds v */
    } else {
        d.ldq = d.ldk = d.ldv = C;
        d.bsq = (size_t)Tq * C, d.bsk = d.bsv = 0;
        nq = (size_t)B * Tq * C, nk = (size_t)Tk * C;
    }
    d.ldo = C, d.bso = (size_t)Tq * C;
    float *X = dev_random(nq), *Y = nk ? dev_random(2 * nk) : NULL;
    float *dX = dev_random(nq), *dY = nk ? dev_random(2 * nk) : NULL;
    const float *q = X, *k = layout == 0 ? X + C : layout == 1 ? X : Y, *v = layout == 0 ? X + 2 * C : layout == 1 ? Y : Y + nk;
    float *dq = dX, *dk = layout == 0 ? dX + C : layout == 1 ? dX : dY, *dv = layout == 0 ? dX + 2 * C : layout == 1 ? dY : dY + nk;
    const size_t nout = (size_t)B * Tq * C;
    float *out = dev_random(nout), *dout = dev_random(nout), *lse, *scr;
    CK(cudaMalloc(&lse, (size_t)B * H * Tq * sizeof(float)));
    CK(cudaMalloc(&scr, cuda_attention_scratch_size(&d) * sizeof(float)));

    const double pairs = allowed_pairs(&d) * B * H;
    for (int bf = 0; bf < 2; bf++) {
        double f, g;
        if (!bf) {
            f = time_ms([&] { cuda_attention_forward(out, lse, q, k, v, &d); }, reps);
            g = time_ms([&] { cuda_attention_backward(dq, dk, dv, scr, dout, q, k, v, out, lse, &d); }, reps);
        } else {
            unsigned short *Xb = dev_bf16(X, nq), *Yb = nk ? dev_bf16(Y, 2 * nk) : NULL, *db = dev_bf16(dout, nout);
            const unsigned short *qb = Xb, *kb = layout == 0 ? Xb + C : layout == 1 ? Xb : Yb;
            const unsigned short *vb = layout == 0 ? Xb + 2 * C : layout == 1 ? Yb : Yb + nk;
            f = time_ms([&] { cuda_attention_forward_bf16(out, NULL, lse, qb, kb, vb, &d); }, reps);
            g = time_ms([&] { cuda_attention_backward_bf16(dq, dk, dv, scr, db, qb, kb, vb, out, lse, &d); }, reps);
            CK(cudaFree(Xb));
            CK(cudaFree(db));
            if (Yb)
                CK(cudaFree(Yb));
        }
        printf("%s,%d,%d,%d,%d,%d,%s,%s,%.3f,%.3f,%.2f,%.2f\n", name, B, Tq, Tk, H, hs, mask_name(kind),
               bf ? "bf16" : "fp32", f, g, pairs * 4 * hs / f / 1e9, pairs * 10 * hs / g / 1e9);
        fflush(stdout);
    }
    for (void *p : {(void *)X, (void *)Y, (void *)dX, (void *)dY, (void *)out, (void *)dout, (void *)lse, (void *)scr})
        if (p)
            CK(cudaFree(p));
}

int main(int argc, char **argv)
{
    const int B = argc > 1 ? atoi(argv[1]) : 32;
    only = argc > 2 ? argv[2] : NULL;
    printf("bench,B,Tq,Tk,H,hs,mask,dtype,fwd_ms,bwd_ms,fwd_tflops,bwd_tflops\n");
    bench("gpt", B, 512, 512, 12, 64, ATT_CAUSAL, 0, 20);
    bench("gpt-strict", B, 512, 512, 12, 64, ATT_STRICT, 0, 20);
    bench("mosaic-ctx", B, 512, 512, 12, 64, ATT_STRICT, 1, 20);
    bench("mosaic-pmem", 1, B * 512, 2688, 12, 64, ATT_FULL, 2, 5);
    bench("mosaic-pmem-b", B, 512, 2688, 12, 64, ATT_FULL, 2, 5);
    return 0;
}
