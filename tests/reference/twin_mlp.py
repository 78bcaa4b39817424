"""PyTorch twin of memlab's two-layer perceptron (lib/nn/mlp.c) and of its AdamW: writes
tests/fixtures/mlp.safetensors.gz with the inputs, initial weights, outputs, loss, every gradient
and the weights after three AdamW steps. Run with Debian's interpreter:
    /usr/bin/python3 tests/reference/twin_mlp.py
"""
import os

import numpy as np
import torch

from safetensors_io import save

IN, HIDDEN, OUT, BATCH = 3, 5, 2, 4
LR, WD, BETAS, EPS, STEPS = 0.01, 0.1, (0.9, 0.999), 1e-8, 3


def main():
    torch.manual_seed(0)
    fc1 = torch.nn.Linear(IN, HIDDEN)
    fc2 = torch.nn.Linear(HIDDEN, OUT)
    x = torch.randn(BATCH, IN)
    y = torch.randn(BATCH, OUT)
    names = {"mlp.fc1.weight": fc1.weight, "mlp.fc1.bias": fc1.bias,
             "mlp.fc2.weight": fc2.weight, "mlp.fc2.bias": fc2.bias}
    out = {"x": x, "y": y}
    out.update({f"init.{k}": v.detach().clone() for k, v in names.items()})

    def forward():
        return fc2(torch.tanh(fc1(x)))

    pred = forward()
    loss = torch.nn.functional.mse_loss(pred, y)
    loss.backward()
    out["pred"] = pred.detach()
    out["loss"] = loss.detach().reshape(1)
    out.update({f"grad.{k}": v.grad.detach().clone() for k, v in names.items()})

    # memlab decays tensors of two or more dimensions only.
    decay = [v for v in names.values() if v.dim() >= 2]
    plain = [v for v in names.values() if v.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD},
                             {"params": plain, "weight_decay": 0.0}], lr=LR, betas=BETAS, eps=EPS)
    opt.zero_grad()
    for _ in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.mse_loss(forward(), y).backward()
        opt.step()
    out.update({f"after.{k}": v.detach().clone() for k, v in names.items()})

    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "fixtures", "mlp.safetensors.gz")
    save(path, {k: v.numpy().astype(np.float32) for k, v in out.items()},
         {"twin": "twin_mlp.py", "lr": LR, "weight_decay": WD, "steps": STEPS})
    print(f"wrote {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
