"""``nn.utils.parametrize``, PyTorch's mechanism: ``register_parametrization(module, "weight",
p)`` moves the parameter to ``module.parametrizations.weight.original`` (or ``original0``,
``original1``, ... when ``p.right_inverse`` returns a tuple) and makes ``module.weight`` a
property of a per-module subclass that computes ``p(original)`` on every access, so the
state_dict keys are PyTorch's. Assigning ``module.weight = value`` stores
``p.right_inverse(value)`` in the originals."""
from __future__ import annotations

from ...autograd.grad_mode import no_grad
from ..modules.container import ModuleDict, ModuleList
from ..parameter import Parameter

__all__ = ["register_parametrization", "remove_parametrizations", "is_parametrized",
           "ParametrizationList"]


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and its original(s)."""

    def __init__(self, modules, original):
        super().__init__(modules)
        first = modules[0]
        new = first.right_inverse(original) if hasattr(first, "right_inverse") else original
        self.is_tensor = not isinstance(new, (tuple, list))
        if self.is_tensor:
            with no_grad():
                original.data = new.data
            self.register_parameter("original", original)
        else:
            self.ntensors = len(new)
            for k, value in enumerate(new):
                self.register_parameter(f"original{k}", Parameter(
                    value.detach(), requires_grad=original.requires_grad))

    def right_inverse(self, value):
        """Store ``value`` in the originals through the right inverses, last first."""
        with no_grad():
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    value = module.right_inverse(value)
            if self.is_tensor:
                self.original.data = value.data.astype(self.original.dtype, copy=False)
            else:
                for k, part in enumerate(value):
                    getattr(self, f"original{k}").data = part.data

    def forward(self):
        modules = list(self)
        if self.is_tensor:
            x = modules[0](self.original)
        else:
            x = modules[0](*(getattr(self, f"original{k}") for k in range(self.ntensors)))
        for module in modules[1:]:
            x = module(x)
        return x


def is_parametrized(module, tensor_name=None) -> bool:
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations")
    if parametrizations is None or not isinstance(parametrizations, ModuleDict):
        return False
    return tensor_name is None or tensor_name in parametrizations


def _property(name):
    def get(self):
        return self.parametrizations[name]()

    def set_(self, value):
        self.parametrizations[name].right_inverse(value)
    return property(get, set_)


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Parametrize ``module.<tensor_name>`` by the module ``parametrization``; a second call
    on the same tensor appends to its list. Returns ``module``."""
    if is_parametrized(module, tensor_name):
        module.parametrizations[tensor_name].append(parametrization)
        return module
    original = module._parameters.get(tensor_name)
    if original is None:
        raise ValueError(f"register_parametrization: module {type(module).__name__} has no "
                         f"parameter '{tensor_name}'")
    if not is_parametrized(module):
        cls = type(module)
        module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), {})
        module.parametrizations = ModuleDict()
    del module._parameters[tensor_name]
    module.parametrizations[tensor_name] = ParametrizationList([parametrization], original)
    setattr(type(module), tensor_name, _property(tensor_name))
    return module


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Undo ``register_parametrization``: ``module.<tensor_name>`` becomes a parameter again,
    holding the parametrized value (``leave_parametrized``) or the original."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"remove_parametrizations: module {type(module).__name__} has no "
                         f"parametrization on '{tensor_name}'")
    entry = module.parametrizations[tensor_name]
    if leave_parametrized:
        with no_grad():
            value = Parameter(getattr(module, tensor_name).detach(),
                              requires_grad=entry.original.requires_grad if entry.is_tensor
                              else entry.original0.requires_grad)
    elif entry.is_tensor:
        value = entry.original
    else:
        raise ValueError("remove_parametrizations: leave_parametrized=False needs a "
                         "parametrization with a single original tensor")
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    if not module.parametrizations:
        del module._modules["parametrizations"]
        module.__class__ = type(module).__bases__[0]
    module.register_parameter(tensor_name, value)
    return module
