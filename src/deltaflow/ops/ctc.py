"""Connectionist temporal classification (CTC) loss: forward–backward in log space,
vectorised over the batch and the target positions (one Python step per time step)."""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of


def _logaddexp3(xp, a, b, c):
    return xp.logaddexp(xp.logaddexp(a, b), c)


class CTCLoss(Function):
    """ℓₙ = −log Σ_π Πₜ yₜ(πₜ) over the alignments π of length Tₙ that collapse to the
    target yₙ (repeats merged, then blanks removed); lp = log y, shape (T, N, C).

    With the extended target l′ = (b, y₁, b, y₂, …, yₛ, b) of length 2Sₙ + 1:
    log αₜ(s) = lpₜ(l′ₛ) + logsumexp(αₜ₋₁(s), αₜ₋₁(s−1), [skipₛ] αₜ₋₁(s−2)),
    log βₜ(s) = lpₜ(l′ₛ) + logsumexp(βₜ₊₁(s), βₜ₊₁(s+1), [skipₛ₊₂] βₜ₊₁(s+2)),
    skipₛ = (l′ₛ ≠ b and l′ₛ ≠ l′ₛ₋₂),  ℓₙ = −logsumexp(α_{Tₙ−1}(2Sₙ), α_{Tₙ−1}(2Sₙ−1)).
    As αₜ(s) and βₜ(s) both contain yₜ(l′ₛ):
    ∂ℓₙ/∂lpₜ(c) = −Σ_{s: l′ₛ = c} exp(log αₜ(s) + log βₜ(s) − lpₜ(c) + ℓₙ)
    (minus the posterior probability of emitting c at t; 0 for t ≥ Tₙ). ``zero_infinity``
    sets impossible alignments' ℓₙ = +∞ and their gradients to 0.

    Options: ``targets`` (N, S) integer array padded with blanks, ``input_lengths`` and
    ``target_lengths`` (N,), ``blank``. Output: ℓ, shape (N,)."""

    name = "ctc_loss"

    def forward(self, log_probs, targets, input_lengths, target_lengths, blank=0,
                zero_infinity=False):
        xp = xp_of(log_probs)
        T, N, _ = log_probs.shape
        L = 2 * targets.shape[1] + 1
        ext = xp.full((N, L), blank, dtype=targets.dtype)
        ext[:, 1::2] = targets
        lp_ext = log_probs[:, xp.arange(N)[:, None], ext]          # lpₜ(l′ₛ): (T, N, L)
        skip = xp.zeros((N, L), dtype=bool)
        skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
        has_label = (target_lengths > 0)[:, None]
        neg_inf = xp.asarray(-np.inf, dtype=log_probs.dtype)

        alpha = xp.full((T, N, L), -np.inf, dtype=log_probs.dtype)
        alpha[0, :, 0] = lp_ext[0, :, 0]
        if L > 1:
            alpha[0, :, 1] = xp.where(has_label[:, 0], lp_ext[0, :, 1], neg_inf)
        prev = xp.full((N, L + 2), -np.inf, dtype=log_probs.dtype)   # two −∞ at the front
        for t in range(1, T):
            prev[:, 2:] = alpha[t - 1]
            alpha[t] = lp_ext[t] + _logaddexp3(xp, prev[:, 2:], prev[:, 1:-1],
                                               xp.where(skip, prev[:, :-2], neg_inf))

        batch = xp.arange(N)
        last = alpha[xp.maximum(input_lengths - 1, 0), batch]          # α_{Tₙ−1}: (N, L)
        end = 2 * target_lengths
        end_label = xp.where(has_label[:, 0], last[batch, xp.maximum(end - 1, 0)], neg_inf)
        nll = -xp.logaddexp(last[batch, end], end_label)
        empty = xp.where(target_lengths == 0, 0.0, np.inf).astype(log_probs.dtype)
        nll = xp.where(input_lengths == 0, empty, nll)
        self.infinite = xp.isinf(nll) if zero_infinity else None
        self.alpha, self.lp_ext, self.ext, self.skip, self.nll = alpha, lp_ext, ext, skip, nll
        self.input_lengths, self.target_lengths, self.n_classes = (
            input_lengths, target_lengths, log_probs.shape[2])
        return nll if self.infinite is None else xp.where(self.infinite, 0.0, nll).astype(
            nll.dtype)

    def backward(self, g):
        xp = xp_of(g)
        alpha, lp_ext, ext = self.alpha, self.lp_ext, self.ext
        T, N, L = alpha.shape
        C = self.n_classes
        positions = xp.arange(L)[None, :]
        end = 2 * self.target_lengths[:, None]
        ends = (positions == end) | ((positions == end - 1) & (self.target_lengths > 0)[:, None])
        start = xp.where(ends, 0.0, -np.inf).astype(alpha.dtype)     # β_{Tₙ−1} − lp
        skip_next = xp.zeros_like(self.skip)
        skip_next[:, :-2] = self.skip[:, 2:]
        last = (self.input_lengths - 1)[:, None]
        neg_inf = xp.asarray(-np.inf, dtype=alpha.dtype)

        beta = xp.full((T, N, L), -np.inf, dtype=alpha.dtype)
        nxt = xp.full((N, L + 2), -np.inf, dtype=alpha.dtype)          # two −∞ at the back
        for t in range(T - 1, -1, -1):
            if t + 1 < T:
                nxt[:, :L] = beta[t + 1]
            carried = _logaddexp3(xp, nxt[:, :L], nxt[:, 1:L + 1],
                                  xp.where(skip_next, nxt[:, 2:], neg_inf))
            beta[t] = lp_ext[t] + xp.where(t == last, start, xp.where(t < last, carried,
                                                                       neg_inf))

        with np.errstate(invalid="ignore", over="ignore"):
            post = xp.exp(alpha + beta - lp_ext + self.nll[None, :, None])
        active = (xp.arange(T)[:, None] < self.input_lengths[None, :])[:, :, None]
        if self.infinite is not None:
            active = active & ~self.infinite[None, :, None]
        weights = xp.where(active, post, 0.0) * -g[None, :, None]
        cells = (xp.arange(T * N).reshape(T, N, 1) * C + ext[None]).ravel()
        grad = xp.bincount(cells, weights=weights.ravel(), minlength=T * N * C)
        return grad.reshape(T, N, C).astype(alpha.dtype, copy=False)

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient of the docstring's α recursion recomputed on
        Tensors (log 0 as the finite ``LOG_ZERO``, so that logaddexp's gradient stays
        finite on impossible paths: they still get weight 0), differentiated again."""
        xp = xp_of(self.ext)
        ext, skip, T, N, L = self.ext, self.skip, *self.alpha.shape
        lengths, labels = self.input_lengths, self.target_lengths
        batch, has_label = xp.arange(N), labels > 0
        first = (xp.arange(L) == 0) | ((xp.arange(L) == 1) & has_label[:, None])
        dead = lengths == 0 if self.infinite is None else (lengths == 0) | self.infinite

        def nll(lp):
            xq = xp_of(lp)
            lp_ext = lp[:, batch[:, None], ext]                         # lpₜ(l′ₛ): (T, N, L)
            alpha = xq.where(first, lp_ext[0], LOG_ZERO)
            alphas = [alpha]
            for t in range(1, T):
                before = xq.pad(alpha, ((0, 0), (1, -1)), constant_values=LOG_ZERO)
                skipped = xq.pad(alpha, ((0, 0), (2, -2)), constant_values=LOG_ZERO)
                alpha = lp_ext[t] + _logaddexp3(xq, alpha, before,
                                                xq.where(skip, skipped, LOG_ZERO))
                alphas.append(alpha)
            last = xq.stack(alphas)[xp.maximum(lengths - 1, 0), batch]   # α_{Tₙ−1}: (N, L)
            end = last[batch, 2 * labels]
            end_label = xq.where(has_label, last[batch, xp.maximum(2 * labels - 1, 0)],
                                 LOG_ZERO)
            return xq.where(dead, 0.0, -xq.logaddexp(end, end_label))

        return self.recompute_backward(nll, g)


LOG_ZERO = -1e30   # log 0 in the recomputed recursion: exp(LOG_ZERO − anything finite) = 0
