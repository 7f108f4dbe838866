"""Batch normalisation with the statistics of the whole global batch, spread over the ranks
of a communicator (``nn.SyncBatchNorm``). The communicator is passed as an option; the op
only calls its ``allgather`` (forward) and ``allreduce`` (backward) on arrays."""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import xp_of
from .layer_norm_kernels import affine
from .norm import _channel_shape, batch_statistics_xhat, channel_affine


class SyncBatchNorm(Function):
    """Training-mode batch norm over the global batch (M values per channel on all ranks).

    Forward: each rank's count n_r, mean μ_r and M2_r = Σ(x − μ_r)² per channel are
    gathered and combined (Chan et al.): μ = Σ n_r μ_r / M, σ² = (Σ M2_r + Σ n_r (μ_r − μ)²)/M;
    x̂ = (x − μ)/√(σ² + ε), y = γx̂ + β; the running statistics, when given, are updated in
    place with the unbiased σ²·M/(M − 1).
    Backward: Σg and Σg·x̂ are all-reduced (sums over the global batch), then
    ∂L/∂x = γ/√(σ² + ε) · (g − Σg/M − x̂·Σg·x̂/M); ∂L/∂γ = Σg·x̂ and ∂L/∂β = Σg stay local
    (DistributedDataParallel averages them with the other gradients, as in PyTorch)."""

    name = "sync_batch_norm"

    def forward(self, x, *params, comm=None, has_weight=True, has_bias=True,
                running_mean=None, running_var=None, momentum=0.1, eps=1e-5):
        xp = xp_of(x)
        c = x.shape[1]
        axes = (0,) + tuple(range(2, x.ndim))
        cs = _channel_shape(x.ndim)
        n = x.size // c
        local_mean = x.sum(axis=axes) / max(n, 1)
        xc = x - local_mean.reshape(cs)
        stats = xp.concatenate([xp.asarray([n], dtype=x.dtype), local_mean,
                                (xc * xc).sum(axis=axes)])
        gathered = xp.empty((comm.size, stats.size), dtype=x.dtype)
        comm.allgather(stats, gathered)
        counts, means, m2s = gathered[:, :1], gathered[:, 1:c + 1], gathered[:, c + 1:]
        m = int(round(float(counts.sum())))
        if m <= 1:
            raise ValueError(f"sync_batch_norm: expected more than 1 value per channel over "
                             f"all ranks when training, got {m}")
        mean = (counts * means).sum(axis=0) / m
        var = (m2s.sum(axis=0) + (counts * (means - mean) ** 2).sum(axis=0)) / m
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.astype(running_mean.dtype)
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * (var * (m / (m - 1))).astype(running_var.dtype)
        inv_std = (1.0 / xp.sqrt(var + eps)).reshape(cs)
        xhat = xc
        xhat += (local_mean - mean).reshape(cs)
        xhat *= inv_std
        weight = params[0].reshape(cs) if has_weight else None
        bias = params[has_weight].reshape(cs) if has_bias else None
        self.xhat, self.inv_std, self.weight, self.axes, self.m = xhat, inv_std, weight, axes, m
        self.comm, self.has_weight, self.has_bias, self.eps = comm, has_weight, has_bias, eps
        return affine(xhat, weight, bias)

    def backward(self, g):
        need = self.needs_input_grad
        xp = xp_of(g)
        xhat, axes = self.xhat, self.axes
        gb = g.sum(axis=axes)
        gw = (g * xhat).sum(axis=axes)
        gx = None
        if need[0]:
            sums = xp.concatenate([gb, gw])
            self.comm.allreduce(sums, "sum")
            c = gb.size
            cs = _channel_shape(g.ndim)
            scale = self.inv_std if self.weight is None else self.weight * self.inv_std
            gx = g - sums[:c].reshape(cs) * (1.0 / self.m)
            gx -= xhat * (sums[c:].reshape(cs) * (1.0 / self.m))
            gx *= scale
        grads = [gx]
        if self.has_weight:
            grads.append(gw if need[1] else None)
        if self.has_bias:
            grads.append(gb if need[len(grads)] else None)
        return tuple(grads)

    def backward_graph(self, g):
        """Under ``create_graph``, in one process: the gradient of BatchNorm's training
        formula (the global batch is the local one). Over several ranks the statistics'
        graph would cross the communicator, which has no differentiable collectives."""
        if self.comm.size != 1:
            raise RuntimeError(f"sync_batch_norm: create_graph=True (double backward) runs in "
                               f"a single process only; this communicator has "
                               f"{self.comm.size} ranks")
        has_weight, has_bias, axes, eps = self.has_weight, self.has_bias, self.axes, self.eps

        def formula(x, *params):
            return channel_affine(batch_statistics_xhat(x, axes, eps),
                                  params[0] if has_weight else None,
                                  params[has_weight] if has_bias else None)

        return self.recompute_backward(formula, g)
