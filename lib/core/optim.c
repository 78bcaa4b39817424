#include "core/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dispatch.h"
#include "core/error.h"
#include "core/pool.h"

/* One AdamW step over the store's elements [lo, hi), which may span several tensors: the whole
 * store is one pool loop (docs/threads.md), each element's update independent of the others. */
typedef struct {
    param_store *ps;
    const adamw_cfg *cfg;
    double lr, bc1, bc2;
    real clip;   /* the clip factor each gradient is multiplied by as it is read (1: none) */
} adamw_args;

static void adamw_range(void *arg, size_t lo, size_t hi)
{
    const adamw_args *a = arg;
    const param_store *ps = a->ps;
    const double b1 = a->cfg->beta1, b2 = a->cfg->beta2, eps = a->cfg->eps, lr = a->lr;
    for (int i = 0; i < ps->count && lo < hi; i++) {
        const param_entry *e = &ps->entries[i];
        if (lo >= e->offset + e->n)
            continue;
        const size_t end = hi < e->offset + e->n ? hi : e->offset + e->n;
        const double decay = e->decay ? lr * a->cfg->weight_decay : 0.0;
        real *p = ps->data, *g = ps->grad, *m = ps->m, *v = ps->v;
        for (size_t j = lo > e->offset ? lo : e->offset; j < end; j++) {   /* padding between tensors stays */
            /* the float product params_scale_grad would have stored: the same bits as clipping
             * in place first, and the gradient buffer keeps the unclipped values on every device */
            double gj = a->clip == 1 ? g[j] : (real)(g[j] * a->clip);
            double mj = b1 * m[j] + (1.0 - b1) * gj;
            double vj = b2 * v[j] + (1.0 - b2) * gj * gj;
            m[j] = (real)mj;
            v[j] = (real)vj;
            double update = (mj / a->bc1) / (sqrt(vj / a->bc2) + eps);
            p[j] = (real)(p[j] - decay * p[j] - lr * update);
        }
        lo = end;
    }
}

/* clip_scale: NULL, or the clip factor applied to each gradient as it is read (on the GPU the
 * device's copy, on the CPU the host's). */
static void adamw_step_scaled(param_store *ps, const adamw_cfg *cfg, double lr, long long t, const real *clip_scale)
{
    const double b1 = cfg->beta1, b2 = cfg->beta2;
    const int bc = !cfg->no_bias_correction;
    const double bc1 = bc ? 1.0 - pow(b1, (double)t) : 1.0, bc2 = bc ? 1.0 - pow(b2, (double)t) : 1.0;
#if HAVE_CUDA
    /* one fused kernel over the whole store, decay flags from the per-element mask */
    if (ps->device == DEV_CUDA) {
        cuda_adamw_step(ps->data, ps->grad, ps->m, ps->v, ps->decay_mask, ps->total, lr, b1, b2, cfg->eps,
                        cfg->weight_decay, bc1, bc2, clip_scale);
        return;
    }
#endif
    adamw_args a = {ps, cfg, lr, bc1, bc2, clip_scale ? *clip_scale : (real)1};
    pool_for(ps->total, ps->total > 65536, adamw_range, &a);
}

void adamw_step(param_store *ps, const adamw_cfg *cfg, double lr, long long t)
{
    adamw_step_scaled(ps, cfg, lr, t, NULL);
}

/* Here rather than in params.c, as params_scale_grad below: on the host the zeroing runs on the
 * pool, a piece of the store a participant (one memset of the whole store took one core: 56 MB a
 * step at 512 x 4 x 512). */
static void zero_range(void *arg, size_t lo, size_t hi) { memset((real *)arg + lo, 0, (hi - lo) * sizeof(real)); }

void params_zero_grad(param_store *ps)
{
    if (ps->device != DEV_CPU) {
        mem_zero(device_mem(ps->device), ps->grad, ps->total * sizeof(real));
        return;
    }
    pool_for(ps->total, ps->total >= ((size_t)1 << 18), zero_range, ps->grad);
}

/* Here rather than in params.c, which only stores (the checkpoint readers link params.c alone). */
void params_scale_grad(param_store *ps, real factor)
{
    if (ps->device != DEV_CPU) {
        KERNEL(ps->device, scale_forward)(ps->grad, ps->grad, factor, ps->total);
        return;
    }
    for (size_t i = 0; i < ps->total; i++)
        ps->grad[i] *= factor;
}

double schedule_lr(const schedule *s, long long step)
{
    if (step < s->warmup)
        return s->lr * (double)(step + 1) / (double)s->warmup;
    if (s->kind == SCHED_CONSTANT)
        return s->lr;
    long long span = s->total - s->warmup - 1;
    double p = span > 0 ? (double)(step - s->warmup) / (double)span : 1.0;
    if (p > 1)
        p = 1;
    if (s->kind == SCHED_LINEAR)
        return s->lr + (s->lr_end - s->lr) * p;
    return s->lr_end + (s->lr - s->lr_end) * 0.5 * (1.0 + cos(M_PI * p));
}

int schedule_kind_parse(const char *name)
{
    if (strcmp(name, "constant") == 0)
        return SCHED_CONSTANT;
    if (strcmp(name, "linear") == 0)
        return SCHED_LINEAR;
    if (strcmp(name, "cosine") == 0)
        return SCHED_COSINE;
    return -1;
}

#if HAVE_CUDA
/* The clip factor's place beside the norm in the store's pinned scalars. */
static real *clip_factor_cuda(const param_store *ps) { return (real *)((char *)ps->scalars + 32); }

/* The norm on the device and its clip factor for max_norm (1 when max_norm <= 0 or it is not
 * exceeded), which never leaves the GPU; scale_grads: the gradients scaled by it there too. The
 * host waits only to return the norm. */
static double grad_norm_cuda(const param_store *ps, double max_norm, int scale_grads)
{
    double *norm = ps->scalars;
    cuda_grad_norm(norm, clip_factor_cuda(ps), ps->grad, ps->total, max_norm);
    if (scale_grads && max_norm > 0)
        cuda_scale_inplace(ps->grad, ps->total, clip_factor_cuda(ps), 1);
    device_sync(DEV_CUDA);
    return *norm;
}
#endif

/* The squares' sum over the store in NORM_CHUNK pieces, each with NORM_LANES running sums (lane k
 * takes the elements j with j % NORM_LANES == k, added in order; the lanes then added in order): a
 * fixed order for any thread count and any vector width, since the compiler may not reassociate the
 * sums. One running sum over the whole store was a single dependency chain on one thread: 14M
 * additions of about four cycles' latency each at 512 x 4 x 512, some 19 ms a step whatever the
 * threads (an estimate; here it cost 10 ms a step: benchmarks/NOTES.md §26). */
#define NORM_CHUNK ((size_t)1 << 16)
#define NORM_LANES 8

typedef struct {
    const real *g;
    size_t n;
    double *part;   /* one per chunk */
} norm_args;

static void norm_chunks(void *arg, size_t lo, size_t hi)
{
    const norm_args *a = arg;
    for (size_t c = lo; c < hi; c++) {
        const size_t j0 = c * NORM_CHUNK, j1 = j0 + NORM_CHUNK < a->n ? j0 + NORM_CHUNK : a->n;
        double lane[NORM_LANES] = {0};
        size_t j = j0;
        for (; j + NORM_LANES <= j1; j += NORM_LANES)
            for (int k = 0; k < NORM_LANES; k++)
                lane[k] += (double)a->g[j + k] * a->g[j + k];
        for (int k = 0; j < j1; j++, k++)
            lane[k] += (double)a->g[j] * a->g[j];
        double s = 0;
        for (int k = 0; k < NORM_LANES; k++)
            s += lane[k];
        a->part[c] = s;
    }
}

double grad_norm(const param_store *ps)
{
#if HAVE_CUDA
    if (ps->device == DEV_CUDA)
        return grad_norm_cuda(ps, 0, 0);
#endif
    /* padding between tensors is zero and contributes nothing */
    const size_t chunks = (ps->total + NORM_CHUNK - 1) / NORM_CHUNK;
    double *part = xmalloc((chunks ? chunks : 1) * sizeof *part);
    pool_for(chunks, chunks > 1, norm_chunks, &(norm_args){ps->grad, ps->total, part});
    double sum = 0;
    for (size_t c = 0; c < chunks; c++)
        sum += part[c];
    free(part);
    return sqrt(sum);
}

double clip_grad_norm(param_store *ps, double max_norm)
{
#if HAVE_CUDA
    if (ps->device == DEV_CUDA)
        return grad_norm_cuda(ps, max_norm, 1);
#endif
    double norm = grad_norm(ps);
    if (norm > max_norm && norm > 0) {
        real factor = (real)(max_norm / norm);
        params_scale_grad(ps, factor);
    }
    return norm;
}

double adamw_step_clipped(param_store *ps, const adamw_cfg *cfg, double lr, long long t, double max_norm)
{
#if HAVE_CUDA
    if (ps->device == DEV_CUDA) {
        const double norm = grad_norm_cuda(ps, max_norm, 0);
        if (isfinite(norm))
            adamw_step_scaled(ps, cfg, lr, t, max_norm > 0 ? clip_factor_cuda(ps) : NULL);
        return norm;
    }
#endif
    const double norm = grad_norm(ps);
    const real factor = max_norm > 0 && norm > max_norm ? (real)(max_norm / norm) : (real)1;   /* clip_grad_norm's */
    if (isfinite(norm))
        adamw_step_scaled(ps, cfg, lr, t, &factor);
    return norm;
}
