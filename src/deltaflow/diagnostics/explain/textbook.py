"""The textbook example (``examples/two_layer_network.py``: a 3→4→2 sigmoid network with
L = ½Σ(a−y)²) and MLPs from a spec like ``4,8,3``: what ``deltaflow explain`` runs on
without a model."""
from __future__ import annotations

import numpy as np

#: the textbook example (``examples/two_layer_network.py``): one sample per row
TEXTBOOK_X = np.array([[0.5, 0.1, 0.2], [0.3, 0.4, 0.6]])
TEXTBOOK_Y = np.array([[1.0, 0.0], [0.0, 1.0]])
TEXTBOOK_LR = 0.1


def half_sse(output, target):
    """L = ½ Σ (a − y)², summed over samples and outputs (the textbook loss)."""
    return 0.5 * ((output - target) ** 2).sum()


def textbook_model(sizes=(3, 4, 2), seed=0):
    """The example's sigmoid network as ``nn.Sequential`` (float64), with its weights:
    W⁽ˡ⁾ ~ N(0, 1) drawn as (in, out) by ``numpy.random.default_rng(seed)``, b = 0."""
    from ... import nn
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        linear = nn.Linear(n_in, n_out).double()
        linear.weight.data = rng.standard_normal((n_in, n_out)).T.copy()
        linear.bias.data = np.zeros(n_out)
        layers += [linear, nn.Sigmoid()]
    return nn.Sequential(*layers)


def mlp_from_spec(spec, activation="relu", output_activation=None):
    """``"4,8,3"`` → Linear(4,8) → activation → Linear(8,3) [→ output_activation]."""
    from ... import nn
    sizes = parse_sizes(spec)
    acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU,
            "none": None, None: None}
    for name in (activation, output_activation):
        if name not in acts:
            raise ValueError(f"unknown activation {name!r}; expected one of "
                             "relu, sigmoid, tanh, gelu, none")
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        act = acts[activation] if k < len(sizes) - 2 else acts[output_activation]
        if act is not None:
            layers.append(act())
    return nn.Sequential(*layers)


def parse_sizes(spec) -> tuple:
    try:
        sizes = tuple(int(s) for s in str(spec).split(","))
    except ValueError:
        raise ValueError(f"MLP spec must be comma-separated layer widths like 4,8,3; "
                         f"got {spec!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"MLP spec needs at least two positive widths (input,output); "
                         f"got {spec!r}")
    return sizes


__all__ = ["TEXTBOOK_LR", "TEXTBOOK_X", "TEXTBOOK_Y", "half_sse", "mlp_from_spec", "parse_sizes",
           "textbook_model"]
