/* How far the language model head's gradients move when its logits are rounded to bf16 (branch
 * exp18's --dtype bf16 head, as PyTorch's autocast keeps them) against rounding only the gradient
 * (the head before it), emulated on the host in double with the same roundings as the GPU: bf16
 * operands, the logits rounded to bf16 or kept in fp32, the gradient rounded to bf16 for the dx
 * product. Inputs as test_dense's test_linear_xent: C 768, V 50,304, x in [-1, 1], w in [-0.5, 0.5],
 * scale 0.7. Prints the mean loss each way and the largest error of dx against its largest
 * magnitude, which is what test_dense checks (benchmarks/NOTES.md §25).
 *
 *   cc -O3 -march=native -o /tmp/head_bf16_emulation benchmarks/head_bf16_emulation.c -lm
 *   /tmp/head_bf16_emulation 128      # rows (16: 1 s, 128: 6 s on 2 cores)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { C = 768, V = 50304 };

/* fp32 -> bf16 -> fp32, round to nearest even (finite inputs). */
static float bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

static double uniform(double lo, double hi) { return lo + (hi - lo) * (rand() / (double)RAND_MAX); }

static double lse_of(const float *x)
{
    double m = -INFINITY, s = 0;
    for (int v = 0; v < V; v++)
        m = x[v] > m ? x[v] : m;
    for (int v = 0; v < V; v++)
        s += exp(x[v] - m);
    return m + log(s);
}

int main(int argc, char **argv)
{
    const int N = argc > 1 ? atoi(argv[1]) : 16;
    if (N < 1) {
        fprintf(stderr, "usage: head_bf16_emulation ROWS (ROWS >= 1)\n");
        return 1;
    }
    const float scale = 0.7f;
    float *x = malloc(sizeof *x * N * C), *xb = malloc(sizeof *xb * N * C);
    float *w = malloc(sizeof *w * (size_t)V * C), *wb = malloc(sizeof *wb * (size_t)V * C);
    float *exact = malloc(sizeof *exact * V), *l32 = malloc(sizeof *l32 * V), *l16 = malloc(sizeof *l16 * V);
    double *dx[3] = {calloc((size_t)N * C, sizeof(double)), calloc((size_t)N * C, sizeof(double)),
                     calloc((size_t)N * C, sizeof(double))};
    double loss[3] = {0, 0, 0};
    for (size_t i = 0; i < (size_t)N * C; i++)
        xb[i] = bf16(x[i] = (float)uniform(-1, 1));
    for (size_t i = 0; i < (size_t)V * C; i++)
        wb[i] = bf16(w[i] = (float)uniform(-0.5, 0.5));
    for (int n = 0; n < N; n++) {
        const int t = rand() % V;
        for (int v = 0; v < V; v++) {
            double a = 0, b = 0;
            for (int c = 0; c < C; c++) {
                a += (double)x[n * C + c] * w[(size_t)v * C + c];
                b += (double)xb[n * C + c] * wb[(size_t)v * C + c];
            }
            exact[v] = (float)(scale * a);   /* the CPU's fp32 logits */
            l32[v] = (float)(scale * b);     /* bf16 operands, fp32 logits */
            l16[v] = bf16(l32[v]);           /* bf16 operands, bf16 logits */
        }
        const float *lg[3] = {exact, l32, l16};
        for (int k = 0; k < 3; k++) {
            const double lse = lse_of(lg[k]);
            loss[k] += lse - lg[k][t];
            for (int v = 0; v < V; v++) {
                const double g = scale * (exp(lg[k][v] - lse) - (v == t)) / N;
                const double gk = k == 0 ? g : (double)bf16((float)g);   /* the products' bf16 operand */
                const float *wk = k == 0 ? w : wb;
                for (int c = 0; c < C; c++)
                    dx[k][n * C + c] += gk * wk[(size_t)v * C + c];
            }
        }
    }
    double big = 0, err[3] = {0, 0, 0};
    for (size_t i = 0; i < (size_t)N * C; i++) {
        big = fmax(big, fabs(dx[0][i]));
        for (int k = 1; k < 3; k++)
            err[k] = fmax(err[k], fabs(dx[k][i] - dx[0][i]));
    }
    printf("rows,loss_fp32,loss_bf16_operands,loss_bf16_logits,dx_err_bf16_operands,dx_err_bf16_logits\n");
    printf("%d,%.6f,%.6f,%.6f,%.4f,%.4f\n", N, loss[0] / N, loss[1] / N, loss[2] / N, err[1] / big, err[2] / big);
    return 0;
}
