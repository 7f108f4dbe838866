"""``SyncBatchNorm``: batch norm whose training statistics are those of the global batch
spread over the ranks of ``dl.distributed`` (``torch.nn.SyncBatchNorm``)."""
from __future__ import annotations

from ... import backend
from ...ops.sync_batch_norm import SyncBatchNorm as _SyncBatchNormOp
from .module import Module
from .normalization import _BatchNorm, _InstanceNorm

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    """Batch norm over (N, C, ...) inputs. In training, with a process group of more than
    one rank, mean and variance are those of the batch of all ranks together (all-gathered
    in forward) and the input gradient uses the all-reduced Σg and Σg·x̂; otherwise
    (evaluation, one process, no process group) it is ``BatchNorm``."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None,
                 device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.ndim < 2:
            raise ValueError(f"SyncBatchNorm({self.num_features}): expected at least 2D input, "
                             f"got {input.ndim}D input of shape {tuple(input.shape)}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm({self.num_features}): expected "
                             f"{self.num_features} channels in dim 1, got input of shape "
                             f"{tuple(input.shape)}")

    def forward(self, input):
        from ... import distributed as dist

        if not (self.training and dist.is_initialized()
                and dist.get_world_size(self.process_group) > 1):
            return super().forward(input)
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            count = self.num_batches_tracked.data
            self.num_batches_tracked.data = backend.xp_of(count).asarray(count + 1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        params = [p for p in (self.weight, self.bias) if p is not None]
        return _SyncBatchNormOp.apply(
            input, *params, comm=dist.get_communicator(self.process_group),
            has_weight=self.weight is not None, has_bias=self.bias is not None,
            running_mean=None if self.running_mean is None else self.running_mean.data,
            running_var=None if self.running_var is None else self.running_var.data,
            momentum=factor, eps=self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every BatchNorm1d/2d/3d replaced by a SyncBatchNorm sharing its
        parameters and buffers (``module`` itself when it is one)."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, (_InstanceNorm, cls)):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            for name in ("weight", "bias", "running_mean", "running_var",
                         "num_batches_tracked"):
                setattr(out, name, getattr(module, name))
            out.train(module.training)
        for name, child in list(module.named_children()):
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out
