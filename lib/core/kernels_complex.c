/* Complex-structured real matrices: an n x n complex matrix a + ib stored as p[2][n][n] becomes the
 * 2n x 2n real matrix acting on interleaved (re, im) pairs, [re; im] of entry (i, j) mapping
 * through the block [[a, -b], [b, a]]. 2n^2 parameters instead of 4n^2 (three moons: 18 for 3x3). */
#include "core/kernels.h"

void complex_expand_forward(real *W, const real *p, int n)
{
    const size_t nn = (size_t)n * n, w = 2 * (size_t)n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            const real a = p[(size_t)i * n + j], b = p[nn + (size_t)i * n + j];
            real *r0 = W + 2 * (size_t)i * w + 2 * (size_t)j;
            real *r1 = r0 + w;
            r0[0] = a;
            r0[1] = -b;
            r1[0] = b;
            r1[1] = a;
        }
}

/* Each parameter appears twice in W, so its gradient is the sum (with the sign it carries). */
void complex_expand_backward(real *dp, const real *dW, int n)
{
    if (!dp)
        return;
    const size_t nn = (size_t)n * n, w = 2 * (size_t)n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            const real *r0 = dW + 2 * (size_t)i * w + 2 * (size_t)j;
            const real *r1 = r0 + w;
            dp[(size_t)i * n + j] += r0[0] + r1[1];
            dp[nn + (size_t)i * n + j] += r1[0] - r0[1];
        }
}
