/* The LSTM recurrence as one op: the kernel pair of kernels_lstm.c, with the cell states and the
 * activated gates kept in the tape's arena for the backward pass. */
#include "core/dispatch.h"
#include "core/error.h"
#include "core/ops.h"

static real *grad_of(tensor *t) { return needs_grad(t) ? t->grad : NULL; }

static void lstm_bwd(tape *tp, tape_node *node)
{
    tensor *xproj = node->in[0], *w_hh = node->in[1], *h = node->out;
    const int B = xproj->shape[0], T = xproj->shape[1], H = h->shape[2];
    real *dx = grad_of(xproj), *dw = grad_of(w_hh);
    if (!dx && !dw)
        return;
    real *scratch = tape_alloc(tp, ((size_t)B * T * 4 * H + 2 * (size_t)B * H) * sizeof(real));
    lstm_backward(dx, dw, scratch, h->grad, h->data, node->saved[0], node->saved[1], w_hh->data, B, T, H);
}

tensor *op_lstm(tape *tp, tensor *xproj, tensor *w_hh)
{
    char sx[64], sw[64];
    if (xproj->ndim != 3 || xproj->shape[2] % 4 != 0 || w_hh->ndim != 2 || w_hh->shape[0] != xproj->shape[2] ||
        w_hh->shape[0] != 4 * w_hh->shape[1])
        fatal("internal: op_lstm: xproj %s must be [B,T,4H] and w_hh %s [4H,H]",
              tensor_shape_str(xproj, sx, sizeof sx), tensor_shape_str(w_hh, sw, sizeof sw));
    /* the lstm stays on the CPU (issue 19 allows it) */
    op_cpu_only("op_lstm", op_device("op_lstm", tp->device, 2, (tensor *[]){xproj, w_hh}));
    const int B = xproj->shape[0], T = xproj->shape[1], H = w_hh->shape[1];
    tensor *h = tape_tensor(tp, 3, (int[]){B, T, H});
    real *c = tape_alloc(tp, (size_t)B * T * H * sizeof(real));
    real *gates = tape_alloc(tp, xproj->n * sizeof(real));
    lstm_forward(h->data, c, gates, xproj->data, w_hh->data, B, T, H);
    tape_node *node = tape_record(tp, lstm_bwd, h, 2, (tensor *[]){xproj, w_hh});
    if (node) {
        node->saved[0] = c;
        node->saved[1] = gates;
    }
    return h;
}
