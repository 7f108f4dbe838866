"""``einsum``: a sum of products over named subscripts, and its equation.

``parse`` reads PyTorch's equation (``"bij,bjk->bik"``, implicit output, ``...``) for the
operands' shapes and writes it out with one letter per dim (``...`` replaced by letters
unused elsewhere, output given), the form :class:`Einsum` works with.
"""
from __future__ import annotations

import math
import string

from ..autograd.function import Function
from ..backend import xp_of

LETTERS = string.ascii_uppercase + string.ascii_lowercase  # in ASCII order, as labels sort


def parse(equation, shapes):
    """``(input subscripts, output subscripts, size of each letter)`` of ``equation`` for
    operands of ``shapes``, every dim named by a letter; errors read as PyTorch's."""
    def fail(message):
        raise ValueError(f"einsum(): {message}")

    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    for at, char in [*enumerate(lhs), *enumerate(rhs, len(lhs) + 2)]:
        if char not in LETTERS + (".," if at < len(lhs) else "."):
            fail(f"invalid subscript given at index {at} in the equation string, subscripts "
                 "must be in [a-zA-Z]")
    if len(terms) != len(shapes):
        fail(f"{'more' if len(shapes) > len(terms) else 'fewer'} operands were provided than "
             "specified in the equation")
    ellipsis_letters = ""
    if "." in eq:
        unused = [c for c in LETTERS if c not in eq]
        ellipsis_ndim = max((len(s) - len(t) + 3 for t, s in zip(terms, shapes) if "..." in t),
                            default=0)
        ellipsis_letters = "".join(unused[:max(ellipsis_ndim, 0)])

    def expand(term, who, ndim=None):
        dots = term.count(".")
        if dots and (dots != 3 or "..." not in term):
            fail(f"found '.' for {who} for which an ellipsis was already found" if "..." in term
                 else f"found '.' for {who} that is not part of any ellipsis")
        if "..." not in term:
            if ndim is not None and len(term) != ndim:
                fail(f"the number of subscripts in the equation ({len(term)}) does not match "
                     f"the number of dimensions ({ndim}) for {who} and no ellipsis was given")
            return term
        n = len(ellipsis_letters) if ndim is None else ndim - (len(term) - 3)
        if n < 0:
            fail(f"the number of subscripts in the equation ({len(term) - 3}) is more than the "
                 f"number of dimensions ({ndim}) for {who}")
        return term.replace("...", ellipsis_letters[len(ellipsis_letters) - n:])

    inputs = [expand(t, f"operand {k}", len(s)) for k, (t, s) in enumerate(zip(terms, shapes))]
    sizes = {}
    for k, (subs, shape) in enumerate(zip(inputs, shapes)):
        own = {}
        for letter, n in zip(subs, shape):
            if letter in own:
                if own[letter] != n:
                    fail(f"subscript {letter} is repeated for operand {k} but the sizes don't "
                         f"match, {n} != {own[letter]}")
                continue
            own[letter] = n
            seen = sizes.get(letter, n)
            if seen != n and 1 not in (seen, n):
                fail(f"subscript {letter} has size {n} for operand {k} which does not "
                     f"broadcast with previously seen size {seen}")
            sizes[letter] = n if seen == 1 else seen
    if arrow:
        output = expand(rhs, "the output")
        for letter in output:
            if output.count(letter) > 1:
                fail(f"output subscript {letter} appears more than once in the output")
            if letter not in sizes:
                fail(f"output subscript {letter} does not appear in the equation for any "
                     "input operand")
    else:
        counts = "".join(inputs)
        output = ellipsis_letters + "".join(sorted(c for c in set(counts) if counts.count(c) == 1
                                                   and c not in ellipsis_letters))
    return inputs, output, sizes


def broadcast(xp, array, subscripts, sizes):
    """``array`` stretched (a view) along its size-1 dims to the size of their letter."""
    shape = tuple(sizes[letter] for letter in subscripts)
    return array if array.shape == shape else xp.broadcast_to(array, shape)


class Einsum(Function):
    """z[out] = Σ over the other letters of Πₖ aₖ[subsₖ];
    ∂L/∂aₖ = the einsum of ∂L/∂z with the other operands, to subsₖ's letters (stretched
    along letters that only aₖ has; placed on the diagonal where subsₖ repeats a letter).
    Size-1 dims are stretched (views) to their letter's size; the engine sums them back."""

    def forward(self, *operands, inputs, output, sizes):
        xp = xp_of(operands[0])
        self.operands = [broadcast(xp, a, s, sizes) for a, s in zip(operands, inputs)]
        self.inputs, self.output, self.sizes = inputs, output, sizes
        return contract(xp, inputs, output, self.operands)

    def recompute_saved(self, saved):
        """Under create_graph the stretched operands are views of the input Tensors."""
        inputs = self.unwritten_inputs()
        xp = xp_of(inputs[0])
        saved["operands"] = [broadcast(xp, t, s, self.sizes) for t, s in zip(inputs,
                                                                            self.inputs)]

    def backward(self, g):
        xp = xp_of(g)
        grads = []
        for k, need in enumerate(self.needs_input_grad):
            grads.append(self.operand_grad(xp, g, k) if need else None)
        return tuple(grads)

    def operand_grad(self, xp, g, k):
        subs = self.inputs[k]
        others = [(s, a) for j, (s, a) in enumerate(zip(self.inputs, self.operands)) if j != k]
        present = set(self.output).union(*(s for s, _ in others))
        letters = "".join(dict.fromkeys(subs))               # each of aₖ's letters once
        found = "".join(c for c in letters if c in present)
        grad = contract(xp, [self.output] + [s for s, _ in others], found,
                        [g] + [a for _, a in others])
        if found != letters:                                 # letters summed in aₖ alone
            grad = grad.reshape([self.sizes[c] if c in found else 1 for c in letters])
            grad = xp.broadcast_to(grad, [self.sizes[c] for c in letters])
        if letters != subs:                                  # repeated letters: a diagonal
            grad = on_diagonal(xp, grad, letters, subs, self.sizes)
        return grad


def contract(xp, inputs, output, arrays):
    """The einsum of ``arrays`` with these subscripts: two operands without repeated letters
    as one batched matmul (``contract_pair``), else ``xp.einsum`` (with NumPy's path
    optimisation for three or more)."""
    if len(arrays) == 2 and all(len(set(s)) == len(s) for s in inputs):
        return contract_pair(xp, *inputs, output, *arrays)
    return xp.einsum(",".join(inputs) + "->" + output, *arrays, optimize=len(arrays) > 2)


def contract_pair(xp, sa, sb, output, a, b):
    """z[output] = Σ a[sa]·b[sb] as (batch, kept of a, summed) @ (batch, summed, kept of b):
    one GEMM per batch entry, where NumPy's einsum loops in C for batched contractions."""
    a, sa = sum_alone(xp, a, sa, sb + output)
    b, sb = sum_alone(xp, b, sb, sa + output)
    batch = [c for c in sa if c in sb and c in output]
    summed = [c for c in sa if c in sb and c not in output]
    left = [c for c in sa if c not in sb]
    right = [c for c in sb if c not in sa]
    size = {**dict(zip(sa, a.shape)), **dict(zip(sb, b.shape))}

    def flat(array, subs, *groups):
        order = [c for group in groups for c in group]
        return xp.transpose(array, [subs.index(c) for c in order]).reshape(
            [math.prod(size[c] for c in group) for group in groups])

    z = xp.matmul(flat(a, sa, batch, left, summed), flat(b, sb, batch, summed, right))
    order = batch + left + right
    z = z.reshape([size[c] for c in order])
    return xp.transpose(z, [order.index(c) for c in output])


def sum_alone(xp, array, subs, keep):
    """``array`` summed over its letters that are not in ``keep``, and its remaining ones."""
    axes = tuple(i for i, c in enumerate(subs) if c not in keep)
    if not axes:
        return array, subs
    return xp.sum(array, axis=axes), "".join(c for c in subs if c in keep)


def on_diagonal(xp, grad, letters, subscripts, sizes):
    """``grad`` (one dim per distinct letter) placed where ``subscripts`` repeats a letter:
    each repeat gets a fresh letter tied to the first by an identity matrix."""
    unused = iter(c for c in LETTERS if c not in subscripts)
    fresh, eyes = "", []
    for at, letter in enumerate(subscripts):
        if letter in subscripts[:at]:
            twin = next(unused)
            fresh += twin
            eyes.append((letter + twin, xp.eye(sizes[letter], dtype=grad.dtype)))
        else:
            fresh += letter
    return contract(xp, [letters] + [s for s, _ in eyes], fresh, [grad] + [e for _, e in eyes])

