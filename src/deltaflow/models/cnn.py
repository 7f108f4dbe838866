"""LeNet-style convolutional classifier:
``(Conv2d → [BatchNorm2d] → ReLU → MaxPool2d(2))* → Flatten → [Dropout] → Linear → ReLU →
[Dropout] → Linear``.

Each block's k×k convolution is padded by k//2 so only the pooling halves the image; the
last layers classify the flattened feature maps. With the defaults (channels 32,64,
kernel 3, fc 128) on 1×28×28 MNIST this is the network of ``benchmarks/workloads/cnn.py``.
The model is an ``nn.Sequential``, so its ``state_dict`` keys are those of the same
``torch.nn.Sequential``.
"""
from __future__ import annotations

import argparse

from .. import nn

DEFAULT_CHANNELS = (32, 64)
DEFAULT_FC = 128


def cnn(input_shape, num_classes: int, channels=DEFAULT_CHANNELS, kernel_size: int = 3,
        fc: int = DEFAULT_FC, dropout: float = 0.0, batchnorm: bool = False) -> nn.Sequential:
    """A CNN for images of ``input_shape`` (C, H, W): one conv block per entry of
    ``channels``, then a hidden Linear of ``fc`` units (none when ``fc`` is 0)."""
    if len(input_shape) != 3:
        raise ValueError(f"cnn: expected image inputs of shape (C, H, W), got samples of shape "
                         f"{tuple(input_shape)} (use --model mlp for flat features)")
    if not channels or min(channels) < 1:
        raise ValueError(f"cnn: channels must be positive, got {tuple(channels)}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"cnn: kernel_size must be odd and positive, got {kernel_size}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"cnn: dropout must be in [0, 1), got {dropout}")
    c, h, w = input_shape
    if min(h, w) >> len(channels) < 1:
        raise ValueError(f"cnn: {len(channels)} pooling blocks halve a {h}×{w} image to "
                         "nothing; use fewer channels entries")
    layers = []
    for out in channels:
        layers.append(nn.Conv2d(c, out, kernel_size, padding=kernel_size // 2))
        if batchnorm:
            layers.append(nn.BatchNorm2d(out))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = out, h // 2, w // 2
    layers.append(nn.Flatten())
    width = c * h * w
    if fc:
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Linear(width, fc), nn.ReLU()]
        width = fc
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def _channels(text) -> tuple:
    try:
        values = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected channels like 32,64, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive channels like 32,64, got {text!r}")
    return values


def _count(text) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return n


def add_arguments(parser) -> None:
    """``--channels``, ``--kernel-size``, ``--fc`` (``--dropout``, ``--batchnorm`` are shared)."""
    parser.add_argument("--channels", default=DEFAULT_CHANNELS, type=_channels,
                        metavar="C,C", help="output channels of each conv block "
                        "(default 32,64; each block halves the image)")
    parser.add_argument("--kernel-size", default=3, type=_count, metavar="K",
                        help="odd convolution kernel size (default 3)")
    parser.add_argument("--fc", default=DEFAULT_FC, type=_count, metavar="N",
                        help="hidden units of the fully connected layer (default 128; 0: none)")


def build(input_shape, num_classes, args):
    """The CLI's ``--model cnn`` for image data (digits 1×8×8, MNIST 1×28×28, ...)."""
    channels = getattr(args, "channels", None) or DEFAULT_CHANNELS
    fc = getattr(args, "fc", None)
    return cnn(input_shape, num_classes, channels=tuple(channels),
               kernel_size=getattr(args, "kernel_size", None) or 3,
               fc=DEFAULT_FC if fc is None else fc,
               dropout=getattr(args, "dropout", None) or 0.0,
               batchnorm=bool(getattr(args, "batchnorm", False)))
