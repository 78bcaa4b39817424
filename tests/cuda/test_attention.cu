/* The fused CUDA attention (lib/cuda/attention.cu) against the CPU kernel (core/kernels_attention.c)
 * on random inputs: forward output, the observer's probabilities and the three gradients, for every
 * mask kind, odd lengths (never a multiple of the 64-row tile), Tq < Tk, head sizes 2 to 128, ALiBi,
 * q / k / v as column slices of one fused qkv buffer, k / v shared by the batch, and the mosaic's
 * q = k with dq and dk one buffer. Gradients start from random values, so that accumulation (+=)
 * is checked too. Then the bf16 tensor-core variant (lib/cuda/attention_bf16.cu) on every case.
 *
 * Tolerances (fp32, error = max |gpu - cpu| / max |cpu| over a tensor): 2e-5 for the output and the
 * probabilities, 1e-4 for gradients (the GPU sums in another order over up to 200 keys); bf16
 * operands: 1e-2 against the fp32 kernel on the same bf16-rounded inputs (what is left is the
 * rounding of P and dS to bf16 between products), 3e-2 against the fp32 CPU kernel on the unrounded
 * inputs (bf16 keeps 8 bits of mantissa). */
#include "seq_test.h"

extern "C" {
#include "core/kernels.h"
#include "cuda/kernels_seq_cuda.h"
}

#define TOL_FWD 2e-5
#define TOL_GRAD 1e-4
#define TOL_BF16_SAME 1e-2
#define TOL_BF16_FP32 3e-2

enum layout { SEPARATE, FUSED_QKV, SHARED_KV, SELF_KEYS };

struct att_case {
    const char *name;
    int B, Tq, Tk, H, hs;
    att_mask_kind kind;
    int block;
    float scale;   /* 0: 1 / sqrt(hs) */
    int alibi;
    layout lay;
};

/* Host storage of q, k, v (and of their gradients, same shapes) and where each operand starts. */
struct operands {
    std::vector<float> sq, sk, sv;   /* a layout that shares a buffer leaves the others empty */
    size_t oq, ok, ov;               /* offsets into their buffer */
    int iq, ik, iv;                  /* which buffer: 0 sq, 1 sk, 2 sv */
};

static att_dims dims_of(const att_case &c)
{
    const int C = c.H * c.hs;
    att_dims d;
    memset(&d, 0, sizeof d);
    d.B = c.B;
    d.Tq = c.Tq;
    d.Tk = c.Tk;
    d.H = c.H;
    d.hs = c.hs;
    d.ldq = d.ldk = d.ldv = d.ldo = C;
    d.bsq = d.bso = (size_t)c.Tq * C;
    d.bsk = d.bsv = (size_t)c.Tk * C;
    if (c.lay == FUSED_QKV) {
        d.ldq = d.ldk = d.ldv = 3 * C;
        d.bsq = d.bsk = d.bsv = (size_t)c.Tq * 3 * C;
    } else if (c.lay == SHARED_KV) {
        d.bsk = d.bsv = 0;
    }
    d.mask.kind = c.kind;
    d.mask.block = c.block;
    d.scale = c.scale > 0 ? c.scale : 1.f / sqrtf((float)c.hs);
    return d;
}

/* Random storage in the case's layout. */
static operands make_operands(const att_case &c, float lo, float hi)
{
    const int C = c.H * c.hs;
    operands o;
    o.oq = o.ok = o.ov = 0;
    o.iq = 0, o.ik = 1, o.iv = 2;
    switch (c.lay) {
    case FUSED_QKV:
        o.sq = rand_vec((size_t)c.B * c.Tq * 3 * C, lo, hi);
        o.ik = o.iv = 0;
        o.ok = C;
        o.ov = 2 * C;
        break;
    case SHARED_KV:
        o.sq = rand_vec((size_t)c.B * c.Tq * C, lo, hi);
        o.sk = rand_vec((size_t)c.Tk * C, lo, hi);
        o.sv = rand_vec((size_t)c.Tk * C, lo, hi);
        break;
    case SELF_KEYS:
        o.sq = rand_vec((size_t)c.B * c.Tq * C, lo, hi);
        o.ik = 0;
        o.sv = rand_vec((size_t)c.B * c.Tk * C, lo, hi);
        break;
    default:
        o.sq = rand_vec((size_t)c.B * c.Tq * C, lo, hi);
        o.sk = rand_vec((size_t)c.B * c.Tk * C, lo, hi);
        o.sv = rand_vec((size_t)c.B * c.Tk * C, lo, hi);
    }
    return o;
}

static std::vector<float> &buf(operands &o, int i) { return i == 0 ? o.sq : i == 1 ? o.sk : o.sv; }

/* Device copies of the three buffers (empty ones as NULL). */
struct dev_ops {
    float *b[3];
};
static dev_ops upload(operands &o)
{
    dev_ops d;
    for (int i = 0; i < 3; i++)
        d.b[i] = buf(o, i).empty() ? NULL : dup(buf(o, i));
    return d;
}
static void free_ops(dev_ops &d)
{
    for (int i = 0; i < 3; i++)
        if (d.b[i])
            dfree(d.b[i]);
}

static unsigned short to_bf16(float x)   /* round to nearest even */
{
    unsigned u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short)(u >> 16);
}
static float from_bf16(unsigned short h)
{
    unsigned u = (unsigned)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static void run_case(const att_case &c, int with_bf16)
{
    const int C = c.H * c.hs;
    att_dims dh = dims_of(c);
    std::vector<float> slopes(c.H);
    alibi_slopes(slopes.data(), c.H);
    float *dslopes = dup(slopes);
    if (c.alibi)
        dh.alibi = slopes.data();
    att_dims dd = dh;
    dd.alibi = c.alibi ? dslopes : NULL;

    operands x = make_operands(c, -1.f, 1.f);
    operands g = make_operands(c, -0.5f, 0.5f);   /* the gradients' initial values */
    const size_t nout = (size_t)c.B * c.Tq * C, natt = (size_t)c.B * c.H * c.Tq * c.Tk;
    std::vector<float> dout = rand_vec(nout);

    /* CPU reference */
    std::vector<float> out(nout), att(natt);
    const float *q = buf(x, x.iq).data() + x.oq, *k = buf(x, x.ik).data() + x.ok, *v = buf(x, x.iv).data() + x.ov;
    attention_forward(out.data(), att.data(), q, k, v, &dh);
    operands gc = g;
    std::vector<float> scratch(attention_scratch_size(&dh));
    attention_backward(buf(gc, gc.iq).data() + gc.oq, buf(gc, gc.ik).data() + gc.ok, buf(gc, gc.iv).data() + gc.ov,
                       scratch.data(), dout.data(), q, k, v, att.data(), &dh);

    /* GPU */
    dev_ops xd = upload(x), gd = upload(g);
    float *dq_ = gd.b[g.iq] + g.oq, *dk_ = gd.b[g.ik] + g.ok, *dv_ = gd.b[g.iv] + g.ov;
    const float *q_ = xd.b[x.iq] + x.oq, *k_ = xd.b[x.ik] + x.ok, *v_ = xd.b[x.iv] + x.ov;
    float *dout_ = dup(dout), *out_ = dup(std::vector<float>(nout, NAN)), *att_ = dup(std::vector<float>(natt, NAN));
    float *lse_ = dup(std::vector<float>((size_t)c.B * c.H * c.Tq));
    float *scr_ = dup(std::vector<float>(cuda_attention_scratch_size(&dd)));
    cuda_attention_forward(out_, lse_, q_, k_, v_, &dd);
    cuda_attention_probs(att_, q_, k_, lse_, &dd);
    cuda_attention_backward(dq_, dk_, dv_, scr_, dout_, q_, k_, v_, out_, lse_, &dd);

    char name[160];
#define NAMED(what) (snprintf(name, sizeof name, "%s %s", c.name, what), name)
    check_vec(NAMED("forward out"), back(out_, nout), out, TOL_FWD);
    check_vec(NAMED("probabilities"), back(att_, natt), att, TOL_FWD);
    const char *gname[3] = {"grad of q buffer", "grad of k buffer", "grad of v buffer"};
    for (int i = 0; i < 3; i++)
        if (gd.b[i])
            check_vec(NAMED(gname[i]), back(gd.b[i], buf(gc, i).size()), buf(gc, i), TOL_GRAD);

    if (with_bf16) {
        /* bf16 copies of the operands and of dout; the fp32 kernels on the same rounded values */
        operands xr = x;
        std::vector<unsigned short> hb[3];
        unsigned short *bd[3] = {NULL, NULL, NULL};
        for (int i = 0; i < 3; i++) {
            std::vector<float> &s = buf(xr, i);
            hb[i].resize(s.size());
            for (size_t e = 0; e < s.size(); e++) {
                hb[i][e] = to_bf16(s[e]);
                s[e] = from_bf16(hb[i][e]);
            }
            if (!s.empty()) {
                T_CHECK(cudaMalloc(&bd[i], s.size() * 2));
                T_CHECK(cudaMemcpy(bd[i], hb[i].data(), s.size() * 2, cudaMemcpyHostToDevice));
            }
        }
        std::vector<unsigned short> doutb(nout);
        std::vector<float> doutr(nout);
        for (size_t e = 0; e < nout; e++) {
            doutb[e] = to_bf16(dout[e]);
            doutr[e] = from_bf16(doutb[e]);
        }
        unsigned short *doutb_;
        T_CHECK(cudaMalloc(&doutb_, nout * 2));
        T_CHECK(cudaMemcpy(doutb_, doutb.data(), nout * 2, cudaMemcpyHostToDevice));

        dev_ops xrd = upload(xr), g1 = upload(g), g2 = upload(g);
        float *doutr_ = dup(doutr);
        float *o1 = dup(std::vector<float>(nout)), *o2 = dup(std::vector<float>(nout));
        const float *q1 = xrd.b[x.iq] + x.oq, *k1 = xrd.b[x.ik] + x.ok, *v1 = xrd.b[x.iv] + x.ov;
        const unsigned short *q2 = bd[x.iq] + x.oq, *k2 = bd[x.ik] + x.ok, *v2 = bd[x.iv] + x.ov;
        cuda_attention_forward(o1, lse_, q1, k1, v1, &dd);
        cuda_attention_backward(g1.b[g.iq] + g.oq, g1.b[g.ik] + g.ok, g1.b[g.iv] + g.ov, scr_, doutr_, q1, k1, v1,
                                o1, lse_, &dd);
        unsigned short *o16;   /* the output's bf16 copy; gaps between rows stay 0, as to_bf16(0) */
        T_CHECK(cudaMalloc(&o16, nout * 2));
        T_CHECK(cudaMemset(o16, 0, nout * 2));
        cuda_attention_forward_bf16(o2, o16, lse_, q2, k2, v2, &dd);
        cuda_attention_backward_bf16(g2.b[g.iq] + g.oq, g2.b[g.ik] + g.ok, g2.b[g.iv] + g.ov, scr_, doutb_, q2, k2,
                                     v2, o2, lse_, &dd);
        std::vector<float> ob = back(o2, nout);
        {
            std::vector<unsigned short> got16(nout);
            T_CHECK(cudaMemcpy(got16.data(), o16, nout * 2, cudaMemcpyDeviceToHost));
            size_t off = 0;
            for (size_t e = 0; e < nout; e++)
                off += got16[e] != to_bf16(ob[e]);
            report(NAMED("bf16 out's copy: elements off to_bf16(out)"), (double)off, 0);
            dfree(o16);
        }
        check_vec(NAMED("bf16 out vs fp32 kernel, same inputs"), ob, back(o1, nout), TOL_BF16_SAME);
        check_vec(NAMED("bf16 out vs fp32 cpu"), ob, out, TOL_BF16_FP32);
        for (int i = 0; i < 3; i++)
            if (g2.b[i]) {
                std::vector<float> gb = back(g2.b[i], buf(g, i).size());
                char what[80];
                snprintf(what, sizeof what, "bf16 %s vs fp32 kernel", gname[i]);
                check_vec(NAMED(what), gb, back(g1.b[i], buf(g, i).size()), TOL_BF16_SAME);
                snprintf(what, sizeof what, "bf16 %s vs fp32 cpu", gname[i]);
                check_vec(NAMED(what), gb, buf(gc, i), TOL_BF16_FP32);
            }
        if (c.lay == FUSED_QKV || c.lay == SEPARATE) {
            /* the gradients stored in bf16 (cuda_attention_backward_bf16_g16): each element the
             * fp32-gradient form's sum from zero, rounded once (compared as values: -0 == 0) */
            operands z = make_operands(c, 0.f, 0.f);
            dev_ops g3 = upload(z);
            cuda_attention_backward_bf16(g3.b[g.iq] + g.oq, g3.b[g.ik] + g.ok, g3.b[g.iv] + g.ov, scr_, doutb_, q2, k2,
                                         v2, o2, lse_, &dd);
            unsigned short *b16[3] = {NULL, NULL, NULL};
            for (int i = 0; i < 3; i++)
                if (g3.b[i]) {
                    T_CHECK(cudaMalloc(&b16[i], buf(z, i).size() * 2));
                    T_CHECK(cudaMemset(b16[i], 0, buf(z, i).size() * 2));
                }
            cuda_attention_backward_bf16_g16(b16[g.iq] + g.oq, b16[g.ik] + g.ok, b16[g.iv] + g.ov, scr_, doutb_, q2, k2,
                                             v2, o2, NULL, lse_, &dd);
            size_t off = 0;
            for (int i = 0; i < 3; i++)
                if (b16[i]) {
                    const size_t n = buf(z, i).size();
                    std::vector<float> want = back(g3.b[i], n);
                    std::vector<unsigned short> got(n);
                    T_CHECK(cudaMemcpy(got.data(), b16[i], n * 2, cudaMemcpyDeviceToHost));
                    for (size_t e = 0; e < n; e++)
                        off += from_bf16(got[e]) != from_bf16(to_bf16(want[e]));
                    dfree(b16[i]);
                    b16[i] = NULL;
                }
            report(NAMED("bf16-stored gradients: elements off the fp32 form's, rounded"), (double)off, 0);
            /* D from the output's bf16 form alone (out NULL, as op_attention_qkv's bf16-only output):
             * within the bf16 tolerance of the fp32 kernel */
            std::vector<float> of = back(o2, nout);
            std::vector<unsigned short> oh(nout);
            for (size_t e = 0; e < nout; e++)
                oh[e] = to_bf16(of[e]);
            unsigned short *o16d;
            T_CHECK(cudaMalloc(&o16d, nout * 2));
            T_CHECK(cudaMemcpy(o16d, oh.data(), nout * 2, cudaMemcpyHostToDevice));
            for (int i = 0; i < 3; i++)
                if (b16[i] == NULL && g3.b[i]) {
                    T_CHECK(cudaMalloc(&b16[i], buf(z, i).size() * 2));
                    T_CHECK(cudaMemset(b16[i], 0, buf(z, i).size() * 2));
                }
            cuda_attention_backward_bf16_g16(b16[g.iq] + g.oq, b16[g.ik] + g.ok, b16[g.iv] + g.ov, scr_, doutb_, q2, k2,
                                             v2, NULL, o16d, lse_, &dd);
            for (int i = 0; i < 3; i++)
                if (b16[i]) {
                    const size_t n = buf(z, i).size();
                    std::vector<unsigned short> got(n);
                    std::vector<float> gotf(n);
                    T_CHECK(cudaMemcpy(got.data(), b16[i], n * 2, cudaMemcpyDeviceToHost));
                    for (size_t e = 0; e < n; e++)
                        gotf[e] = from_bf16(got[e]);
                    char what[96];
                    snprintf(what, sizeof what, "bf16-stored %s, D from the bf16 output, vs D from fp32", gname[i]);
                    check_vec(NAMED(what), gotf, back(g3.b[i], n), TOL_BF16_SAME);
                    dfree(b16[i]);
                }
            dfree(o16d);
            free_ops(g3);
        }
        for (int i = 0; i < 3; i++)
            if (bd[i])
                dfree(bd[i]);
        dfree(doutb_);
        dfree(doutr_);
        dfree(o1);
        dfree(o2);
        free_ops(xrd);
        free_ops(g1);
        free_ops(g2);
    }
#undef NAMED
    free_ops(xd);
    free_ops(gd);
    dfree(dout_);
    dfree(out_);
    dfree(att_);
    dfree(lse_);
    dfree(scr_);
    dfree(dslopes);
}

int main(int argc, char **argv)
{
    /* --quick: the few cases the slow sanitizer tools run */
    const int quick = argc > 1 && !strcmp(argv[1], "--quick");
    seq_open();
    const att_case cases[] = {
        {"causal fused-qkv B2 T100 H3 hs64", 2, 100, 100, 3, 64, ATT_CAUSAL, 0, 0, 0, FUSED_QKV},
        {"strict self-keys dq=dk B2 T65 H3 hs64 scale1", 2, 65, 65, 3, 64, ATT_STRICT, 0, 1.f, 0, SELF_KEYS},
        {"causal Tq<Tk B3 Tq37 Tk129 H2 hs32", 3, 37, 129, 2, 32, ATT_CAUSAL, 0, 0, 0, SEPARATE},
        {"strict B2 T77 H2 hs16", 2, 77, 77, 2, 16, ATT_STRICT, 0, 0, 0, SEPARATE},
        {"full alibi B1 T130 H3 hs128", 1, 130, 130, 3, 128, ATT_FULL, 0, 0, 1, SEPARATE},
        {"causal alibi B2 T70 H5 hs64", 2, 70, 70, 5, 64, ATT_CAUSAL, 0, 0, 1, SEPARATE},
        {"block20 B2 T96 H2 hs64", 2, 96, 96, 2, 64, ATT_BLOCK, 20, 0, 0, SEPARATE},
        {"block7 Tq<Tk B2 Tq30 Tk45 H1 hs32", 2, 30, 45, 1, 32, ATT_BLOCK, 7, 0, 0, SEPARATE},
        {"full shared-kv (pmem) B4 Tq50 Tk70 H2 hs32", 4, 50, 70, 2, 32, ATT_FULL, 0, 0, 0, SHARED_KV},
        {"full shared-kv (pmem) B1 Tq200 Tk67 H3 hs16", 1, 200, 67, 3, 16, ATT_FULL, 0, 0, 0, SHARED_KV},
        /* 8 splits of 12 sequences: blocks run 1 or 2 sequences of 3 query tiles each through the
         * double buffer, the shared k and v tiles loaded once */
        {"full shared-kv (pmem) B12 Tq150 Tk130 H2 hs64", 12, 150, 130, 2, 64, ATT_FULL, 0, 0, 0, SHARED_KV},
        {"strict self-keys hs2 B2 T33 H4 scale1", 2, 33, 33, 4, 2, ATT_STRICT, 0, 1.f, 0, SELF_KEYS},
        {"causal hs48 B1 T70 H2", 1, 70, 70, 2, 48, ATT_CAUSAL, 0, 0, 0, SEPARATE},
        {"causal decode step Tq1 Tk200 H2 hs128", 2, 1, 200, 2, 128, ATT_CAUSAL, 0, 0, 0, SEPARATE},
        {"strict decode step Tq1 Tk1 (no keys) hs32", 2, 1, 1, 2, 32, ATT_STRICT, 0, 0, 0, SEPARATE},
        {"causal peaked logits scale3 B1 T129 H2 hs64", 1, 129, 129, 2, 64, ATT_CAUSAL, 0, 3.f, 0, SEPARATE},
    };
    const int n = sizeof cases / sizeof cases[0];
    for (int i = 0; i < n; i++) {
        if (quick && i != 0 && i != 1 && i != 8)
            continue;
        run_case(cases[i], 1);
    }
    return seq_exit();
}
