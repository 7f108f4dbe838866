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

from . import write_clock
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

    def release(self) -> None:
        """Drop what forward saved; a second backward through this node then fails clearly."""
        self.__dict__.clear()
        self.released = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backward>"
