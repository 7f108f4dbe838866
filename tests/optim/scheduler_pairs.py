"""The scheduler tests' shared set-up: the same optimizer in deltaflow and torch, the values a
scheduler changes, and a step with zero gradients."""
from __future__ import annotations

import deltaflow as dl
from deltaflow import optim


def optimizer_pair(torch, name="SGD", groups=2, **kw):
    kw = kw or (dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1))
    ours = [dict(params=[dl.nn.Parameter(dl.zeros(2, dtype=dl.float64))], lr=0.1 * (k + 1))
            for k in range(groups)]
    theirs = [dict(params=[torch.zeros(2, dtype=torch.float64, requires_grad=True)],
                   lr=0.1 * (k + 1)) for k in range(groups)]
    return getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)


def scheduled_values(opt):
    out = []
    for g in opt.param_groups:
        out.append(g["lr"])
        if "momentum" in g:
            out.append(g["momentum"])
        if "betas" in g:
            out.extend(g["betas"])
    return out


def zero_grad_step(torch, opt):
    for g in opt.param_groups:
        for p in g["params"]:
            p.grad = dl.zeros_like(p) if isinstance(p, dl.Tensor) else torch.zeros_like(p)
    opt.step()
