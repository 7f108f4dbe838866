"""``Function``: one differentiable operation, a node of the define-by-run graph.

An op subclasses :class:`Function` and writes two methods on raw arrays (NumPy or CuPy):

* ``forward(self, *arrays, **options) -> array`` (or a tuple of arrays), saving on ``self``
  only what backward needs;
* ``backward(self, *grad_outputs) -> grad`` (one array, or a tuple with one entry per
  input; ``None`` for inputs that get no gradient).

``Op.apply(*tensors, **options)`` runs forward and, when grad mode is on and an input
requires grad, records the node: the output's ``_ctx`` is the Function, the Function's
``parents`` are the input Tensors and ``clock_at_forward`` the in-place-write clock's value
then (see ``autograd/write_clock.py`` and ``engine.check_saved_inputs``). Gradients of
broadcast inputs are reduced back to the input's shape by the engine, so ``backward`` may
return them in the broadcast shape.
"""
from __future__ import annotations

from . import inplace, write_clock
from .grad_mode import state

_Tensor = None  # deltaflow.tensor.Tensor, bound on the first apply (tensor.py imports autograd)


def _tensor_class():
    global _Tensor
    from ..tensor import Tensor
    _Tensor = Tensor
    return Tensor


def _check_tensors(cls, inputs):
    """Raise the error for an input that is not a Tensor (a NumPy array, a list)."""
    Tensor = _Tensor or _tensor_class()
    for k, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            numpy = type(x).__module__ == "numpy"
            got = f"numpy.{type(x).__name__}" if numpy else type(x).__name__
            fix = "dl.from_numpy(x) or dl.tensor(x)" if numpy else "dl.tensor(x)"
            raise TypeError(f"{cls.op_name()}: argument {k + 1} must be a Tensor, got a {got}; "
                            f"convert it with {fix}") from None


class Function:
    __slots__ = ("parents", "clock_at_forward", "needs_input_grad", "released", "n_outputs",
                 "out_meta", "out_hooks", "trace", "module_path", "__dict__", "__weakref__")

    #: name used in error messages and diagnostics (defaults to the class name, lower-cased)
    name: str = ""

    #: the attributes in which ``forward`` keeps its outputs (``self.out``), by output index;
    #: under ``create_graph`` they are read as this node's output Tensors
    saved_outputs: tuple = ()

    def forward(self, *arrays, **options):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *grad_outputs):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def op_name(cls) -> str:
        return cls.name or cls.__name__.lower()

    @classmethod
    def apply(cls, *inputs, **options):
        make = (_Tensor or _tensor_class())._make
        fn = cls.__new__(cls)
        if state.grad_enabled:
            try:
                needs = tuple([t.requires_grad for t in inputs])
            except AttributeError:
                _check_tensors(cls, inputs)
                raise
            record = True in needs
            fn.needs_input_grad = needs if record else None
        else:
            record = False
            fn.needs_input_grad = None
        try:
            out = fn.forward(*[t.data for t in inputs], **options)
        except (ValueError, TypeError) as err:
            shapes = " and ".join(str(tuple(t.shape)) for t in inputs)
            where = {f"{t.dtype} on {t.device}" for t in inputs}
            extra = f" ({' and '.join(sorted(where))})" if len(where) > 1 else ""
            # shape errors are the user's: hide NumPy's frames; keep them for a TypeError
            kind = ValueError if isinstance(err, ValueError) else TypeError
            raise kind(f"{cls.op_name()}: invalid input with shapes {shapes}{extra}: "
                       f"{err}") from (None if kind is ValueError else err)
        if state.anomaly_enabled:
            from . import anomaly
            anomaly.on_forward(fn, inputs, out)
        if type(out) is tuple:
            outs = tuple(make(o, record, fn if record else None, i)
                         for i, o in enumerate(out))
            if record:
                fn.parents = inputs
                fn.clock_at_forward = write_clock.latest
                fn.n_outputs = len(out)
                fn.out_meta = tuple((o.shape, o.dtype) for o in out)
                fn.out_hooks = None
                fn.released = False
            return outs
        if record:
            fn.parents = inputs
            fn.clock_at_forward = write_clock.latest
            fn.n_outputs = 1
            fn.out_hooks = None
            fn.released = False
            return make(out, True, fn, 0)
        return make(out, False, None, 0)

    def backward_graph(self, *grads):
        """``backward`` on Tensors, recorded so that it can be differentiated again.

        The engine calls this instead of :meth:`backward` under ``create_graph=True``, with
        the output gradients as Tensors and grad mode on. The default runs the op's own
        ``backward`` — one formula for both — on a view of this node whose saved arrays
        are the Tensors they stand for (:meth:`saved_tensors`): then each operator and each
        ``xp.`` call in it records a node, since ``backend.xp_of`` of a Tensor is the
        namespace of differentiable NumPy-named functions. An op whose backward cannot
        run on Tensors (compiled kernels, writes into buffers) overrides this method."""
        view = object.__new__(type(self))
        for slot in ("parents", "clock_at_forward", "needs_input_grad", "n_outputs",
                     "out_meta"):
            setattr(view, slot, getattr(self, slot, None))
        view.released = False
        view.__dict__.update(self.saved_tensors())
        return type(self).backward(view, *grads)

    def saved_tensors(self) -> dict:
        """What forward saved, with each array that is one of its inputs (``self.a = a``)
        replaced by that input Tensor and each one named in :attr:`saved_outputs` by this
        node's output Tensor. Everything else (masks, indices, shapes, derived arrays) is
        kept as it is: a constant of the second backward."""
        Tensor = _Tensor or _tensor_class()
        by_id = {id(t.data): t for t in self.unwritten_inputs() if t is not None}
        outputs = type(self).saved_outputs
        saved = {}
        for key, value in self.__dict__.items():
            if key in outputs:
                saved[key] = Tensor._make(value, True, self, outputs.index(key))
            else:
                saved[key] = by_id.get(id(value), value)
        self.recompute_saved(saved)
        return saved

    def recompute_saved(self, saved: dict) -> None:
        """Under create_graph: replace in ``saved`` the derived values that forward saved
        as arrays (a centred input, a keepdim copy of the output) by their formula on the
        saved Tensors (``xp = xp_of(saved["x"])``), so that they are differentiated too.
        Ops that save only inputs, outputs and piecewise-constant values need nothing."""

    def unwritten_inputs(self) -> list:
        """The input Tensors, None for one written in place since this node was recorded
        (it holds another place in the graph now; what this node saved of it is a copy)."""
        if self.clock_at_forward >= inplace.last_rebase:
            return list(self.parents)
        return [t if inplace.as_of(t, self.clock_at_forward)[0] is t._ctx else None
                for t in self.parents]

    def recompute_backward(self, forward, *grads):
        """A ``backward_graph`` for an op whose backward is a compiled or buffer-writing
        kernel: ``forward(*inputs)`` recomputes the op's outputs from its input Tensors with
        deltaflow's differentiable functions (the op's formula, written out), and the
        gradient is backpropagated through that recorded composition."""
        from .gradients import grad

        inputs = self.unwritten_inputs()
        if any(t is None for t in inputs):
            raise RuntimeError(f"{self.op_name()}: an input was written in place after the "
                               "forward pass; create_graph cannot recompute this op")
        # each input enters through its own Alias node: the gradient taken at the aliases is
        # this op's partial derivative alone, and stays differentiable in the inputs
        inputs = [Alias.apply(t) if t.requires_grad else t for t in inputs]
        outs = forward(*inputs)
        outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
        wanted = [k for k, need in enumerate(self.needs_input_grad) if need]
        live = [k for k, o in enumerate(outs) if o.requires_grad]
        found = grad([outs[k] for k in live], [inputs[k] for k in wanted],
                     [grads[k] for k in live], create_graph=True, allow_unused=True)
        result = [None] * len(inputs)
        for k, g in zip(wanted, found):
            result[k] = g
        return tuple(result)

    def release(self) -> None:
        """Drop what forward saved; a second backward through this node then fails clearly."""
        self.__dict__.clear()
        self.released = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backward>"


class Alias(Function):
    """y = x, a new node on the same array;  ∂y/∂x = 1. Where a recomputed composition
    (:meth:`Function.recompute_backward`) starts, so that its gradient stops there."""

    def forward(self, x):
        return x

    def backward(self, g):
        return g
