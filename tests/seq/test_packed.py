"""Variable-length sequences (deltaflow.nn.utils.rnn) equal torch.nn.utils.rnn: packing,
padding, and RNN/LSTM/GRU run on a PackedSequence — outputs, final states and every
gradient, float64, same weights."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.nn.utils import rnn as drnn
from opcheck import assert_gradcheck

torch = pytest.importorskip("torch")
trnn = torch.nn.utils.rnn

LENGTHS = [3, 6, 1, 4]


def _pair(mode, **kw):
    t = getattr(torch.nn, mode)(3, 4, **kw).double()
    d = getattr(dl.nn, mode)(3, 4, **kw).double()
    d.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return d, t


@pytest.mark.parametrize("enforce_sorted", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_recurrent_layers_on_packed_sequences_match_torch(mode, bidirectional, enforce_sorted):
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    d, t = _pair(mode, num_layers=2, bidirectional=bidirectional, batch_first=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 3))
    D = 2 if bidirectional else 1
    h0 = rng.standard_normal((2 * D, 4, 4))
    dx, tx = dl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    dh0, th0 = dl.tensor(h0, requires_grad=True), torch.tensor(h0, requires_grad=True)
    dp = drnn.pack_padded_sequence(dx, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    tp = trnn.pack_padded_sequence(tx, lengths, batch_first=True, enforce_sorted=enforce_sorted)
    d_state = (dh0, dh0 * 0.5) if mode == "LSTM" else dh0
    t_state = (th0, th0 * 0.5) if mode == "LSTM" else th0
    d_out, d_hn = d(dp, d_state)
    t_out, t_hn = t(tp, t_state)
    assert isinstance(d_out, drnn.PackedSequence)
    np.testing.assert_array_equal(d_out.batch_sizes.numpy(), t_out.batch_sizes.numpy())
    d_pad, d_len = drnn.pad_packed_sequence(d_out, batch_first=True)
    t_pad, t_len = trnn.pad_packed_sequence(t_out, batch_first=True)
    np.testing.assert_array_equal(d_len.numpy(), t_len.numpy())
    np.testing.assert_allclose(d_pad.numpy(), t_pad.detach().numpy(), atol=1e-12)
    d_states = d_hn if mode == "LSTM" else (d_hn,)
    t_states = t_hn if mode == "LSTM" else (t_hn,)
    for ds, ts in zip(d_states, t_states):
        np.testing.assert_allclose(ds.numpy(), ts.detach().numpy(), atol=1e-12)
    w = rng.standard_normal(t_pad.shape)
    d_loss = (d_pad * dl.tensor(w)).sum() + sum(s.sum() * k for k, s in enumerate(d_states, 2))
    t_loss = (t_pad * torch.tensor(w)).sum() + sum(s.sum() * k for k, s in enumerate(t_states, 2))
    d_loss.backward()
    t_loss.backward()
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dh0.grad.numpy(), th0.grad.numpy(), atol=1e-10)
    for (name, dp_), (_, tp_) in zip(d.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(dp_.grad.numpy(), tp_.grad.numpy(), atol=1e-10, err_msg=name)


def test_pad_and_pack_sequence_match_torch():
    rng = np.random.default_rng(1)
    seqs = [rng.standard_normal((n, 2)) for n in (2, 5, 3)]
    d_pad = drnn.pad_sequence([dl.tensor(s) for s in seqs], batch_first=True, padding_value=-1)
    t_pad = trnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=True,
                              padding_value=-1)
    np.testing.assert_array_equal(d_pad.numpy(), t_pad.numpy())
    d_packed = drnn.pack_sequence([dl.tensor(s) for s in seqs], enforce_sorted=False)
    t_packed = trnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    np.testing.assert_array_equal(d_packed.data.numpy(), t_packed.data.numpy())
    np.testing.assert_array_equal(d_packed.batch_sizes.numpy(), t_packed.batch_sizes.numpy())
    np.testing.assert_array_equal(d_packed.sorted_indices.numpy(),
                                  t_packed.sorted_indices.numpy())
    np.testing.assert_array_equal(d_packed.unsorted_indices.numpy(),
                                  t_packed.unsorted_indices.numpy())
    d_back, d_len = drnn.pad_packed_sequence(d_packed, padding_value=9.0, total_length=7)
    t_back, t_len = trnn.pad_packed_sequence(t_packed, padding_value=9.0, total_length=7)
    np.testing.assert_array_equal(d_back.numpy(), t_back.numpy())
    np.testing.assert_array_equal(d_len.numpy(), t_len.numpy())


def test_pack_then_pad_gradcheck():
    x = np.random.default_rng(2).standard_normal((5, 3, 2))
    assert_gradcheck(lambda t: drnn.pad_packed_sequence(
        drnn.pack_padded_sequence(t, [2, 5, 4], enforce_sorted=False))[0] * 1.5, x)


def test_clear_errors():
    x = dl.zeros(4, 2, 3)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        drnn.pack_padded_sequence(x, [2, 3])
    with pytest.raises(ValueError, match="positive"):
        drnn.pack_padded_sequence(x, [2, 0], enforce_sorted=False)
    with pytest.raises(ValueError, match="at most 4"):
        drnn.pack_padded_sequence(x, [5, 3])
    packed = drnn.pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match="total_length=2"):
        drnn.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(ValueError, match="input_size=5"):
        dl.nn.LSTM(5, 4)(packed)


def test_projected_lstm_on_packed_sequences_matches_torch():
    d, t = _pair("LSTM", num_layers=2, bidirectional=True, proj_size=2)
    x = np.random.default_rng(7).standard_normal((6, 4, 3))
    dx, tx = dl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    d_out, (d_h, d_c) = d(drnn.pack_padded_sequence(dx, LENGTHS, enforce_sorted=False))
    t_out, (t_h, t_c) = t(trnn.pack_padded_sequence(tx, LENGTHS, enforce_sorted=False))
    d_pad, t_pad = drnn.pad_packed_sequence(d_out)[0], trnn.pad_packed_sequence(t_out)[0]
    for a, b in ((d_pad, t_pad), (d_h, t_h), (d_c, t_c)):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), atol=1e-12)
    (d_pad.sum() + d_h.sum() * 2 + d_c.sum() * 3).backward()
    (t_pad.sum() + t_h.sum() * 2 + t_c.sum() * 3).backward()
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    for (name, dp_), (_, tp_) in zip(d.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(dp_.grad.numpy(), tp_.grad.numpy(), atol=1e-10, err_msg=name)
