"""Recurrent layers as fused ops: a whole layer (all time steps) is ONE Function.

Each op takes a time-major input ``x`` of shape (T, B, I), the initial state(s) (B, H), and
PyTorch's weights ``w_ih`` (G·H, I), ``w_hh`` (G·H, H), optional biases ``b_ih``, ``b_hh``
(G·H) with G the number of gates (RNN 1, GRU 3 in order r, z, n, LSTM 4 in order i, f, g, o).

Forward runs the input projection of ALL time steps as one GEMM,
``Zx = X·W_ihᵀ + b`` ((T·B, I)·(I, G·H)), and then for each step one fused GEMM for the
recurrent part ``h·W_hhᵀ`` plus a few in-place elementwise passes. Sigmoid gates are
evaluated as σ(z) = ½·tanh(z/2) + ½ with the ½ folded into the weight rows, so all gates of a
step take one ``tanh`` pass.

Backward is backpropagation through time written by hand: a loop over the steps in
reverse that carries ∂L/∂h (and ∂L/∂c) and stores the gate gradients ∂L/∂z_t of every step;
after the loop the weight gradients are one GEMM each over all steps,
``∂L/∂W_hh = Σ_t δ_tᵀ·h_{t−1}``, ``∂L/∂W_ih = Σ_t δ_tᵀ·x_t``, ``∂L/∂X = δ·W_ih`` (the LSTM
does these sums chunk by chunk inside the loop, see :class:`LSTMLayer`).

``reverse=True`` runs the layer from the last step to the first (the backward direction of
a bidirectional layer); outputs stay indexed by time.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import xp_of
from . import gru_kernels, lstm_kernels


def _split_bias(args, n_state):
    """(x, states..., w_ih, w_hh[, b_ih, b_hh]) -> pieces; biases may be absent."""
    x, states = args[0], args[1:1 + n_state]
    rest = args[1 + n_state:]
    w_ih, w_hh = rest[0], rest[1]
    b_ih, b_hh = (rest[2], rest[3]) if len(rest) == 4 else (None, None)
    return x, states, w_ih, w_hh, b_ih, b_hh


class _RecurrentLayer(Function):
    """Shared plumbing: time reversal, the input GEMM and the weight gradients."""

    n_state = 1

    def _input_projection(self, x, w_ih, b_ih, b_hh, row_scale, hh_bias_in_x=True):
        """Zx = X·(s⊙W_ih)ᵀ + s⊙(b_ih [+ b_hh]) for all steps at once, shape (T, B, G·H)."""
        T, B, I = x.shape
        w = w_ih if row_scale is None else w_ih * row_scale[:, None]
        z = x.reshape(T * B, I) @ w.T
        if b_ih is not None:
            b = b_ih + b_hh if hh_bias_in_x else b_ih
            z += b if row_scale is None else b * row_scale
        return z.reshape(T, B, -1)

    def backward_graph(self, *grads):
        """Under ``create_graph``: backpropagation through time of the cell's formula
        (:meth:`step`, unfused, one step after another) recomputed on Tensors."""
        reverse = self.reverse

        def layer(x, *args):
            xp = xp_of(x)
            *states, w_ih, w_hh = args[:self.n_state + 2]
            extra = args[self.n_state + 2:]
            outs = []
            for x_t in (xp.flip(x, 0) if reverse else x):
                states = self.step(x_t @ w_ih.T, states, w_hh, *extra)
                outs.append(states[0])
            out = xp.stack(outs[::-1] if reverse else outs)
            return (out, *states)

        return self.recompute_backward(layer, *grads)

    def _finish(self, dzx, dzh, hs):
        """Gradients of x and the weights from the per-step gate gradients (one GEMM each)."""
        need = self.needs_input_grad
        x, w_ih = self.x, self.w_ih
        T, B, I = x.shape
        gx = dzx.reshape(T * B, -1)
        gh = gx if dzh is None else dzh.reshape(T * B, -1)
        dx = dw_ih = dw_hh = db_ih = db_hh = None
        if need[0]:
            dx = (gx @ w_ih).reshape(T, B, I)
            if self.reverse:
                dx = dx[::-1]
        if need[1 + self.n_state]:
            dw_ih = gx.T @ x.reshape(T * B, I)
        if need[2 + self.n_state]:
            dw_hh = gh.T @ hs[:-1].reshape(T * B, -1)
        if self.has_bias:
            db_ih = gx.sum(axis=0) if need[3 + self.n_state] else None
            db_hh = gh.sum(axis=0) if need[4 + self.n_state] else None
            return dx, dw_ih, dw_hh, db_ih, db_hh
        return dx, dw_ih, dw_hh


class RNNLayer(_RecurrentLayer):
    """Elman RNN over all steps:  h_t = f(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh), f = tanh or relu.

    BPTT:  δ_t = (∂L/∂h_t + δ_{t+1}·W_hh) ⊙ f′(z_t),  f′ = 1 − h_t² (tanh) or [h_t > 0] (relu).
    Outputs: (h_1..h_T of shape (T, B, H), h_T).
    """

    name = "rnn_layer"

    def forward(self, *args, nonlinearity="tanh", reverse=False):
        x, (h0,), w_ih, w_hh, b_ih, b_hh = _split_bias(args, 1)
        xp = xp_of(x)
        if reverse:
            x = x[::-1]
        T, B, _ = x.shape
        H = w_hh.shape[1]
        z = self._input_projection(x, w_ih, b_ih, b_hh, None)
        hs = xp.empty((T + 1, B, H), dtype=z.dtype)
        hs[0] = h0
        w_hh_t = xp.ascontiguousarray(w_hh.T)   # BLAS is fastest on a C-ordered operand
        for t in range(T):
            h = hs[t + 1]
            xp.matmul(hs[t], w_hh_t, out=h)
            h += z[t]
            if nonlinearity == "tanh":
                xp.tanh(h, out=h)
            else:
                xp.maximum(h, 0, out=h)
        if self.needs_input_grad is not None:
            self.x, self.hs, self.w_ih, self.w_hh = x, hs, w_ih, w_hh
            self.relu, self.reverse = nonlinearity == "relu", reverse
            self.has_bias = b_ih is not None
        out = hs[1:]
        return (out[::-1].copy() if reverse else out), hs[T].copy()

    def backward(self, gy, ghn):
        xp = xp_of(gy)
        hs, w_hh = self.hs, self.w_hh
        if self.reverse:
            gy = gy[::-1]
        act = hs[1:]
        deriv = (act > 0).astype(act.dtype) if self.relu else 1 - act * act
        dz = xp.empty_like(act)
        dh = ghn.copy()
        for t in range(len(act) - 1, -1, -1):
            dh += gy[t]
            d = dz[t]
            xp.multiply(dh, deriv[t], out=d)
            dh = d @ w_hh
        dx, *rest = self._finish(dz, None, hs)
        return (dx, dh, *rest)

    def step(self, zx, states, w_hh, b_ih=None, b_hh=None):
        """One step on Tensors: h = f(zx + W_hh·h + b_ih + b_hh) (zx = W_ih·x_t)."""
        z = zx + states[0] @ w_hh.T
        if b_ih is not None:
            z = z + b_ih + b_hh
        return (z.relu() if self.relu else z.tanh(),)


_BPTT_CHUNK = 8                      # LSTM steps whose gradients are kept in cache together
_LSTM_BLOCKS = (3, 0, 1, 2)          # internal gate order o, i, f, g (PyTorch's i, f, g, o)
_LSTM_BLOCKS_BACK = (1, 2, 3, 0)     # where PyTorch's i, f, g, o sit in the internal order


def _lstm_rows(w, blocks):
    """Reorder the four H-row gate blocks of a (4H, ...) weight or (4H,) bias."""
    return w.reshape(4, w.shape[0] // 4, *w.shape[1:])[list(blocks)].reshape(w.shape)


def _lstm_buffers(xp, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    """What both LSTM ops set up before their time loop, for x (T, B, I), h of P features
    (P = H without a projection) and c of H features:

    w = s ⊙ [W_hh | W_ih | b_ih + b_hh] (4H, K = P + I + 1), rows in the internal gate order
    o, i, f, g, σ rows halved (σ(z) = ½·tanh(z/2) + ½: all gates then take one tanh pass);
    z (K, T + 1, B) whose column t is [h_{t−1}; x_t; 1] (h_0 and all x filled in);
    acts (T, 4H, B), cs (T + 1, H, B) with cs[0] = c_0, tc (T, H, B).
    Returns (w, z, acts, cs, tc, w_ih, w_hh) with the unscaled, row-permuted weights."""
    T, B, I = x.shape
    H, P = w_hh.shape[0] // 4, w_hh.shape[1]
    w_ih, w_hh = _lstm_rows(w_ih, _LSTM_BLOCKS), _lstm_rows(w_hh, _LSTM_BLOCKS)
    w = xp.zeros((4 * H, P + I + 1), dtype=x.dtype)
    w[:, :P] = w_hh
    w[:, P:P + I] = w_ih
    if b_ih is not None:
        w[:, P + I] = _lstm_rows(b_ih + b_hh, _LSTM_BLOCKS)
    w[:3 * H] *= 0.5
    z = xp.empty((P + I + 1, T + 1, B), dtype=x.dtype)
    z[:P, 0] = h0.T
    z[P:P + I, :T] = x.transpose(2, 0, 1)
    z[P + I] = 1.0
    cs = xp.empty((T + 1, H, B), dtype=x.dtype)
    cs[0] = c0.T
    acts = xp.empty((T, 4 * H, B), dtype=x.dtype)
    tc = xp.empty((T, H, B), dtype=x.dtype)
    return w, z, acts, cs, tc, w_ih, w_hh


class LSTMLayer(_RecurrentLayer):
    """LSTM over all steps (PyTorch's gate order i, f, g, o in the parameters):

        [i, f, g, o] = [σ, σ, tanh, σ](W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh)
        c_t = f ⊙ c_{t−1} + i ⊙ g,    h_t = o ⊙ tanh(c_t)

    BPTT, with dh = ∂L/∂h_t + δ_{t+1}·W_hh and dc carried from step t+1:
        δo = dh ⊙ tanh(c_t) ⊙ σ′(o),   dc += dh ⊙ o ⊙ (1 − tanh²(c_t)),
        [δi, δf, δg] = dc ⊙ [g ⊙ σ′(i), c_{t−1} ⊙ σ′(f), i ⊙ (1 − g²)],   dc ← dc ⊙ f,
    with σ′ = σ(1 − σ). All weight gradients together are
    ∂L/∂[W_hh | W_ih | b] = Σ_t δ_t·[h_{t−1}; x_t; 1]ᵀ, one GEMM per chunk of 8 steps.

    The elementwise part of a step runs either as one fused loop per step
    (:mod:`deltaflow.ops.lstm_kernels`, compiled by Numba when it is installed) or as
    NumPy/CuPy passes: then the factors after dh and dc, which depend only on the forward
    values, are computed for 8 steps at a time before those steps, leaving five passes and
    one GEMM per step.

    Layout (for speed, invisible outside): the state is feature-major, h_t as (H, B), and
    the gates (4H, B) per step in the internal order o, i, f, g (weights' rows are permuted
    once per call): the per-step GEMM with a (4H, K)·(K, B) shape is 25–45 % faster in
    OpenBLAS than the batch-major one, the three σ gates are one contiguous block (one scale
    and shift after the shared tanh), and δi, δf, δg are one contiguous block (one broadcast
    multiply by dc). Each step's GEMM multiplies the stacked column z_t = [h_{t−1}; x_t; 1]
    of Z (K = H + I + 1 rows, time and batch along the columns) by [W_hh | W_ih | b], so
    the input projection and the bias come with it. Z and the gate gradients keep time and
    batch together along their columns, so the gradient GEMMs of a chunk of steps read
    them as (K, 8·B) and (4H, 8·B) views.
    Outputs: (h_1..h_T of shape (T, B, H) — a view of a batch-major array, h_T, c_T).
    """

    name = "lstm_layer"
    n_state = 2

    def forward(self, *args, reverse=False):
        x, (h0, c0), w_ih, w_hh, b_ih, b_hh = _split_bias(args, 2)
        xp = xp_of(x)
        if reverse:
            x = x[::-1]
        T, B, _ = x.shape
        H = w_hh.shape[1]
        w, z, acts, cs, tc, w_ih, w_hh = _lstm_buffers(xp, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        kernels, half = lstm_kernels.pick(x), x.dtype.type(0.5)
        # h_1..h_T batch-major, returned as a (T, B, H) view: a batch_first module's
        # transpose back then gives a contiguous (B, T, H), which the layer that usually
        # follows (a Linear on the last axis) reads without another copy. Each h_t is
        # copied in while it is in cache (one transposing copy of the whole (H, T, B) block
        # after the loop took 2–3× as long).
        out = xp.empty((B, T, H), dtype=x.dtype)
        for t in range(T):
            a = acts[t]
            xp.matmul(w, z[:, t], out=a)
            xp.tanh(a, out=a)
            kernels.cell(a, cs[t], cs[t + 1], tc[t], z, t + 1, half)  # h_t into z[:H, t + 1]
            out[:, T - 1 - t if reverse else t] = z[:H, t + 1].T
        if self.needs_input_grad is not None:
            self.z, self.cs, self.tc, self.acts = z, cs, tc, acts
            self.w_ih, self.w_hh = w_ih, w_hh                         # unscaled, permuted
            self.reverse, self.has_bias = reverse, b_ih is not None
        return out.transpose(1, 0, 2), z[:H, T].T.copy(), cs[T].T.copy()

    def _bptt(self, xp, gy, w_hh_t, dh, dc, dx, dw):
        """The loop over the steps in reverse, carrying dh and dc; fills ∂L/∂X into ``dx``
        (T, B, I) and ∂L/∂[W_hh | W_ih | b] into ``dw`` (4H, K) (either may be None).

        Steps go in chunks of 8 whose δ stay in a cache-resident (4H, 8, B) buffer; after
        each chunk, its share of both gradients is one GEMM each while δ is still in cache,
        ∂L/∂X_chunk = δᵀ·W_ih and ∂L/∂W += δ·Z_chunkᵀ (δ as (4H, 8·B), Z_chunk the chunk's
        columns of Z as (K, 8·B)), so δ of all steps is never stored. A step's elementwise
        work is one fused kernel call, or five NumPy/CuPy passes after the chunk's gate
        factors (:mod:`deltaflow.ops.lstm_kernels`)."""
        T, B, H = gy.shape
        K = self.z.shape[0]
        dzc = xp.empty((4 * H, _BPTT_CHUNK, B), dtype=gy.dtype)      # one chunk of δ
        dw_chunk = None if dw is None else xp.empty_like(dw)
        steps = lstm_kernels.pick(gy).backward_steps(gy, self.acts, self.tc, self.cs, dzc)
        for t1 in range(T, 0, -_BPTT_CHUNK):
            t0 = max(t1 - _BPTT_CHUNK, 0)
            steps.chunk(t0, t1)
            for j in range(t1 - t0 - 1, -1, -1):
                steps.cell_backward(j, dh, dc)                        # δ_t into dzc[:, j]
                xp.matmul(w_hh_t, dzc[:, j], out=dh)
            n = t1 - t0
            delta = dzc[:, :n].reshape(4 * H, n * B)
            if dx is not None:
                xp.matmul(delta.T, self.w_ih, out=dx[t0:t1].reshape(n * B, -1))
            if dw is not None:
                z_chunk = self.z[:, t0:t1].reshape(K, n * B)
                xp.matmul(delta, z_chunk.T, out=dw if t1 == T else dw_chunk)
                if t1 < T:
                    dw += dw_chunk

    def backward(self, gy, ghn, gcn):
        xp = xp_of(gy)
        if self.reverse:
            gy = gy[::-1]
        T, B, H = gy.shape
        K = self.z.shape[0]
        I = K - H - 1
        need = self.needs_input_grad
        dx = xp.empty((T, B, I), dtype=gy.dtype) if need[0] else None
        dw = xp.empty((4 * H, K), dtype=gy.dtype) if any(need[3:]) else None
        dh = xp.array(ghn.T, order="C")                              # own copies: updated
        dc = xp.array(gcn.T, order="C")                              # in place below
        self._bptt(xp, gy, xp.ascontiguousarray(self.w_hh.T), dh, dc, dx, dw)
        if dx is not None and self.reverse:
            dx = dx[::-1]
        dw_ih = dw_hh = db = None
        if dw is not None:
            dw = _lstm_rows(dw, _LSTM_BLOCKS_BACK)
            dw_hh, dw_ih, db = dw[:, :H], dw[:, H:H + I], dw[:, H + I]
        grads = (dx, dh.T, dc.T, dw_ih if need[3] else None, dw_hh if need[4] else None)
        if self.has_bias:
            return (*grads, db if need[5] else None, db if need[6] else None)
        return grads

    def step(self, zx, states, w_hh, b_ih=None, b_hh=None, w_hr=None):
        """One step on Tensors: [i, f, g, o] from zx + W_hh·h + b_ih + b_hh (zx = W_ih·x_t),
        c = f ⊙ c + i ⊙ g, h = o ⊙ tanh(c) (then h = W_hr·h with a projection)."""
        h, c = states
        z = zx + h @ w_hh.T
        if b_ih is not None:
            z = z + b_ih + b_hh
        H = z.shape[-1] // 4
        i, f, o = (z[:, k * H:(k + 1) * H].sigmoid() for k in (0, 1, 3))
        c = f * c + i * z[:, 2 * H:3 * H].tanh()
        h = o * c.tanh()
        return (h if w_hr is None else h @ w_hr.T), c


class LSTMProjLayer(LSTMLayer):
    """LSTM with a projected hidden state, PyTorch's ``LSTM(proj_size=P)`` (P < H): the cell
    of :class:`LSTMLayer`, then

        h̃_t = o ⊙ tanh(c_t)   (H features),    h_t = W_hr·h̃_t   (P features),

    with W_hh of shape (4H, P). BPTT: dh = ∂L/∂h_t (P, from the output and from step t+1)
    gives ∂L/∂h̃_t = W_hrᵀ·dh, which drives the cell's backward as dh does in LSTMLayer;
    ∂L/∂W_hr = Σ_t dh_t·h̃_tᵀ is one GEMM after the loop. Inputs: (x, h0 (B, P), c0 (B, H),
    w_ih, w_hh[, b_ih, b_hh], w_hr). Outputs: (h_1..h_T of shape (T, B, P), h_T, c_T).
    The forward's cell is LSTMLayer's (:mod:`deltaflow.ops.lstm_kernels`); projections are
    rare, so the backward runs as NumPy/CuPy passes only (no chunks, no kernels).
    """

    name = "lstm_proj_layer"

    def forward(self, x, h0, c0, w_ih, w_hh, *rest, reverse=False):
        b_ih, b_hh = rest[:2] if len(rest) == 3 else (None, None)
        w_hr = rest[-1]
        xp = xp_of(x)
        if reverse:
            x = x[::-1]
        T, B, _ = x.shape
        P, H = w_hr.shape
        w, z, acts, cs, tc, w_ih, w_hh = _lstm_buffers(xp, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        hidden = xp.empty((H, T, B), dtype=x.dtype)                   # h̃_t = hidden[:, t]
        kernels, half = lstm_kernels.pick(x), x.dtype.type(0.5)
        for t in range(T):
            a = acts[t]
            xp.matmul(w, z[:, t], out=a)
            xp.tanh(a, out=a)
            kernels.cell(a, cs[t], cs[t + 1], tc[t], hidden, t, half)
            xp.matmul(w_hr, hidden[:, t], out=z[:P, t + 1])
        if self.needs_input_grad is not None:
            self.z, self.cs, self.tc, self.acts, self.hidden = z, cs, tc, acts, hidden
            self.w_ih, self.w_hh, self.w_hr = w_ih, w_hh, w_hr
            self.reverse, self.has_bias = reverse, b_ih is not None
        hs = z[:P, 1:].transpose(2, 1, 0)                             # (B, T, P) view
        out = xp.ascontiguousarray(hs[:, ::-1] if reverse else hs)
        return out.transpose(1, 0, 2), z[:P, T].T.copy(), cs[T].T.copy()

    def backward(self, gy, ghn, gcn):
        xp = xp_of(gy)
        z, w_ih, w_hh, w_hr = self.z, self.w_ih, self.w_hh, self.w_hr
        if self.reverse:
            gy = gy[::-1]
        T, B, P = gy.shape
        H = w_hr.shape[1]
        K = z.shape[0]
        I = K - P - 1
        gy = xp.ascontiguousarray(gy.transpose(0, 2, 1))              # (T, P, B)
        q, k, p, f = lstm_kernels.gate_factors(self.acts, self.tc, self.cs[:T])
        w_hh_t, w_hr_t = xp.ascontiguousarray(w_hh.T), xp.ascontiguousarray(w_hr.T)
        dz = xp.empty((4 * H, T, B), dtype=gy.dtype)                 # δ_t = dz[:, t]
        dhs = xp.empty((P, T, B), dtype=gy.dtype)                    # ∂L/∂h_t
        d = xp.empty((4 * H, B), dtype=gy.dtype)
        dh = xp.array(ghn.T, order="C")
        dc = xp.array(gcn.T, order="C")
        dht, tmp = xp.empty((H, B), dtype=gy.dtype), xp.empty((H, B), dtype=gy.dtype)
        for t in range(T - 1, -1, -1):
            dh += gy[t]
            dhs[:, t] = dh
            xp.matmul(w_hr_t, dh, out=dht)                           # ∂L/∂h̃_t
            xp.multiply(dht, q[t], out=d[:H])                        # δo
            xp.multiply(dht, k[t], out=tmp)
            dc += tmp
            xp.multiply(dc, p[t], out=d[H:].reshape(3, H, B))        # δi, δf, δg
            dc *= f[t]
            dz[:, t] = d
            dh = w_hh_t @ d
        need = self.needs_input_grad
        dz = dz.reshape(4 * H, T * B)
        dx = dw_ih = dw_hh = db = dw_hr = None
        if need[0]:
            dx = (dz.T @ w_ih).reshape(T, B, I)
            if self.reverse:
                dx = dx[::-1]
        if any(need[3:-1]):
            dw = _lstm_rows(dz @ z[:, :T].reshape(K, T * B).T, _LSTM_BLOCKS_BACK)
            dw_hh, dw_ih, db = dw[:, :P], dw[:, P:P + I], dw[:, P + I]
        if need[-1]:
            dw_hr = dhs.reshape(P, T * B) @ self.hidden.reshape(H, T * B).T
        grads = (dx, dh.T, dc.T, dw_ih if need[3] else None, dw_hh if need[4] else None)
        if self.has_bias:
            grads += (db if need[5] else None, db if need[6] else None)
        return (*grads, dw_hr)

    def step(self, zx, states, w_hh, *rest):
        """:meth:`LSTMLayer.step` with the inputs after W_hh: ([b_ih, b_hh,] w_hr)."""
        b_ih, b_hh = rest[:2] if len(rest) == 3 else (None, None)
        return LSTMLayer.step(self, zx, states, w_hh, b_ih, b_hh, rest[-1])


def _gru_constants(xp, H, dtype):
    """Row scale (½ for the σ-gates r, z; 1 for n)."""
    scale = xp.full(3 * H, 0.5, dtype=dtype)
    scale[2 * H:] = 1.0
    return scale


class GRULayer(_RecurrentLayer):
    """GRU over all steps (PyTorch's gate order r, z, n):

        r = σ(W_ir·x + b_ir + W_hr·h + b_hr),   z = σ(W_iz·x + b_iz + W_hz·h + b_hz)
        n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn)),   h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

    BPTT, with dh = ∂L/∂h_t + (carried from step t+1):
        dn = dh ⊙ (1 − z) ⊙ (1 − n²),   dz = dh ⊙ (h_{t−1} − n) ⊙ σ′(z),
        dr = dn ⊙ (W_hn·h + b_hn) ⊙ σ′(r),
        δx_t = [dr, dz, dn] (input side),   δh_t = [dr, dz, dn ⊙ r] (recurrent side),
        ∂L/∂h_{t−1} = dh ⊙ z + δh_t·W_hh.
    The elementwise part of a step runs as fused loops (:mod:`deltaflow.ops.gru_kernels`)
    when Numba is installed, else as NumPy/CuPy passes (σ′ and tanh′ of all steps taken
    before the loop); both give the same numbers.
    Outputs: (h_1..h_T of shape (T, B, H), h_T).
    """

    name = "gru_layer"

    def forward(self, *args, reverse=False):
        x, (h0,), w_ih, w_hh, b_ih, b_hh = _split_bias(args, 1)
        xp = xp_of(x)
        if reverse:
            x = x[::-1]
        T, B, _ = x.shape
        H = w_hh.shape[1]
        scale = _gru_constants(xp, H, x.dtype)
        acts = self._input_projection(x, w_ih, b_ih, b_hh, scale, hh_bias_in_x=False)
        w_hh_t = xp.ascontiguousarray((w_hh * scale[:, None]).T)
        b_hh_s = None if b_hh is None else b_hh * scale
        gh = xp.empty_like(acts)                                     # W_hh·h + b_hh per step
        hs = xp.empty((T + 1, B, H), dtype=acts.dtype)
        hs[0] = h0
        kernels, half = gru_kernels.pick(x), x.dtype.type(0.5)
        for t in range(T):
            xp.matmul(hs[t], w_hh_t, out=gh[t])
            kernels.cell(acts[t], gh[t], b_hh_s, hs[t], hs[t + 1], half)
        if self.needs_input_grad is not None:
            self.x, self.hs, self.acts, self.ghn = x, hs, acts, gh[:, :, 2 * H:]
            self.w_ih, self.w_hh = w_ih, w_hh
            self.reverse, self.has_bias = reverse, b_ih is not None
        out = hs[1:]
        return (out[::-1].copy() if reverse else out), hs[T].copy()

    def backward(self, gy, ghn_out):
        xp = xp_of(gy)
        acts, hs, ghn, w_hh = self.acts, self.hs, self.ghn, self.w_hh
        if self.reverse:
            gy = gy[::-1]
        T, B, H3 = acts.shape
        H = H3 // 3
        dzx = xp.empty_like(acts)
        dzh = xp.empty_like(acts)
        dh = ghn_out.copy()
        direct = xp.empty((B, H), dtype=acts.dtype)
        steps = gru_kernels.pick(acts).backward_steps(acts, hs, ghn, dzx, dzh, direct)
        for t in range(T - 1, -1, -1):
            steps.cell_backward(t, dh, gy[t])             # δ_t into dzx[t], dzh[t]; direct
            dh = dzh[t] @ w_hh
            dh += direct
        dx, *rest = self._finish(dzx, dzh, hs)
        return (dx, dh, *rest)

    def step(self, zx, states, w_hh, b_ih=None, b_hh=None):
        """One step on Tensors: r, z = σ(zx + b_ih + W_hh·h + b_hh) (their rows), n = tanh(zx
        + b_in + r ⊙ (W_hn·h + b_hn)), h = (1 − z) ⊙ n + z ⊙ h (zx = W_ih·x_t)."""
        h, = states
        zh = h @ w_hh.T
        if b_ih is not None:
            zx, zh = zx + b_ih, zh + b_hh
        H = h.shape[-1]
        r, z = ((zx[:, k * H:(k + 1) * H] + zh[:, k * H:(k + 1) * H]).sigmoid() for k in (0, 1))
        n = (zx[:, 2 * H:] + r * zh[:, 2 * H:]).tanh()
        return ((1 - z) * n + z * h,)


__all__ = ["RNNLayer", "LSTMLayer", "LSTMProjLayer", "GRULayer"]
