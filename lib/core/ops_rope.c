/* Rotary position embedding as an op: a shape check, the rotation and a recorded inverse rotation. */
#include "core/dispatch.h"
#include "core/error.h"
#include "core/ops.h"

static void rope_bwd(tape *tp, tape_node *node)
{
    tensor *x = node->in[0];
    const int H = (int)node->iarg[0];
    KERNEL_SEQ(x->device, rope_backward)(needs_grad(x) ? x->grad : NULL, node->out->grad, x->shape[0], x->shape[1], H,
                  x->shape[2] / H, (int)node->iarg[1]);
}

tensor *op_rope(tape *tp, tensor *x, int H, int pos0)
{
    char sx[64];
    if (x->ndim != 3)
        fatal("internal: op_rope: input must be [B,T,C] (%s)", tensor_shape_str(x, sx, sizeof sx));
    const int C = x->shape[2];
    if (H < 1 || C % H != 0 || (C / H) % 2 != 0)
        fatal("internal: op_rope: width %d is not divisible into %d heads of an even size", C, H);
    if (pos0 < 0)
        fatal("internal: op_rope: first position %d", pos0);
    device_kind dev = op_device("op_rope", tp->device, 1, &x);
    tensor *out = tape_tensor(tp, 3, x->shape);
    KERNEL_SEQ(dev, rope_forward)(out->data, x->data, x->shape[0], x->shape[1], H, C / H, pos0);
    tape_node *node = tape_record(tp, rope_bwd, out, 1, (tensor *[]){x});
    if (node) {
        node->iarg[0] = H;
        node->iarg[1] = pos0;
    }
    return out;
}
