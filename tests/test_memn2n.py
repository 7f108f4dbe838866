"""MemN2N against a PyTorch implementation of the same model loaded with the same weights
(float64: forward, attention and every parameter's gradient), float64 gradcheck of a tiny
model, the position and temporal encodings against their formulas, and the nil rows."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow.models.memn2n import MemN2N, position_encoding
from deltaflow.nn import functional as F

V, D, M, L, N = 11, 6, 5, 4, 3


def batch(seed=0, n=N, m=M):
    """Stories with sentences of 1..L words (left-aligned), empty trailing slots, a query."""
    rng = np.random.default_rng(seed)
    story = np.zeros((n, m, L), dtype=np.int64)
    time = np.zeros((n, m), dtype=np.int64)
    for b in range(n):
        filled = rng.integers(1, m + 1)
        for i in range(filled):
            length = rng.integers(1, L + 1)
            story[b, i, :length] = rng.integers(1, V, length)
        time[b, :filled] = np.arange(filled, 0, -1)
    query = np.zeros((n, L), dtype=np.int64)
    query[:, :3] = rng.integers(1, V, (n, 3))
    return story, query, time, rng.integers(1, V, n)


def torch_memn2n(weights: dict, story, query, time, hops, tying, pe, te, linear):
    """The paper's equations in PyTorch, from a deltaflow MemN2N's state dict."""
    import torch
    W = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
         for k, v in weights.items() if k != "linear"}
    story, query, time = (torch.tensor(x) for x in (story, query, time))

    def lookup(ids, table):     # the nil word / empty slot: row 0, no gradient
        return torch.nn.functional.embedding(ids, table, padding_idx=0)

    def encode(ids, table):
        e = lookup(ids, W[f"words.{table}.weight"])                  # (..., J, d)
        if pe:
            J = (ids != 0).sum(-1, keepdim=True).clamp(min=1).double()
            j = torch.arange(1, ids.shape[-1] + 1, dtype=torch.float64)
            k = torch.arange(1, D + 1, dtype=torch.float64) / D
            l = (1 - j / J)[..., None] - k * (1 - 2 * j / J)[..., None]
            e = e * (l * (ids != 0)[..., None])
        return e.sum(-2)

    def memory(table, time_table):
        m = encode(story, table)
        return m + lookup(time, W[f"times.{time_table}.weight"]) if te else m

    if tying == "adjacent":
        A = [(k - 1, k - 1) for k in range(1, hops + 1)]
        C = [(k, k) for k in range(1, hops + 1)]
        q_table, out_table = 0, hops
    else:
        A, C = [(0, 0)] * hops, [(1, 1)] * hops
        q_table, out_table = 2, 3
    u = encode(query, q_table)
    ps = []
    for k in range(hops):
        keys, values = memory(*A[k]), memory(*C[k])
        scores = torch.einsum("nmd,nd->nm", keys, u)
        p = scores if linear else torch.softmax(scores.masked_fill(time == 0, -torch.inf), 1)
        ps.append(p)
        o = torch.einsum("nm,nmd->nd", p, values)
        u = (u @ W["H.weight"].T if tying == "layerwise" else u) + o
    return u @ W[f"words.{out_table}.weight"].T, ps, W


def _model(seed=1, **kw):
    dl.manual_seed(seed)
    return MemN2N(V, D, hops=kw.pop("hops", 3), memory_size=M, **kw).double()


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
@pytest.mark.parametrize("pe, te", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("linear", [False, True])
def test_forward_and_gradients_equal_pytorch(tying, pe, te, linear):
    torch = pytest.importorskip("torch")
    model = _model(tying=tying, position_encoding=pe, temporal_encoding=te)
    model.linear.data = np.array(linear)
    story, query, time, answer = batch()
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    logits = model(story, query, time)
    loss = F.cross_entropy(logits, dl.tensor(answer), reduction="sum")
    loss.backward()
    t_logits, t_ps, W = torch_memn2n(weights, story, query, time, 3, tying, pe, te, linear)
    torch.nn.functional.cross_entropy(t_logits, torch.tensor(answer), reduction="sum").backward()
    np.testing.assert_allclose(logits.numpy(), t_logits.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    for p, tp in zip(model.attention(story, query, time), t_ps):
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-10, atol=1e-12)
    params = dict(model.named_parameters())
    assert set(params) == set(W)
    for name, p in params.items():
        expect = W[name].grad
        expect = np.zeros(p.shape) if expect is None else expect.numpy()
        np.testing.assert_allclose(p.grad.numpy(), expect, rtol=1e-9, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
def test_gradcheck_tiny_memn2n(tying):
    model = _model(hops=2, tying=tying)
    story, query, time, answer = batch(seed=3, n=2, m=3)
    params = [p for p in model.parameters()]

    def loss(*_):
        return F.cross_entropy(model(story, query, time), dl.tensor(answer))
    assert dl.autograd.gradcheck(loss, params)


def test_position_encoding_is_the_formula():
    ids = np.array([[[3, 5, 7, 0, 0], [2, 0, 0, 0, 0], [0, 0, 0, 0, 0]]])
    d = 4
    l = position_encoding(ids, d)
    assert l.shape == (1, 3, 5, d)
    for i, J in enumerate((3, 1, 0)):
        for j in range(1, 6):
            for k in range(1, d + 1):
                expect = (1 - j / J) - (k / d) * (1 - 2 * j / J) if j <= J else 0.0
                assert l[0, i, j - 1, k - 1] == pytest.approx(expect, abs=1e-15)
    # in the model: m_i = Σ_j l_ij ⊙ A[x_ij] (no temporal encoding)
    model = _model(temporal_encoding=False)
    A = model.words[0].weight.numpy()
    story, _, time, _ = batch()
    m = model.embed_memory(0, dl.tensor(story), dl.tensor(time)).numpy()
    lj = position_encoding(story, D)
    np.testing.assert_allclose(m, (lj * A[story]).sum(2), rtol=1e-12)


def test_temporal_encoding_adds_the_row_of_each_slots_time():
    with_t = _model()
    story, _, time, _ = batch()
    for table in range(len(with_t.times)):
        m = with_t.embed_memory(table, dl.tensor(story), dl.tensor(time)).numpy()
        without = m - with_t.times[table].weight.numpy()[time]
        E = with_t.words[table].weight.numpy()
        np.testing.assert_allclose(without, (position_encoding(story, D) * E[story]).sum(2),
                                   rtol=1e-10, atol=1e-14)
    assert not with_t.times[0].weight.numpy()[0].any()       # an empty slot adds nothing


def test_empty_slots_get_no_attention_and_nil_rows_are_zero():
    model = _model()
    for table in (*model.words, *model.times):
        assert not table.weight.numpy()[0].any()
    story, query, time, _ = batch()
    for p in model.attention(story, query, time):
        assert (p[time == 0] == 0).all()
        np.testing.assert_allclose(p.sum(1), 1.0)
    model.words[3].weight.data[0] = 1.0
    model.zero_nil_()
    assert not model.words[3].weight.numpy()[0].any()


def test_bad_arguments():
    with pytest.raises(ValueError, match="tying"):
        MemN2N(V, tying="rnn")
    with pytest.raises(ValueError, match="hops"):
        MemN2N(V, hops=0)
