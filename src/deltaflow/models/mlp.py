"""Multi-layer perceptron: ``[Flatten] → (Linear → [BatchNorm1d] → act → [Dropout])* → Linear``.

Layer ``l`` computes ``a⁽ˡ⁾ = f(W⁽ˡ⁾a⁽ˡ⁻¹⁾ + b⁽ˡ⁾)``; the last layer gives the class scores
(logits) for ``CrossEntropyLoss``. The model is an ``nn.Sequential``, so its ``state_dict``
keys (``1.weight``, ``1.bias``, ...) are those of the same ``torch.nn.Sequential``.
"""
from __future__ import annotations

import math

from .. import nn

#: ``--activation`` name -> module class
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
               "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "silu": nn.SiLU, "selu": nn.SELU}

DEFAULT_HIDDEN = (256, 256)


def mlp(in_features: int, hidden, num_classes: int, activation: str = "relu",
        dropout: float = 0.0, batchnorm: bool = False, flatten: bool = False) -> nn.Sequential:
    """An MLP ``in_features → hidden[0] → ... → num_classes``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp: unknown activation {activation!r}; expected one of "
                         f"{', '.join(ACTIVATIONS)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"mlp: dropout must be in [0, 1), got {dropout}")
    layers = [nn.Flatten()] if flatten else []
    width = in_features
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if batchnorm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build(input_shape, num_classes, args):
    """The CLI's ``--model mlp``: options ``hidden``, ``activation``, ``dropout``,
    ``batchnorm``; inputs of any shape are flattened."""
    return mlp(math.prod(input_shape), getattr(args, "hidden", None) or DEFAULT_HIDDEN,
               num_classes, activation=getattr(args, "activation", None) or "relu",
               dropout=getattr(args, "dropout", None) or 0.0,
               batchnorm=bool(getattr(args, "batchnorm", False)),
               flatten=len(input_shape) > 1)
