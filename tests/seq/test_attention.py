"""Scaled dot-product attention and MultiheadAttention equal PyTorch's (float64): outputs,
attention weights, and gradients of inputs and all parameters, with masks and causality."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.nn.functional as F
from opcheck import SECOND_ORDER, OpCase, assert_gradcheck, assert_gradgradcheck, check_op

torch = pytest.importorskip("torch")
TF = torch.nn.functional

GRADCHECKED = ("ScaledDotProductAttention",)
GRADGRADCHECKED = ("ScaledDotProductAttention",)


def _grads_equal(d_leaves, t_leaves, atol=1e-10):
    for k, (d, t) in enumerate(zip(d_leaves, t_leaves)):
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=atol,
                                   err_msg=f"leaf {k}")


def _backward_both(d_outs, t_outs, rng):
    d_loss, t_loss = 0, 0
    for d, t in zip(d_outs, t_outs):
        np.testing.assert_allclose(d.numpy(), t.detach().numpy(), rtol=1e-9, atol=1e-10)
        w = rng.standard_normal(tuple(t.shape))
        d_loss = d_loss + (d * dl.tensor(w)).sum()
        t_loss = t_loss + (t * torch.tensor(w)).sum()
    d_loss.backward()
    t_loss.backward()


def _qkv(rng, q_shape=(2, 3, 4, 5), k_shape=(2, 3, 6, 5), v_shape=(2, 3, 6, 7)):
    arrays = [rng.standard_normal(s) for s in (q_shape, k_shape, v_shape)]
    return ([dl.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def _masks(rng):
    bool_mask = rng.random((4, 6)) > 0.4
    bool_mask[:, 0] = True
    return [{}, {"is_causal": True}, {"attn_mask": bool_mask},
            {"attn_mask": rng.standard_normal((4, 6))},
            {"attn_mask": rng.random((2, 1, 4, 6)) > 0.3, "scale": 0.25}]


@pytest.mark.parametrize("case", range(5))
def test_sdpa_matches_torch(case):
    rng = np.random.default_rng(case)
    kw = _masks(rng)[case]
    (dq, dk, dv), (tq, tk, tv) = _qkv(rng)
    d_kw = {k: dl.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    t_kw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    d_out = F.scaled_dot_product_attention(dq, dk, dv, **d_kw)
    t_out = TF.scaled_dot_product_attention(tq, tk, tv, **t_kw)
    _backward_both([d_out], [t_out], rng)
    _grads_equal([dq, dk, dv], [tq, tk, tv])


def test_sdpa_float_mask_gets_gradient_and_fully_masked_rows_are_zero():
    rng = np.random.default_rng(11)
    (dq, dk, dv), (tq, tk, tv) = _qkv(rng)
    m = rng.standard_normal((4, 6))
    m[2] = -np.inf                                    # query 2 sees nothing
    dm, tm = dl.tensor(m, requires_grad=True), torch.tensor(m, requires_grad=True)
    d_out = F.scaled_dot_product_attention(dq, dk, dv, attn_mask=dm)
    t_out = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm)
    assert np.all(d_out.numpy()[:, :, 2] == 0)
    _backward_both([d_out], [t_out], rng)
    _grads_equal([dq, dk, dv], [tq, tk, tv])
    finite = np.isfinite(m)
    np.testing.assert_allclose(dm.grad.numpy()[finite], tm.grad.numpy()[finite], atol=1e-10)


def test_sdpa_dropout_is_inverted_dropout_of_the_weights():
    rng = np.random.default_rng(12)
    (dq, dk, dv), _ = _qkv(rng)
    dl.manual_seed(3)
    out, w = F.scaled_dot_product_attention(dq, dk, dv, dropout_p=0.5, need_weights=True)
    dl.manual_seed(3)
    keep = dl.random.generator().random((2, 3, 4, 6)) >= 0.5
    _, p = F.scaled_dot_product_attention(dq, dk, dv, need_weights=True)
    np.testing.assert_allclose(w.numpy(), p.numpy() * keep / 0.5, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), w.numpy() @ dv.numpy(), atol=1e-12)


def test_sdpa_errors_name_the_op():
    q = dl.zeros(2, 4, 5)
    with pytest.raises(ValueError, match="scaled_dot_product_attention: query has"):
        F.scaled_dot_product_attention(q, dl.zeros(2, 6, 3), dl.zeros(2, 6, 3))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=dl.ones(4, 4).bool(), is_causal=True)


@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"scale": 0.7}, {"mask": True}])
def test_gradcheck_sdpa(kw):
    rng = np.random.default_rng(13)
    q, k, v = (rng.standard_normal(s) for s in [(2, 3, 2), (2, 4, 2), (2, 4, 3)])
    if kw.get("mask"):
        m = rng.standard_normal((3, 4))
        assert_gradcheck(lambda a, b, c, mm: F.scaled_dot_product_attention(a, b, c, attn_mask=mm),
                         q, k, v, m)
    else:
        assert_gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, **kw), q, k, v)


# ------------------------------------------------------------------ MultiheadAttention
def _mha_pair(E, h, **kw):
    dl.manual_seed(0)
    d = dl.nn.MultiheadAttention(E, h, **kw).double()
    t = torch.nn.MultiheadAttention(E, h, **kw).double()
    sd = d.state_dict()
    assert list(sd) == list(t.state_dict())
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in sd.items()})
    return d, t


MHA_CASES = [
    dict(kw={}, self_attn=True),
    dict(kw={"batch_first": True}, self_attn=True, need_weights=False),
    dict(kw={"kdim": 3, "vdim": 5}, self_attn=False),
    dict(kw={"bias": False}, self_attn=False, average=False),
    dict(kw={"add_bias_kv": True, "add_zero_attn": True}, self_attn=True),
    dict(kw={}, self_attn=True, causal=True),
    dict(kw={"batch_first": True}, self_attn=True, bool_mask=True, padding=True),
    dict(kw={}, self_attn=False, float_mask=True, padding=True),
    # batch_first inputs run batch-major inside (multi_head_attention_forward's docstring)
    dict(kw={"batch_first": True, "kdim": 3, "vdim": 5}, self_attn=False, padding=True),
    dict(kw={"batch_first": True, "add_bias_kv": True, "add_zero_attn": True},
         self_attn=True),
    dict(kw={"batch_first": True, "bias": False}, self_attn=False, average=False,
         float_mask=True),
    dict(kw={"batch_first": True}, self_attn=True, causal=True),
]


def test_batch_first_inputs_are_seen_batch_major():
    from deltaflow.nn.functional.attention import _lies_batch_major
    x = dl.randn(3, 4, 8)                                   # (N, L, E)
    assert _lies_batch_major(x.transpose(0, 1)) and not _lies_batch_major(x)
    assert not _lies_batch_major(dl.randn(1, 4, 8).transpose(0, 1))   # one sequence


@pytest.mark.parametrize("case", range(len(MHA_CASES)))
def test_mha_matches_torch(case):
    c = MHA_CASES[case]
    rng = np.random.default_rng(case)
    E, h, L, S, N = 8, 2, 4, 6, 3
    d, t = _mha_pair(E, h, **c["kw"])
    bf = c["kw"].get("batch_first", False)
    kdim, vdim = c["kw"].get("kdim", E), c["kw"].get("vdim", E)
    if c["self_attn"]:
        S = L
    shape = (lambda n, f: (N, n, f)) if bf else (lambda n, f: (n, N, f))
    arrays = [rng.standard_normal(shape(L, E))] if c["self_attn"] else [
        rng.standard_normal(shape(L, E)), rng.standard_normal(shape(S, kdim)),
        rng.standard_normal(shape(S, vdim))]
    d_in = [dl.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    kw_d, kw_t = {}, {}
    if c.get("causal"):
        mask = np.triu(np.ones((L, S), bool), 1)
        kw_d["attn_mask"], kw_t["attn_mask"] = dl.tensor(mask), torch.tensor(mask)
    if c.get("bool_mask"):
        mask = rng.random((L, S)) > 0.7
        mask[:, 0] = False
        kw_d["attn_mask"], kw_t["attn_mask"] = dl.tensor(mask), torch.tensor(mask)
    if c.get("float_mask"):
        mask = rng.standard_normal((N * h, L, S))
        kw_d["attn_mask"], kw_t["attn_mask"] = dl.tensor(mask), torch.tensor(mask)
    if c.get("padding"):
        pad = np.zeros((N, S), bool)
        pad[0, -2:] = True
        pad[2, -1] = True
        if c.get("float_mask"):
            pad = np.where(pad, -1e9, 0.0)
        kw_d["key_padding_mask"], kw_t["key_padding_mask"] = dl.tensor(pad), torch.tensor(pad)
    need = c.get("need_weights", True)
    avg = c.get("average", True)
    args_d = d_in * 3 if c["self_attn"] else d_in
    args_t = t_in * 3 if c["self_attn"] else t_in
    d_out, d_w = d(*args_d, need_weights=need, average_attn_weights=avg, **kw_d)
    t_out, t_w = t(*args_t, need_weights=need, average_attn_weights=avg, **kw_t)
    if need:
        _backward_both([d_out, d_w], [t_out, t_w], rng)
    else:
        assert d_w is None and t_w is None
        _backward_both([d_out], [t_out], rng)
    _grads_equal(d_in, t_in)
    for (name, dp), (_, tp) in zip(d.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(dp.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=name)


def test_mha_unbatched_input():
    d, t = _mha_pair(4, 2)
    x = np.random.default_rng(5).standard_normal((3, 4))
    d_out, d_w = d(dl.tensor(x), dl.tensor(x), dl.tensor(x))
    t_out, t_w = t(torch.tensor(x), torch.tensor(x), torch.tensor(x))
    np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(d_w.numpy(), t_w.detach().numpy(), atol=1e-12)


def test_mha_clear_errors():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        dl.nn.MultiheadAttention(6, 4)
    m = dl.nn.MultiheadAttention(4, 2)
    with pytest.raises(ValueError, match="embed_dim=4"):
        m(dl.zeros(3, 2, 5), dl.zeros(3, 2, 5), dl.zeros(3, 2, 5))
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        x = dl.zeros(3, 2, 4)
        m(x, x, x, key_padding_mask=dl.zeros(2, 5).bool())


# ------------------------------------------------------------------- second derivatives
def _sdpa_case(name, *shapes, **kw):
    return OpCase(name, lambda *a: F.scaled_dot_product_attention(*a, **kw), None,
                  lambda *a: TF.scaled_dot_product_attention(*a, **kw)).at(*shapes)


BOOL_MASK = np.random.default_rng(3).random((3, 4)) > 0.4
SECOND_ORDER_CASES = [
    _sdpa_case("plain", (2, 3, 4), (2, 5, 4), (2, 5, 3)),
    _sdpa_case("causal_scaled", (2, 4, 4), (2, 4, 4), (2, 4, 3), is_causal=True, scale=0.3),
    _sdpa_case("float_mask", (2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5)),
    OpCase("bool_mask", lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=dl.tensor(BOOL_MASK)), None,
        lambda q, k, v: TF.scaled_dot_product_attention(
            q, k, v, attn_mask=torch.tensor(BOOL_MASK))).at((2, 3, 4), (2, 4, 4), (2, 4, 3)),
]


@pytest.mark.parametrize("check", SECOND_ORDER)
@pytest.mark.parametrize("case", SECOND_ORDER_CASES, ids=str)
def test_second_order(case, check):
    check_op(case, check)


def test_second_order_with_dropout_weights_and_a_fully_masked_row():
    """The op with a dropout keep-mask and its attention weights returned (both outputs
    differentiable), and one query whose keys are all masked (its row stays 0): second
    derivatives against PyTorch's math written out, and gradgradcheck."""
    from deltaflow.ops.attention import ScaledDotProductAttention
    from opcheck import assert_second_order_matches_torch
    rng = np.random.default_rng(5)
    keep = rng.random((2, 3, 4)) > 0.3
    mask = np.where(rng.random((3, 4)) > 0.3, 0.0, -np.inf)
    mask[1] = -np.inf

    def ours(q, k, v):
        return ScaledDotProductAttention.apply(q, k, v, dl.tensor(mask), scale=0.5, keep=keep,
                                               p=0.3, return_weights=True)

    def theirs(q, k, v):
        dead = torch.tensor(np.isinf(mask).all(-1, keepdims=True))  # row 1: probabilities 0
        scores = 0.5 * q @ k.transpose(-1, -2) + torch.tensor(np.where(dead, 0.0, mask))
        probs = torch.softmax(scores, -1).masked_fill(dead, 0.0)
        dropped = probs * torch.tensor(keep) / 0.7
        return dropped @ v, dropped
    arrays = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 4)), \
        rng.standard_normal((2, 4, 3))
    assert_second_order_matches_torch(ours, theirs, *arrays)
    assert_gradgradcheck(ours, *arrays)
