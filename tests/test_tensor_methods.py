"""Tensor's methods and operators are declared on the class (TensorMethods), with
signatures and docstrings that help() and IDEs show, not attached at import."""
import inspect

import deltaflow as dl
from deltaflow import functional as F
from deltaflow.tensor_methods import TensorMethods


def _declared():
    return {name: value for name, value in vars(TensorMethods).items()
            if callable(value) or isinstance(value, property)}


def test_tensor_inherits_the_declared_methods():
    assert TensorMethods in dl.Tensor.__mro__
    for name, value in _declared().items():
        assert getattr(dl.Tensor, name) is value, name


def test_every_method_has_a_signature_and_a_docstring():
    for name, value in _declared().items():
        if name == "__hash__":
            continue
        fn = value.fget if isinstance(value, property) else value
        assert fn.__doc__ and fn.__doc__.strip(), f"Tensor.{name} has no docstring"
        assert next(iter(inspect.signature(fn).parameters)) == "self", name
    assert list(inspect.signature(dl.Tensor.sum).parameters) == ["self", "dim", "keepdim",
                                                                 "dtype"]


def test_each_method_calls_its_functional():
    x = dl.tensor([[1.0, -2.0], [3.0, 4.0]])
    for method, fn in [(x.sum(dim=1), F.sum(x, 1)), (x + 1, F.add(x, 1)),
                       (x.reshape(4), F.reshape(x, 4)), (x @ x, F.matmul(x, x)),
                       (x.T, F.permute(x, 1, 0)), (-x, F.neg(x)), (x[1], F.getitem(x, 1))]:
        assert method.tolist() == fn.tolist()


def test_every_method_is_defined_in_its_class_body():
    """Nothing is attached from outside (a function set by another module would carry that
    module's name and qualname)."""
    for cls in (dl.Tensor, TensorMethods):
        for name, value in vars(cls).items():
            fn = value.fget if isinstance(value, property) else value
            if inspect.isfunction(fn):
                assert fn.__module__ == cls.__module__, name
                assert fn.__qualname__.split(".")[0] == cls.__name__, name
