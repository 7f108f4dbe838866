"""Shape ops: forward = NumPy, float64 gradcheck, forward + gradients = PyTorch's."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import deltaflow as dl
from opcheck import OpCase, check_op, leaf, op_params, torch

GRADCHECKED = ("Reshape", "Permute", "Expand", "Cat", "Stack", "Split", "Flip", "Roll", "Tile",
               "Pad")
GRADGRADCHECKED = GRADCHECKED   # second derivatives: opcheck.SECOND_ORDER on every row


def tpad(x, pad, mode="constant", value=0.0):
    """torch.nn.functional.pad; reflect/replicate/circular need a batch dim in PyTorch."""
    F = torch.nn.functional
    if mode == "constant":
        return F.pad(x, pad, value=value)
    return F.pad(x[None], pad, mode=mode)[0]


def nppad(x, pad, mode="constant", value=0.0):
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    if mode == "constant":
        return np.pad(x, widths, constant_values=value)
    return np.pad(x, widths, mode={"reflect": "reflect", "replicate": "edge",
                                   "circular": "wrap"}[mode])


CASES = [replace(op, tol=0) for op in [  # shape ops move values: the forward is exact
    OpCase("reshape", lambda x: x.reshape(4, -1), lambda x: x.reshape(4, -1)).at((2, 3, 4)),
    OpCase("reshape_tuple", lambda x: dl.reshape(x, (6, 4)), lambda x: x.reshape(6, 4),
           lambda x: torch.reshape(x, (6, 4))).at((2, 3, 4)),
    OpCase("view", lambda x: x.view(-1), lambda x: x.reshape(-1)).at((2, 3, 4)),
    OpCase("view_scalar", lambda x: x.view(1, 1), lambda x: x.reshape(1, 1)).at(()),
    OpCase("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1)).at((2, 3, 4)),
    OpCase("permute_neg", lambda x: dl.permute(x, (-1, 1, 0)),
           lambda x: x.transpose(2, 1, 0), lambda x: torch.permute(x, (-1, 1, 0))).at((2, 3, 4)),
    OpCase("transpose", lambda x: x.transpose(0, 2), lambda x: x.swapaxes(0, 2)).at((2, 3, 4)),
    OpCase("swapaxes", lambda x: dl.swapaxes(x, -1, -2), lambda x: x.swapaxes(-1, -2),
           lambda x: torch.swapaxes(x, -1, -2)).at((2, 3, 4)),
    OpCase("T", lambda x: x.T, lambda x: x.T).at((3, 4)),
    OpCase("mT", lambda x: x.mT, lambda x: x.swapaxes(-1, -2)).at((2, 3, 4)),
    OpCase("t", lambda x: x.t(), lambda x: x.T).at((3, 4)),
    OpCase("squeeze", lambda x: x.squeeze(), np.squeeze).at((2, 1, 3, 1)),
    OpCase("squeeze_dim", lambda x: x.squeeze(-1), lambda x: x.squeeze(-1)).at((2, 1, 3, 1)),
    OpCase("squeeze_non_one", lambda x: x.squeeze(0), lambda x: x).at((2, 1, 3)),
    OpCase("unsqueeze", lambda x: x.unsqueeze(1), lambda x: np.expand_dims(x, 1)).at((2, 3)),
    OpCase("unsqueeze_neg", lambda x: dl.unsqueeze(x, -1), lambda x: x[..., None],
           lambda x: torch.unsqueeze(x, -1)).at((2, 3)),
    OpCase("expand", lambda x: x.expand(2, 3, 4),
           lambda x: np.broadcast_to(x, (2, 3, 4))).at((3, 1)),
    OpCase("expand_minus_one", lambda x: x.expand(5, -1, 4),
           lambda x: np.broadcast_to(x, (5, 3, 4))).at((1, 3, 1)),
    OpCase("expand_as", lambda x: x.expand_as(dl.ones(2, 3)), lambda x: np.broadcast_to(x, (2, 3)),
           lambda x: x.expand_as(torch.ones(2, 3))).at((3,)),
    OpCase("flatten", lambda x: x.flatten(), lambda x: x.reshape(-1)).at((2, 3, 4)),
    OpCase("flatten_range", lambda x: dl.flatten(x, 1, 2), lambda x: x.reshape(2, 12, 5),
           lambda x: torch.flatten(x, 1, 2)).at((2, 3, 4, 5)),
    OpCase("unflatten", lambda x: x.unflatten(1, (3, 4)), lambda x: x.reshape(2, 3, 4)).at((2, 12)),
    OpCase("cat", lambda x: dl.cat([x, x * 2, x[:, :1]], dim=1),
           lambda x: np.concatenate([x, x * 2, x[:, :1]], axis=1),
           lambda x: torch.cat([x, x * 2, x[:, :1]], dim=1)).at((2, 3, 4)),
    OpCase("cat_neg_dim", lambda x: dl.cat((x, -x), -1), lambda x: np.concatenate([x, -x], -1),
           lambda x: torch.cat((x, -x), -1)).at((2, 3)),
    OpCase("stack", lambda x: dl.stack([x, x * 3]), lambda x: np.stack([x, x * 3]),
           lambda x: torch.stack([x, x * 3])).at((2, 3)),
    OpCase("stack_last", lambda x: dl.stack([x, -x, x], dim=-1),
           lambda x: np.stack([x, -x, x], -1), lambda x: torch.stack([x, -x, x], -1)).at((2, 3)),
    OpCase("split_int", lambda x: x.split(2, dim=1),
           lambda x: np.split(x, [2, 4], axis=1)).at((2, 5)),
    OpCase("split_list", lambda x: dl.split(x, [1, 3], dim=0), lambda x: np.split(x, [1], 0),
           lambda x: torch.split(x, [1, 3], 0)).at((4, 2)),
    OpCase("chunk", lambda x: x.chunk(3, dim=-1),
           lambda x: np.split(x, [3, 6], axis=-1)).at((2, 7)),
    OpCase("unbind", lambda x: x.unbind(1), lambda x: tuple(x[:, i] for i in range(3))).at((2, 3)),
    OpCase("pad_constant", lambda x: dl.pad(x, (1, 2)), lambda x: nppad(x, (1, 2)),
           lambda x: tpad(x, (1, 2))).at((2, 3)),
    OpCase("pad_constant_value_2d", lambda x: dl.pad(x, (1, 0, 2, 1), value=-1.5),
           lambda x: nppad(x, (1, 0, 2, 1), value=-1.5),
           lambda x: tpad(x, (1, 0, 2, 1), value=-1.5)).at((2, 3, 4)),
    OpCase("pad_reflect", lambda x: dl.pad(x, (2, 1), mode="reflect"),
           lambda x: nppad(x, (2, 1), "reflect"), lambda x: tpad(x, (2, 1), "reflect")).at((2, 4)),
    OpCase("pad_reflect_2d", lambda x: dl.pad(x, (1, 2, 2, 1), mode="reflect"),
           lambda x: nppad(x, (1, 2, 2, 1), "reflect"),
           lambda x: tpad(x, (1, 2, 2, 1), "reflect")).at((2, 3, 4)),
    OpCase("pad_replicate", lambda x: dl.pad(x, (3, 1, 0, 2), mode="replicate"),
           lambda x: nppad(x, (3, 1, 0, 2), "replicate"),
           lambda x: tpad(x, (3, 1, 0, 2), "replicate")).at((2, 3, 4)),
    OpCase("pad_circular", lambda x: dl.pad(x, (2, 1), mode="circular"),
           lambda x: nppad(x, (2, 1), "circular"),
           lambda x: tpad(x, (2, 1), "circular")).at((2, 4)),
    OpCase("flip", lambda x: x.flip(0), lambda x: np.flip(x, 0)).at((2, 3, 4)),
    OpCase("flip_dims", lambda x: dl.flip(x, (0, -1)), lambda x: np.flip(x, (0, 2)),
           lambda x: torch.flip(x, (0, -1))).at((2, 3, 4)),
    OpCase("repeat", lambda x: x.repeat(2, 1, 3), lambda x: np.tile(x, (2, 1, 3))).at((2, 3)),
    OpCase("repeat_same_ndim", lambda x: x.repeat((3, 2)), lambda x: np.tile(x, (3, 2))).at((2, 3)),
    OpCase("tile", lambda x: dl.tile(x, (2,)), lambda x: np.tile(x, (1, 2)),
           lambda x: torch.tile(x, (2,))).at((2, 3)),
    OpCase("tile_more_dims", lambda x: x.tile((2, 1, 2)),
           lambda x: np.tile(x, (2, 1, 2))).at((2, 3)),
    OpCase("roll", lambda x: x.roll(2, 1), lambda x: np.roll(x, 2, 1)).at((2, 5)),
    OpCase("roll_flat", lambda x: dl.roll(x, -3), lambda x: np.roll(x, -3),
           lambda x: torch.roll(x, -3)).at((2, 5)),
    OpCase("roll_dims", lambda x: x.roll((1, -2), (0, 2)),
           lambda x: np.roll(x, (1, -2), (0, 2))).at((2, 3, 4)),
    OpCase("repeat_interleave", lambda x: x.repeat_interleave(2, dim=1),
           lambda x: np.repeat(x, 2, axis=1)).at((2, 3)),
]]



def np_unfold(x, dim, size, step):
    windows = np.lib.stride_tricks.sliding_window_view(x, size, axis=dim)
    return np.take(windows, range(0, windows.shape[dim], step), axis=dim)


CASES += [replace(op, tol=0) for op in [  # narrow, unfold, movedim, meshgrid (issue 13)
    OpCase("narrow", lambda x: x.narrow(1, 1, 2), lambda x: x[:, 1:3]).at((2, 4, 3)),
    OpCase("narrow_negative_start", lambda x: dl.narrow(x, -1, -2, 2), lambda x: x[..., -2:],
           lambda x: torch.narrow(x, -1, -2, 2)).at((2, 4, 3)),
    OpCase("unfold", lambda x: x.unfold(1, 3, 2), lambda x: np_unfold(x, 1, 3, 2)).at((2, 7)),
    OpCase("unfold_overlapping", lambda x: x.unfold(0, 2, 1),
           lambda x: np_unfold(x, 0, 2, 1)).at((4, 3)),
    OpCase("unfold_middle_dim", lambda x: x.unfold(-2, 2, 3),
           lambda x: np_unfold(x, 1, 2, 3)).at((2, 6, 3)),
    OpCase("movedim", lambda x: x.movedim(0, -1), lambda x: np.moveaxis(x, 0, -1)).at((2, 3, 4)),
    OpCase("movedim_tuple", lambda x: dl.movedim(x, (0, 1), (2, 0)),
           lambda x: np.moveaxis(x, (0, 1), (2, 0)),
           lambda x: torch.movedim(x, (0, 1), (2, 0))).at((2, 3, 4)),
    OpCase("moveaxis", lambda x: dl.moveaxis(x, -1, 0), lambda x: np.moveaxis(x, -1, 0),
           lambda x: torch.moveaxis(x, -1, 0)).at((2, 3, 4)),
    OpCase("unflatten_minus_one", lambda x: x.unflatten(1, (2, -1)),
           lambda x: x.reshape(2, 2, 6)).at((2, 12)),
    OpCase("meshgrid_ij", lambda a, b: dl.meshgrid(a, b, indexing="ij"),
           lambda a, b: np.meshgrid(a, b, indexing="ij"),
           lambda a, b: torch.meshgrid(a, b, indexing="ij")).at((3,), (4,)),
    OpCase("meshgrid_xy_list", lambda a, b, c: dl.meshgrid([a, b, c], indexing="xy"),
           lambda a, b, c: np.meshgrid(a, b, c, indexing="xy"),
           lambda a, b, c: torch.meshgrid([a, b, c], indexing="xy")).at((2,), (3,), (4,)),
    OpCase("meshgrid_0d", lambda a, b: dl.meshgrid(a, b),
           lambda a, b: np.meshgrid(a, b, indexing="ij"),
           lambda a, b: torch.meshgrid(a, b, indexing="ij")).at((), (3,)),
]]


@pytest.mark.parametrize("case, check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


def x_of(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_split_outputs_without_gradient_get_zeros():
    x = leaf(x_of((6, 2)))
    a, b, c = x.split(2)
    (b * 3).sum().backward()
    expected = np.zeros((6, 2))
    expected[2:4] = 3
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_cat_and_stack_of_several_leaves_route_gradients():
    a, b = leaf(x_of((2, 3))), leaf(x_of((2, 1), 1))
    w = x_of((2, 4), 2)
    (dl.cat([a, b], 1) * dl.tensor(w)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), w[:, :3])
    np.testing.assert_array_equal(b.grad.numpy(), w[:, 3:])
    a.grad = b.grad = None
    c = leaf(x_of((2, 3), 3))
    w = x_of((2, 2, 3), 4)
    (dl.stack([a, c], 1) * dl.tensor(w)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), w[:, 0])
    np.testing.assert_array_equal(c.grad.numpy(), w[:, 1])


def test_cat_promotes_mixed_float_dtypes_and_casts_gradients_back():
    a = dl.ones(2, requires_grad=True)
    b = dl.ones(3, dtype=dl.float64, requires_grad=True)
    out = dl.cat([a, b])
    assert out.dtype == dl.float64
    out.sum().backward()
    assert a.grad.dtype == dl.float32 and b.grad.dtype == dl.float64


@pytest.mark.parametrize("call, match", [
    (lambda x: x.reshape(5, -1), r"reshape: shape \(5, -1\) is invalid for a tensor of shape "
                                 r"\(2, 3, 4\) \(24 elements\)"),
    (lambda x: x.reshape(-1, -1), "reshape"),
    (lambda x: x.view(4, 5), r"reshape: shape \(4, 5\) is invalid"),
    (lambda x: x.permute(0, 1), r"permute: dims \(0, 1\) are not a permutation"),
    (lambda x: x.transpose(0, 3), "transpose: dim 3 is out of range"),
    (lambda x: x.expand(2, 5, 4), r"expand: cannot expand shape \(2, 3, 4\) to \(2, 5, 4\)"),
    (lambda x: x.expand(3, 4), "expand: the number of sizes"),
    (lambda x: x.expand(-1, 2, 3, 4), "expand: -1 is not allowed for the new leading dims"),
    (lambda x: dl.cat([x, dl.ones(2, 2, 4)], 2), r"cat: tensor 1 has shape \(2, 2, 4\)"),
    (lambda x: dl.cat([]), "cat: expected a non-empty list"),
    (lambda x: dl.stack([x, dl.ones(2, 3)]), r"stack: .* tensor 1 has \(2, 3\)"),
    (lambda x: x.split([1, 1], 1), r"split: sections \[1, 1\] do not add up"),
    (lambda x: x.split(0, 1), "split: split_size must be positive, got 0"),
    (lambda x: x.chunk(0), "chunk: chunks must be positive, got 0"),
    (lambda x: dl.pad(x, (1,)), "pad: padding"),
    (lambda x: dl.pad(x, (1, 1), mode="mirror"), "pad: unknown mode"),
    (lambda x: x.repeat(2), "repeat: number of repeat dims"),
    (lambda x: x.squeeze(5), "squeeze: dim 5 is out of range"),
    (lambda x: x.unsqueeze(4), "unsqueeze: dim 4 is out of range"),
    (lambda x: x.narrow(1, 2, 2), "narrow: start 2 \\+ length 2 is out of range"),
    (lambda x: x.unfold(2, 5, 1), "unfold: size 5 is out of range for dim 2 of size 4"),
    (lambda x: x.unfold(2, 2, 0), "unfold: step must be positive"),
    (lambda x: x.movedim((0, 0), (1, 2)), r"movedim: repeated dim in source \(0, 0\)"),
    (lambda x: x.movedim(0, (1, 2)), "movedim: source .* must have the same number"),
    (lambda x: dl.meshgrid(x), "meshgrid: expected one or more 0-d or 1-D tensors"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_shape_errors_name_the_op_and_shapes(call, match):
    with pytest.raises((RuntimeError, ValueError, IndexError), match=match):
        call(dl.ones(2, 3, 4))


def test_aliases_and_whole_tensor_predicates():
    x = dl.tensor(np.arange(6.0).reshape(2, 3))
    assert dl.broadcast_to(dl.ones(3), (2, 3)).shape == (2, 3)
    assert dl.concat([x, x], 0).shape == (4, 3) and dl.concatenate([x, x], 1).shape == (2, 6)
    assert dl.swapdims(x, 0, 1).shape == (3, 2) and x.swapaxes(0, 1).shape == (3, 2)
    assert dl.equal(x, x.clone()) and not dl.equal(x, x.T.T + 1) and not dl.equal(x, x[0])
    assert dl.allclose(x, x + 1e-9) and not dl.allclose(x, x + 1e-3)
