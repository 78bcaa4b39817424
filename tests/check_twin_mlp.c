/* The two-layer perceptron and AdamW against their PyTorch twin (tests/reference/twin_mlp.py):
 * output, loss, every gradient, and the weights after three optimiser steps. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "core/ops.h"
#include "core/optim.h"
#include "io/ckpt.h"
#include "nn/mlp.h"
#include "test_util.h"

START_TEST(test_mlp_matches_pytorch)
{
    char *path = test_fixture("mlp.safetensors.gz");
    tensor *x = fixture_tensor(path, "x"), *y = fixture_tensor(path, "y");
    param_store ps;
    mlp net;
    params_init(&ps);
    mlp_declare(&net, &ps, "mlp", x->shape[1], 5, y->shape[1]);
    params_alloc(&ps);
    fixture_load_params(path, &ps, "init.");

    tape tp;
    tape_init(&tp);
    tensor *pred = mlp_forward(&net, &ps, &tp, x);
    tensor *loss = op_mse(&tp, pred, y, 0);
    tensor *want = fixture_tensor(path, "pred");
    expect_fixture_close(pred->data, want, "pred", 1e-5);
    tensor_free(want);
    want = fixture_tensor(path, "loss");
    expect_fixture_close(loss->data, want, "loss", 1e-5);
    tensor_free(want);
    params_zero_grad(&ps);
    tape_backward(&tp, loss);
    for (int i = 0; i < ps.count; i++) {
        char name[128];
        snprintf(name, sizeof name, "grad.%s", ps.entries[i].name);
        want = fixture_tensor(path, name);
        expect_fixture_close(params_tensor(&ps, i)->grad, want, name, 1e-4);
        tensor_free(want);
    }
    tape_reset(&tp);

    /* Three AdamW steps as the twin takes them (lr 0.01, decay 0.1 on matrices only). */
    adamw_cfg cfg = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};
    for (int step = 1; step <= 3; step++) {
        tensor *l = op_mse(&tp, mlp_forward(&net, &ps, &tp, x), y, 0);
        params_zero_grad(&ps);
        tape_backward(&tp, l);
        adamw_step(&ps, &cfg, 0.01, step);
        tape_reset(&tp);
    }
    for (int i = 0; i < ps.count; i++) {
        char name[128];
        snprintf(name, sizeof name, "after.%s", ps.entries[i].name);
        want = fixture_tensor(path, name);
        expect_fixture_close(params_tensor(&ps, i)->data, want, name, 1e-5);
        tensor_free(want);
    }
    tape_free(&tp);
    params_free(&ps);
    tensor_free(x);
    tensor_free(y);
    test_fixture_done(path);
}
END_TEST

Suite *suite_twin_mlp(void)
{
    Suite *s = suite_create("twin_mlp");
    TCase *tc = tcase_create("pytorch");
    tcase_add_test(tc, test_mlp_matches_pytorch);
    suite_add_tcase(s, tc);
    return s;
}
