"""The textbook two-layer sigmoid network, done right -- and checked against autograd.

The classic example: a 3→4→2 sigmoid network, inputs
``X = [[0.5, 0.1, 0.2], [0.3, 0.4, 0.6]]`` (one sample per row), targets
``Y = [[1, 0], [0, 1]]``, squared-error loss ``L = ½ Σ (a⁽ᴸ⁾ − y)²``, learning rate 0.1. As
usually printed, its backward pass uses ``z1`` and ``z2`` that the forward pass never
computed, so it crashes. Here the forward pass caches every ``z⁽ˡ⁾`` and ``a⁽ˡ⁾``, and the
algorithm is written for any number of layers (rows are samples, so ``z = a W + b``):

    forward    z⁽ˡ⁾ = a⁽ˡ⁻¹⁾ W⁽ˡ⁾ + b⁽ˡ⁾,   a⁽ˡ⁾ = σ(z⁽ˡ⁾),   a⁽⁰⁾ = X
    output     δ⁽ᴸ⁾ = (a⁽ᴸ⁾ − y) ⊙ σ′(z⁽ᴸ⁾)
    hidden     δ⁽ˡ⁾ = (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾ᵀ) ⊙ σ′(z⁽ˡ⁾)
    gradients  ∇W⁽ˡ⁾ = a⁽ˡ⁻¹⁾ᵀ δ⁽ˡ⁾,   ∇b⁽ˡ⁾ = Σ_samples δ⁽ˡ⁾
    update     W⁽ˡ⁾ ← W⁽ˡ⁾ − η ∇W⁽ˡ⁾,   b⁽ˡ⁾ ← b⁽ˡ⁾ − η ∇b⁽ˡ⁾

It trains the network to convergence and shows, at the first step and after training,
that deltaflow's autograd (``loss.backward()``) gives the same gradients to 1e-12 in
float64.

    python examples/two_layer_network.py                 # the 3→4→2 network
    python examples/two_layer_network.py --sizes 3,5,4,2 # any number of layers
"""
from __future__ import annotations

import argparse

import numpy as np

X = np.array([[0.5, 0.1, 0.2],
              [0.3, 0.4, 0.6]])
Y = np.array([[1.0, 0.0],
              [0.0, 1.0]])
SIZES = (3, 4, 2)
LR = 0.1


def init_params(sizes=SIZES, seed=0):
    """W⁽ˡ⁾ ~ N(0, 1) of shape (n_{l-1}, n_l), b⁽ˡ⁾ = 0 of shape (1, n_l)."""
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((n_in, n_out)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros((1, n_out)) for n_out in sizes[1:]]
    return Ws, bs


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    s = sigmoid(z)
    return s * (1.0 - s)


def forward(Ws, bs, X):
    """Return the cached pre-activations ``zs`` and activations ``activations`` (a⁽⁰⁾ = X)."""
    zs, activations = [], [X]
    for W, b in zip(Ws, bs):
        z = activations[-1] @ W + b
        zs.append(z)
        activations.append(sigmoid(z))
    return zs, activations


def loss(a_out, Y):
    """L = ½ Σ (a⁽ᴸ⁾ − y)², summed over samples and outputs."""
    return 0.5 * float(np.sum((a_out - Y) ** 2))


def backward(Ws, zs, activations, Y):
    """Return the error signals ``deltas`` and gradients ``grads_W``, ``grads_b`` per layer."""
    L = len(Ws)
    deltas = [None] * L
    deltas[L - 1] = (activations[L] - Y) * sigmoid_prime(zs[L - 1])
    for l in range(L - 2, -1, -1):
        deltas[l] = (deltas[l + 1] @ Ws[l + 1].T) * sigmoid_prime(zs[l])
    grads_W = [activations[l].T @ deltas[l] for l in range(L)]
    grads_b = [deltas[l].sum(axis=0, keepdims=True) for l in range(L)]
    return deltas, grads_W, grads_b


def update(Ws, bs, grads_W, grads_b, lr=LR):
    """Plain gradient descent: θ ← θ − η ∇θ (returns new lists)."""
    return ([W - lr * gW for W, gW in zip(Ws, grads_W)],
            [b - lr * gb for b, gb in zip(bs, grads_b)])


def train(Ws, bs, X=X, Y=Y, lr=LR, tol=1e-3, max_epochs=200_000, log_every=0):
    """Gradient descent until the loss falls below ``tol`` (at most ``max_epochs`` updates);
    returns (Ws, bs, history of the loss before each update and at the end)."""
    history = []
    for epoch in range(max_epochs + 1):
        zs, activations = forward(Ws, bs, X)
        value = loss(activations[-1], Y)
        history.append(value)
        if log_every and epoch % log_every == 0:
            print(f"  epoch {epoch:6d}  loss {value:.6f}")
        if value < tol or epoch == max_epochs:
            break
        _, grads_W, grads_b = backward(Ws, zs, activations, Y)
        Ws, bs = update(Ws, bs, grads_W, grads_b, lr)
    return Ws, bs, history


def autograd_gradients(Ws, bs, X=X, Y=Y):
    """The same network in deltaflow (float64): ``loss.backward()`` gives ∇W, ∇b."""
    import deltaflow as dl

    W_t = [dl.tensor(W, requires_grad=True) for W in Ws]
    b_t = [dl.tensor(b, requires_grad=True) for b in bs]
    a = dl.tensor(X)
    for W, b in zip(W_t, b_t):
        a = dl.sigmoid(a @ W + b)
    value = 0.5 * ((a - dl.tensor(Y)) ** 2).sum()
    value.backward()
    return value.item(), [W.grad.numpy() for W in W_t], [b.grad.numpy() for b in b_t]


def max_difference(Ws, bs, X=X, Y=Y):
    """Largest |hand-written − autograd| over every gradient entry and the loss."""
    zs, activations = forward(Ws, bs, X)
    _, gW, gb = backward(Ws, zs, activations, Y)
    value, aW, ab = autograd_gradients(Ws, bs, X, Y)
    diffs = [abs(value - loss(activations[-1], Y))]
    diffs += [float(np.max(np.abs(g - a))) for g, a in zip(gW + gb, aW + ab)]
    return max(diffs)


def _show(name, array):
    body = np.array2string(array, precision=6, suppress_small=False, separator=", ",
                           prefix=" " * 21)
    print(f"  {name:<9} {str(array.shape):<8} {body}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="3,4,2", help="layer widths, e.g. 3,5,4,2")
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--tol", type=float, default=1e-3, help="stop when the loss is below")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=2000, help="print the loss every N epochs")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    if sizes[0] != X.shape[1] or sizes[-1] != Y.shape[1]:
        parser.error(f"--sizes must start with {X.shape[1]} and end with {Y.shape[1]}")
    np.set_printoptions(linewidth=100)

    Ws, bs = init_params(sizes, args.seed)
    zs, activations = forward(Ws, bs, X)
    deltas, grads_W, grads_b = backward(Ws, zs, activations, Y)
    print(f"network {'→'.join(map(str, sizes))}, sigmoid, L = ½Σ(a−y)², η = {args.lr}")
    print(f"step 0: loss {loss(activations[-1], Y):.6f}")
    for l in range(len(Ws)):
        print(f" layer {l + 1}")
        _show("z", zs[l])
        _show("a", activations[l + 1])
        _show("δ", deltas[l])
        _show("∇W", grads_W[l])
        _show("∇b", grads_b[l])
    print(f"max |hand-written − autograd| at step 0: {max_difference(Ws, bs):.3g}")

    print("training:")
    Ws, bs, history = train(Ws, bs, lr=args.lr, tol=args.tol,
                            log_every=args.log_every)
    zs, activations = forward(Ws, bs, X)
    print(f"converged after {len(history) - 1} epochs: loss {history[-1]:.6f}")
    _show("output", activations[-1])
    _show("target", Y)
    print(f"max |hand-written − autograd| after training: {max_difference(Ws, bs):.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
