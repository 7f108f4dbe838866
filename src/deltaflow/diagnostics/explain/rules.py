"""How explain writes one recorded op as a textbook equation, and recomputes it.

A :class:`Rule` turns an :class:`~.graph.OpRecord` into quantities:

* ``forward(r, n)`` -- the op's parameters and its output, the output's equation recomputed
  with plain NumPy from the printed input and parameters and checked against deltaflow's
  forward value;
* ``input_grad(r, n)`` -- ``(template, fn)``: ∂L/∂input written in terms of ``{g}``, the
  gradient of the op's output, and ``fn(g)`` computing it in NumPy (None: explain has no
  textbook form for this op);
* ``backward(r, n)`` -- the parameters' gradients from the printed δ and input, checked
  against autograd.

The base :class:`Rule` is what explain does for an op it has no equation for: it shows the
values and autograd's gradients, marked as not recomputed. :func:`rule_for` picks the rule
of a Function class name from :mod:`.dense`, :mod:`.conv` and :mod:`.recurrent`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .record import Check, Quantity

SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def sup(k) -> str:
    """Layer superscript: 2 → ⁽²⁾."""
    return f"⁽{str(k).translate(SUP)}⁾"


def sub(k) -> str:
    return str(k).translate(SUB)


@dataclass
class Names:
    """The symbols of one op inside layer ``index``."""

    index: int
    inp: str            # the data input: a⁽¹⁾
    out: str            # the output: z⁽²⁾
    g_out: str          # ∂L/∂output: δ⁽²⁾

    @property
    def s(self) -> str:
        return sup(self.index)


def unchecked_note(r) -> str:
    where = f" ({r.module})" if r.module else ""
    return f"autograd only: explain has no textbook equation for op {r.kind}{where}"


def paren(text) -> str:
    """``text`` as a factor: parenthesised unless it is one symbol."""
    return f"({text})" if " " in text else text


class Rule:
    """An op explain has no textbook equation for: values and autograd only."""

    #: parent position -> symbol stem ("W", "b"); other parameters use their own name
    param_symbols: dict = {}
    #: an elementwise map a = f(z) whose backward is g ⊙ f′(z): merged into δ's line
    elementwise = False
    #: the symbol and gradient symbol of a parameterised op's output
    out_stem, grad_stem = "z", "δ"

    def supported(self, r) -> str | None:
        """None, or why this op's options put it outside the textbook form."""
        return None

    def symbol(self, r, k, n) -> str:
        stem = self.param_symbols.get(k)
        if stem is None:
            stem = r.param_names.get(k, f"θ{k}").rsplit(".", 1)[-1]
        return f"{stem}{n.s}"

    def params(self, r, n) -> list:
        """A quantity for the value of each parameter input."""
        return [Quantity(self.symbol(r, k, n), f"{self.symbol(r, k, n)}  ({r.param_names[k]})",
                         r.values[k]) for k in sorted(r.param_names)]

    def forward(self, r, n) -> list:
        op = r.fn.op_name() if hasattr(r.fn, "op_name") else r.kind
        return self.params(r, n) + [Quantity(n.out, f"{n.out} = {op}({n.inp})", r.y,
                                             note=unchecked_note(r))]

    def input_grad(self, r, n):
        return None

    def backward(self, r, n) -> list:
        out = []
        for k in sorted(r.param_names):
            if r.grads[k] is None:
                continue
            sym = self.symbol(r, k, n)
            out.append(Quantity(f"∇{sym}", f"∇{sym} = ∂L/∂{sym}", r.grads[k],
                                note=unchecked_note(r)))
        return out

    # helpers for the rules
    def checked(self, symbol, equation, value, recomputed, against="autograd", note=""):
        return Quantity(symbol, equation, value, Check.of(recomputed, value, against), note)

    def param_grad(self, r, k, n, equation, recomputed) -> Quantity | None:
        """∇ of parent ``k``: checked, unless the parameter also feeds other ops (then
        autograd's ∇ is the sum over every use and this op's share is not shown alone)."""
        if r.grads[k] is None:
            return None
        sym = self.symbol(r, k, n)
        if k in r.shared_params:
            return Quantity(f"∇{sym}", f"∇{sym} = ∂L/∂{sym}", r.grads[k],
                            note=f"{r.param_names[k]} is used by several ops: autograd's ∇ "
                                 "is the sum of every use, this op's share is not checked")
        return self.checked(f"∇{sym}", f"∇{sym} = {equation}", r.grads[k], recomputed)


_RULES = None


def rule_for(r) -> Rule:
    """The rule of a record's op (the base rule when explain has none, or when the op's
    options are outside the textbook form: then ``r.unsupported`` says why)."""
    global _RULES
    if _RULES is None:
        from . import conv, dense, recurrent
        _RULES = {**dense.RULES, **conv.RULES, **recurrent.RULES}
    rule = _RULES.get(r.kind)
    if rule is None:
        return Rule()
    why = rule.supported(r)
    if why:
        r.unsupported = why
        return Rule()
    return rule


__all__ = ["Names", "Rule", "paren", "rule_for", "sub", "sup", "unchecked_note"]
