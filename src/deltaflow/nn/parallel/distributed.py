"""``DistributedDataParallel``: every rank holds the whole model and a shard of the batch;
after each backward the gradients are averaged over the ranks, so every rank takes the
same optimizer step (``torch.nn.parallel.DistributedDataParallel``).

Gradients are packed into buckets of about ``bucket_cap_mb`` MiB, in reverse parameter order
(roughly the order backward produces them). Each parameter's post-accumulate hook copies
its gradient into its bucket; when a bucket is full its all-reduce starts at once, without
blocking (``Communicator.iallreduce``), while backward goes on computing the earlier
layers' gradients, and later hooks poll the started ones so MPI makes progress. Buckets
start in the same fixed order on every rank. At the end of the backward (an engine
callback, ``autograd.engine.queue_callback``) DDP waits for the buckets and writes the
averages back into ``.grad``: when ``backward()`` returns, ``.grad`` is the average.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ...autograd import engine, write_clock
from ...autograd.grad_mode import is_grad_enabled
from ...tensor import Tensor
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    """Parameters whose gradients travel in one flat array: ``params[k]`` occupies
    ``buffer[offsets[k]:offsets[k] + sizes[k]]``."""

    def __init__(self, params, dtype):
        self.params = params
        self.sizes = [p.data.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(int).tolist()
        self.buffer = np.zeros(sum(self.sizes), dtype=dtype)
        self.reset()

    def reset(self):
        self.ready = [False] * len(self.params)
        self.pending = len(self.params)
        self.request = None

    def view(self, k):
        p = self.params[k]
        return self.buffer[self.offsets[k]:self.offsets[k] + self.sizes[k]].reshape(p.shape)


def _buckets(params, cap_bytes):
    """Buckets of reverse-order ``params``, one dtype each, closed once ``cap_bytes`` full."""
    done, open_ = [], {}
    for p in reversed(params):
        dt = p.data.dtype
        members = open_.setdefault(dt, [])
        members.append(p)
        if sum(q.data.nbytes for q in members) >= cap_bytes:
            done.append(_Bucket(open_.pop(dt), dt))
    done += [_Bucket(members, dt) for dt, members in open_.items()]
    return done


class _GradReady:
    """The hook DDP puts on each parameter. A copy of the parameter (deepcopy, pickle: an
    AveragedModel of the module) gets an inert hook, not a second DDP."""

    def __init__(self, ddp):
        self.ddp = ddp

    def __call__(self, param):
        self.ddp._grad_ready(param)

    def __reduce__(self):
        return (_Inert, ())


class _Inert:
    def __call__(self, param):
        pass


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over the ranks of ``dl.distributed``
    (``init_process_group()`` first). At construction rank 0's parameters and buffers are
    broadcast to every rank; with ``broadcast_buffers`` (default) its buffers (BatchNorm's
    running statistics) again before each forward. Inside ``no_sync()`` gradients only
    accumulate locally; the first backward after it averages the accumulated sum.

    Every parameter must get a gradient in every backward: one that does not is an error
    naming it, unless ``find_unused_parameters=True``, which reduces the ranks' gradients
    with zeros for ranks where it got none (a parameter unused on every rank keeps its
    ``.grad``). ``module`` is the wrapped model; ``state_dict()`` and ``load_state_dict()`` are
    the module's, without PyTorch's ``"module."`` prefix (a prefixed dict loads too), so a
    checkpoint moves between DDP and plain runs and any number of processes."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None, bucket_cap_mb: float = 25,
                 find_unused_parameters: bool = False):
        from ... import distributed as dist

        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got "
                            f"{type(module).__name__}")
        if device_ids is not None or output_device is not None or dim != 0:
            raise ValueError("DistributedDataParallel: one device per process; leave "
                             "device_ids, output_device and dim at their defaults (move the "
                             "module to its device before wrapping it)")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got "
                             f"{bucket_cap_mb}")
        self.module = module
        self.comm = dist.get_communicator(process_group)
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.bucket_cap_mb = bucket_cap_mb
        self.require_backward_grad_sync = True
        names = {}
        for name, p in module.named_parameters():
            names.setdefault(p, name)
        params = [p for p in module.parameters() if p.requires_grad]
        for p in params:
            if type(p.data) is not np.ndarray:
                raise TypeError(f"DistributedDataParallel: parameter {names[p]} is on "
                                f"{p.device}; the MPI communicator reduces NumPy (CPU) arrays")
        self._names = names
        self._buckets = _buckets(params, bucket_cap_mb * 2 ** 20)
        self._slot = {p: (b, k) for b in self._buckets for k, p in enumerate(b.params)}
        self._next_bucket = 0
        self._expect_backward = False
        self._finalize_queued = False
        self._sync_module_states(module.parameters(), module.buffers())
        self._hook_handles = [p.register_post_accumulate_grad_hook(_GradReady(self))
                              for p in params]

    # ------------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and self.comm.size > 1:
            self._sync_module_states((), self.module.buffers())
        self._expect_backward = is_grad_enabled() and self.require_backward_grad_sync
        return self.module(*args, **kwargs)

    @contextmanager
    def no_sync(self):
        """Within this block, backward leaves gradients local (gradient accumulation); the
        first forward–backward after it averages what accumulated."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _sync_module_states(self, params, buffers):
        """Rank 0's values into every rank's parameters and buffers."""
        if self.comm.size == 1:
            return
        for t in (*params, *buffers):
            if t is None:
                continue
            data = t.data
            buf = data if data.flags.c_contiguous else np.ascontiguousarray(data)
            self.comm.bcast(buf, 0)
            if buf is not data:
                data[...] = buf
            write_clock.stamp(t)

    # ------------------------------------------------------------ the reduction
    def _grad_ready(self, param):
        """A parameter's gradient is complete: into its bucket, and start every bucket
        that is full and next in the fixed order."""
        if not self._expect_backward:
            return
        if not self._finalize_queued:
            engine.queue_callback(self._finalize)
            self._finalize_queued = True
        bucket, k = self._slot[param]
        bucket.view(k)[...] = param.grad.data
        bucket.ready[k] = True
        bucket.pending -= 1
        if bucket.pending == 0:
            self._start_full_buckets()
        for b in self._buckets[:self._next_bucket]:
            b.request.test()   # let MPI progress the reductions already started

    def _start_full_buckets(self):
        buckets = self._buckets
        while self._next_bucket < len(buckets) and buckets[self._next_bucket].pending == 0:
            b = buckets[self._next_bucket]
            b.request = self.comm.iallreduce(b.buffer, "sum")
            self._next_bucket += 1

    def _finalize(self):
        """End of backward: complete every bucket (unused parameters: zeros, or an error),
        wait for the reductions, write the averages into ``.grad``."""
        self._finalize_queued = self._expect_backward = False
        missing = [(b, k) for b in self._buckets for k in range(len(b.params)) if not b.ready[k]]
        if missing and not self.find_unused_parameters:
            for b in self._buckets:
                b.reset()
            self._next_bucket = 0
            unused = {id(b.params[k]) for b, k in missing}
            raise RuntimeError(
                f"DistributedDataParallel: parameters that got no gradient in this backward "
                f"on rank {self.comm.rank}: "
                + ", ".join(name for p, name in self._names.items() if id(p) in unused)
                + ". Every parameter must take part in the loss on every rank (or the ranks "
                "wait for each other forever); pass find_unused_parameters=True to reduce "
                "them as zeros, or freeze them (requires_grad_(False)) before wrapping")
        for b, k in missing:
            grad = b.params[k].grad
            b.view(k)[...] = 0 if grad is None else grad.data
            b.ready[k] = True
            b.pending -= 1
        self._start_full_buckets()
        has_grad = None
        if self.find_unused_parameters:   # which parameters have a gradient on any rank
            has_grad = np.array([p.grad is not None for b in self._buckets for p in b.params],
                                dtype=np.int32)
            request = self.comm.iallreduce(has_grad, "max")
        size = self.comm.size
        for b in self._buckets:
            b.request.wait()
            b.buffer /= size
        if has_grad is not None:
            request.wait()
        i = 0
        for b in self._buckets:
            for k, p in enumerate(b.params):
                if has_grad is None or has_grad[i]:
                    if p.grad is None:
                        p.grad = Tensor.constant(b.view(k).copy())
                    else:
                        p.grad.data[...] = b.view(k)
                i += 1
            b.reset()
        self._next_bucket = 0

    # ------------------------------------------------------------------ state
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """The wrapped module's state dict (no ``"module."`` prefix)."""
        return self.module.state_dict(destination, prefix, keep_vars)

    def load_state_dict(self, state_dict, strict: bool = True):
        """Load into the wrapped module; keys saved by PyTorch's DDP (all prefixed
        ``"module."``) lose the prefix first."""
        if state_dict and all(k.startswith("module.") for k in state_dict):
            state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
        return self.module.load_state_dict(state_dict, strict)

    def extra_repr(self) -> str:
        return (f"world_size={self.comm.size}, buckets={len(self._buckets)}, "
                f"bucket_cap_mb={self.bucket_cap_mb}, "
                f"find_unused_parameters={self.find_unused_parameters}")
