"""``F.conv1d/2d/3d``, ``F.conv_transpose1d/2d/3d``, ``F.unfold``, ``F.fold``: check
PyTorch-style arguments, then run the ops of :mod:`deltaflow.ops.conv` (a 3-D convolution,
plain or transposed, is a sum of 2-D ones over the kernel's depth)."""
from __future__ import annotations

from ... import creation
from ... import functional as _F
from ...ops import conv as _C

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "unfold", "fold"]


def ntuple(value, n, op, what):
    """An int or a sequence of n ints as an n-tuple of ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != n or not all(isinstance(v, int) for v in value):
            raise ValueError(f"{op}: {what} must be an int or a tuple of {n} ints, "
                             f"got {value!r}")
        return tuple(value)
    if not isinstance(value, int):
        raise ValueError(f"{op}: {what} must be an int or a tuple of {n} ints, got {value!r}")
    return (value,) * n


def positive(values, op, what, minimum=1):
    if min(values) < minimum:
        raise ValueError(f"{op}: {what} must be >= {minimum}, got {values}")
    return values


def _check_tensors(op, input, weight, bias, spatial):
    """Same dtype and device, batched or unbatched input of the right rank."""
    if input.ndim not in (spatial + 1, spatial + 2):
        dims = {1: "L", 2: "H, W", 3: "D, H, W"}[spatial]
        raise ValueError(f"{op}: expected a {spatial + 2}-D input (N, C, {dims}) or a "
                         f"{spatial + 1}-D unbatched one, got shape {tuple(input.shape)}")
    if weight.ndim != spatial + 2:
        raise ValueError(f"{op}: expected a {spatial + 2}-D weight, got shape "
                         f"{tuple(weight.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is None:
            continue
        if t.dtype != input.dtype:
            raise TypeError(f"{op}: input dtype {input.dtype} and {name} dtype {t.dtype} "
                            "differ; convert one of them (e.g. model.double() or x.float())")
        if t.device != input.device:
            raise RuntimeError(f"{op}: input is on {input.device} but {name} is on "
                               f"{t.device}")


def batched(input, spatial):
    """(input with a batch axis, whether one was added)."""
    if input.ndim == spatial + 1:
        return _F.unsqueeze(input, 0), True
    return input, False


def lift(values, spatial, fill):
    """Per-axis options of a 1-D op as the (height, width) pair of a height-1 image."""
    return (fill,) + values if spatial == 1 else values


def _conv(op, spatial, input, weight, bias, stride, padding, dilation, groups):
    _check_tensors(op, input, weight, bias, spatial)
    x, unbatched = batched(input, spatial)
    stride = positive(ntuple(stride, spatial, op, "stride"), op, "stride")
    dilation = positive(ntuple(dilation, spatial, op, "dilation"), op, "dilation")
    kernel = tuple(weight.shape[2:])
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    C, O, Cg = x.shape[1], weight.shape[0], weight.shape[1]
    if C != Cg * groups:
        raise ValueError(f"{op}: input has {C} channels but weight of shape "
                         f"{tuple(weight.shape)} with groups={groups} expects "
                         f"{Cg * groups} (= weight.shape[1] × groups)")
    if O % groups:
        raise ValueError(f"{op}: out_channels {O} must be divisible by groups={groups}")
    if bias is not None and tuple(bias.shape) != (O,):
        raise ValueError(f"{op}: bias of shape {tuple(bias.shape)} does not match "
                         f"{O} output channels")
    if isinstance(padding, str):
        if padding == "valid":
            pads = tuple((0, 0) for _ in kernel)
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            pads = tuple((t // 2, t - t // 2) for t in total)
        else:
            raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a tuple, "
                             f"got {padding!r}")
    else:
        pads = tuple((p, p) for p in positive(ntuple(padding, spatial, op, "padding"),
                                                op, "padding", minimum=0))
    for size, (lo, hi), k, d in zip(x.shape[2:], pads, kernel, dilation):
        if size + lo + hi < d * (k - 1) + 1:
            raise ValueError(f"{op}: kernel size {kernel} (dilation {dilation}) is larger "
                             f"than the padded input {tuple(x.shape[2:])} + padding {pads}")
    if spatial == 3:
        y = _conv_by_depth(x, weight, bias, stride, pads, dilation, groups)
    else:
        tensors = (x, weight) if bias is None else (x, weight, bias)
        y = _C.Convolution.apply(*tensors, stride=lift(stride, spatial, 1),
                                 padding=lift(pads, spatial, (0, 0)),
                                 dilation=lift(dilation, spatial, 1), groups=groups)
    return _F.squeeze(y, 0) if unbatched else y


def _conv_by_depth(x, weight, bias, stride, pads, dilation, groups):
    """3-D cross-correlation as Σ over kernel depth k of 2-D ones:
    y[:, :, d] = b + Σ_k conv2d(x_pad[:, :, d·s_d + k·δ_d], w[:, :, k]); each term runs as one
    2-D convolution over all output depths at once (depth folded into the batch)."""
    (d_lo, d_hi), hw_pads = pads[0], pads[1:]
    if d_lo or d_hi:
        x = _F.pad(x, [0, 0, 0, 0, d_lo, d_hi])
    N, C, D, H, W = x.shape
    O, kD = weight.shape[0], weight.shape[2]
    (sd, *s_hw), (dd, *d_hw) = stride, dilation
    Do = (D - dd * (kD - 1) - 1) // sd + 1
    y = None
    for k in range(kD):                                 # kernel depth: a few 2-D GEMMs
        xs = x[:, :, k * dd: k * dd + sd * (Do - 1) + 1: sd]          # (N, C, Do, H, W)
        xs = _F.reshape(_F.transpose(xs, 1, 2), (N * Do, C, H, W))
        part = _C.Convolution.apply(xs, weight[:, :, k], stride=tuple(s_hw), padding=hw_pads,
                                    dilation=tuple(d_hw), groups=groups)
        y = part if y is None else y + part
    y = _F.transpose(_F.reshape(y, (N, Do, O, *y.shape[2:])), 1, 2)
    return y if bias is None else y + _F.reshape(bias, (1, O, 1, 1, 1))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation of input (N, C_in, L) with weight (C_out, C_in/groups, k)."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of input (N, C_in, H, W) with weight (C_out, C_in/groups, kh, kw):
    y[n,o,i,j] = b[o] + Σ_{c,p,q} w[o,c,p,q]·x_pad[n, c', i·sh + p·dh, j·sw + q·dw].
    ``padding`` is an int, a pair, 'valid' or 'same' (stride 1; extra padding goes right)."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D cross-correlation of input (N, C_in, D, H, W) with weight
    (C_out, C_in/groups, kd, kh, kw); options as :func:`conv2d`, per depth, height, width."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op, spatial, input, weight, bias, stride, padding, output_padding,
                    groups, dilation):
    _check_tensors(op, input, weight, bias, spatial)
    x, unbatched = batched(input, spatial)
    stride = positive(ntuple(stride, spatial, op, "stride"), op, "stride")
    dilation = positive(ntuple(dilation, spatial, op, "dilation"), op, "dilation")
    padding = positive(ntuple(padding, spatial, op, "padding"), op, "padding", minimum=0)
    output_padding = positive(ntuple(output_padding, spatial, op, "output_padding"), op,
                               "output_padding", minimum=0)
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ >= max(s, d):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than "
                             f"either stride {stride} or dilation {dilation}")
    Cin, Cout = x.shape[1], weight.shape[1] * groups
    if weight.shape[0] != Cin:
        raise ValueError(f"{op}: input has {Cin} channels but weight of shape "
                         f"{tuple(weight.shape)} expects {weight.shape[0]} (weight is "
                         "(in_channels, out_channels/groups, *kernel))")
    if Cin % groups:
        raise ValueError(f"{op}: in_channels {Cin} must be divisible by groups={groups}")
    if bias is not None and tuple(bias.shape) != (Cout,):
        raise ValueError(f"{op}: bias of shape {tuple(bias.shape)} does not match "
                         f"{Cout} output channels")
    for n, s, d, k, p, o in zip(x.shape[2:], stride, dilation, weight.shape[2:], padding,
                                output_padding):
        if (n - 1) * s + d * (k - 1) + 1 - 2 * p + o < 1:
            raise ValueError(f"{op}: padding {padding} is too large for input "
                             f"{tuple(x.shape[2:])}: the output would be empty")
    if spatial == 3:
        y = _conv_transpose_by_depth(x, weight, bias, stride, padding, output_padding, groups,
                                     dilation)
    else:
        tensors = (x, weight) if bias is None else (x, weight, bias)
        y = _C.TransposedConvolution.apply(
            *tensors, stride=lift(stride, spatial, 1), padding=lift(padding, spatial, 0),
            output_padding=lift(output_padding, spatial, 0),
            dilation=lift(dilation, spatial, 1), groups=groups)
    return _F.squeeze(y, 0) if unbatched else y


def _conv_transpose_by_depth(x, weight, bias, stride, padding, output_padding, groups,
                             dilation):
    """3-D transposed convolution as Σ over kernel depth k of 2-D ones: input depth d adds
    conv_transpose2d(x[:, :, d], w[:, :, k]) at output depth d·s_d + k·δ_d − p_d (depth
    folded into the batch; the results spread s_d apart, shifted by k·δ_d, then cropped)."""
    N, C, D, H, W = x.shape
    O, kD = weight.shape[1] * groups, weight.shape[2]
    (sd, *s_hw), (pd, *p_hw), (od, *o_hw), (dd, *d_hw) = stride, padding, output_padding, \
        dilation
    full = (D - 1) * sd + dd * (kD - 1) + 1
    xs = _F.reshape(_F.transpose(x, 1, 2), (N * D, C, H, W))
    y = None
    for k in range(kD):                                 # kernel depth: a few 2-D GEMMs
        part = _C.TransposedConvolution.apply(
            xs, weight[:, :, k], stride=tuple(s_hw), padding=tuple(p_hw),
            output_padding=tuple(o_hw), dilation=tuple(d_hw), groups=groups)
        part = _F.transpose(_F.reshape(part, (N, D, O, *part.shape[2:])), 1, 2)
        if sd > 1:                                      # input depths land s_d apart
            zeros = creation.zeros_like(part)
            part = _F.stack([part] + [zeros] * (sd - 1), dim=3)
            part = _F.reshape(part, (N, O, D * sd, *part.shape[4:]))[:, :, :(D - 1) * sd + 1]
        part = _F.pad(part, [0, 0, 0, 0, k * dd, full - k * dd - ((D - 1) * sd + 1)])
        y = part if y is None else y + part
    if od:
        y = _F.pad(y, [0, 0, 0, 0, 0, od])
    y = y[:, :, pd: full - pd + od]
    return y if bias is None else y + _F.reshape(bias, (1, O, 1, 1, 1))


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """1-D transposed convolution; weight (C_in, C_out/groups, k)."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """2-D transposed convolution (the gradient of conv2d with respect to its input);
    weight (C_in, C_out/groups, kh, kw); output size (n−1)·s − 2p + d·(k−1) + output_padding + 1."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """3-D transposed convolution of (N, C_in, D, H, W) with weight
    (C_in, C_out/groups, kd, kh, kw); options as :func:`conv_transpose2d`, per axis."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def _block_args(op, kernel_size, dilation, padding, stride):
    kernel = positive(ntuple(kernel_size, 2, op, "kernel_size"), op, "kernel_size")
    dilation = positive(ntuple(dilation, 2, op, "dilation"), op, "dilation")
    padding = positive(ntuple(padding, 2, op, "padding"), op, "padding", minimum=0)
    stride = positive(ntuple(stride, 2, op, "stride"), op, "stride")
    return kernel, dilation, padding, stride


def _blocks(op, size, kernel, dilation, padding, stride):
    n = [_C.out_size(s, k, st, p, p, d)
         for s, k, st, p, d in zip(size, kernel, stride, padding, dilation)]
    if min(n) < 1:
        raise ValueError(f"{op}: kernel {kernel} (dilation {dilation}) does not fit the "
                         f"spatial size {tuple(size)} with padding {padding}")
    return n


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding local blocks: (N, C, H, W) → (N, C·kh·kw, L), L = number of blocks."""
    op = "unfold"
    kernel, dilation, padding, stride = _block_args(op, kernel_size, dilation, padding, stride)
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) or a 3-D unbatched one, "
                         f"got shape {tuple(input.shape)}")
    x, unbatched = batched(input, 2)
    _blocks(op, x.shape[2:], kernel, dilation, padding, stride)
    y = _C.Im2Col.apply(x, kernel_size=kernel, stride=stride, padding=padding,
                        dilation=dilation)
    return _F.squeeze(y, 0) if unbatched else y


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding local blocks (N, C·kh·kw, L) into an image (N, C, *output_size)."""
    op = "fold"
    kernel, dilation, padding, stride = _block_args(op, kernel_size, dilation, padding, stride)
    size = positive(ntuple(output_size, 2, op, "output_size"), op, "output_size")
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 3-D input (N, C·kh·kw, L) or a 2-D unbatched "
                         f"one, got shape {tuple(input.shape)}")
    x, unbatched = (_F.unsqueeze(input, 0), True) if input.ndim == 2 else (input, False)
    n = _blocks(op, size, kernel, dilation, padding, stride)
    if x.shape[1] % (kernel[0] * kernel[1]):
        raise ValueError(f"{op}: input.shape[1] = {x.shape[1]} is not divisible by the "
                         f"kernel area {kernel[0] * kernel[1]}")
    if x.shape[2] != n[0] * n[1]:
        raise ValueError(f"{op}: input has {x.shape[2]} blocks but output_size {size} with "
                         f"kernel {kernel}, dilation {dilation}, padding {padding}, stride "
                         f"{stride} gives {n[0]} × {n[1]} = {n[0] * n[1]}")
    y = _C.Col2Im.apply(x, output_size=size, kernel_size=kernel, stride=stride,
                        padding=padding, dilation=dilation)
    return _F.squeeze(y, 0) if unbatched else y
