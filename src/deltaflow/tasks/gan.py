"""``deltaflow train --task gan``: a generative adversarial network on MNIST.

Each step trains the discriminator D and then the generator G (images scaled to [−1, 1]):

* D step:  L_D = BCE(D(x_real), 1) + BCE(D(G(z).detach()), 0).  ``detach()`` cuts the graph
  at the fake images, so this backward stops at them and G receives no gradient.
* G step:  L_G = BCE(D(G(z)), 1)  (the non-saturating loss). Backprop runs from D's logit
  back through every layer of D (D's weights are not updated in this step) into G:
  ∂L_G/∂θ_G = ∂L_G/∂D · ∂D/∂x_fake · ∂x_fake/∂θ_G. The log records the norm of that
  gradient at G's parameters next to the losses.

``--loss wgan-gp`` trains a Wasserstein GAN with gradient penalty instead (Gulrajani et al.
2017, Algorithm 1; :class:`WGANGPTask`): D is a critic with an unbounded score, and

* critic step (every batch):  L_D = D(x̃) − D(x) + λ (‖∇ₓ̂ D(x̂)‖₂ − 1)²  averaged over the
  batch, with x̃ = G(z) and x̂ = εx + (1−ε)x̃, ε ~ U[0, 1] per image. The penalty is a
  function of a gradient: ``autograd.grad(..., create_graph=True)`` records ∇ₓ̂D(x̂) as a
  graph of its own, and L_D's backward differentiates it again with respect to D's weights
  (:func:`gradient_penalty`);
* generator step (every ``--n-critic``-th batch):  L_G = −D(G(z)).

Its defaults are the paper's: λ = 10, n_critic = 5, Adam(1e-4, β = (0, 0.9)).

The run folder has the layout of every run (``model.safetensors`` holds both networks, as
``generator.*`` and ``discriminator.*``), plus ``samples/epoch_NNN.png`` (an 8×8 grid from
fixed noise, every epoch). With ``--judge``, a deltaflow MLP classifier trained on real
MNIST labels (cached as ``judge.safetensors``) classifies 1000 generated digits; the
results record the classes produced and the mean top-class probability (``deltaflow eval
RUN`` judges a finished run).
"""
from __future__ import annotations

import contextlib
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from .. import io, nn, optim
from ..autograd import grad, no_grad
from ..data import DataLoader, TensorDataset, datasets
from ..models import gan as M
from ..nn import functional as F
from ..random import generator, manual_seed
from ..tensor import Tensor
from ..train import Step, Task, Trainer
from ..train import run_folder as rf
from ..train.checkpoint import load_weights
from .common import nonnegative_float, positive_int, train_loader
from .runner import Setup

NOT_APPLICABLE = ("hidden", "activation", "batchnorm", "dropout", "val_split", "scheduler",
                  "early_stopping", "optimizer", "momentum", "weight_decay", "device")
#: options that may differ when a run is resumed (besides the common ones)
RESUMABLE = ("judge", "judge_epochs")
LOSSES = ("bce", "wgan-gp")
#: defaults that depend on another option's value (cli/train.py applies them like
#: MODEL_DEFAULTS): WGAN-GP's hyper-parameters from Gulrajani et al. 2017
VARIANT_DEFAULTS = {"loss": {"wgan-gp": {"lr": 1e-4, "n_critic": 5}}}


def add_arguments(parser) -> None:
    g = parser.add_argument_group("gan")
    g.add_argument("--data", default="mnist")
    g.add_argument("--model", default="mlp", help="mlp (default) or dcgan")
    g.add_argument("--lr", default=2e-4)
    g.add_argument("--epochs", default=20)
    g.add_argument("--z-dim", type=int, default=64, help="noise dimension (default 64)")
    g.add_argument("--loss", default="bce", choices=LOSSES,
                   help="bce (default: the standard GAN) or wgan-gp (Wasserstein GAN with "
                        "gradient penalty: --lr 1e-4, Adam β = (0, 0.9), --n-critic 5)")
    g.add_argument("--n-critic", type=positive_int, default=1,
                   help="D updates per G update (default 1; wgan-gp 5)")
    g.add_argument("--gp-weight", type=nonnegative_float, default=10.0,
                   help="wgan-gp: λ of the gradient penalty (default 10)")
    g.add_argument("--real-label", type=float, default=0.9,
                   help="bce: target for real images in the D step (one-sided label "
                        "smoothing)")
    g.add_argument("--judge", action="store_true",
                   help="classify 1000 samples with a deltaflow MNIST classifier at the end")
    g.add_argument("--judge-epochs", type=int, default=3,
                   help="epochs for training the judge classifier (default 3)")


def default_name(opts) -> str:
    return f"gan-{opts.model}" if opts.loss == "bce" else f"gan-{opts.model}-{opts.loss}"


def mnist_root(data_dir):
    """The MNIST folder: ``data_dir``, else ``../shared/data`` when it exists, else the
    default lookup of :func:`deltaflow.data.datasets.mnist` (None)."""
    if data_dir:
        return str(Path(data_dir).resolve())
    shared = Path("../shared/data")
    return str(shared.resolve()) if (shared / "mnist").is_dir() else None


def save_png_grid(images: np.ndarray, path, nrow: int = 8, pad: int = 2) -> Path:
    """Write (N, 1, H, W) images in [−1, 1] as one grayscale PNG grid (no dependencies)."""
    n, _, h, w = images.shape
    ncol = math.ceil(n / nrow)
    grid = np.zeros((ncol * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.uint8)
    pixels = np.clip((images[:, 0] + 1) * 127.5, 0, 255).astype(np.uint8)
    for k in range(n):
        r, c = divmod(k, nrow)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + c * (w + pad):pad + c * (w + pad) + w] = pixels[k]
    raw = b"".join(b"\x00" + row.tobytes() for row in grid)

    def chunk(tag, body):
        return (struct.pack(">I", len(body)) + tag + body
                + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))

    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", grid.shape[1], grid.shape[0], 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    path = Path(path)
    with io.atomic_write(path, "wb") as f:
        f.write(png)
    return path


def _grad_norm(module) -> float:
    return math.sqrt(sum(float((p.grad.data.astype(np.float64) ** 2).sum())
                         for p in module.parameters() if p.grad is not None))


def _noise(n, z_dim):
    return Tensor(generator().standard_normal((n, z_dim)).astype(np.float32))


def _bce(logits, value):
    target = Tensor(np.full(logits.shape, value, dtype=np.float32))
    return F.binary_cross_entropy_with_logits(logits, target)


def networks(G, D) -> nn.ModuleDict:
    """The one module a gan run trains and saves: ``generator.*`` and ``discriminator.*``."""
    return nn.ModuleDict({"generator": G, "discriminator": D})


class GANTask(Task):
    """One D update per batch of real images, then a G update on every ``n_critic``-th
    batch (default: every batch) (``model`` holds both
    networks: ``generator`` and ``discriminator``); after each epoch, the grid of
    ``fixed_z``'s images.

    Distributed, G and D are wrapped in a ``DistributedDataParallel`` each (one DDP over
    both could not tell that the D step leaves G without gradients): the D step averages
    D's gradients across ranks, the G step G's; D's gradients in the G step, which no
    update uses, stay local (``D.no_sync()``)."""

    def __init__(self, G, D, z_dim, real_label, samples_dir, n_critic=1):
        self.model = networks(G, D)
        self.G, self.D, self.z_dim, self.real_label = G, D, z_dim, real_label
        self.n_critic = n_critic
        self.fixed_z = _noise(64, z_dim)
        self.samples_dir = Path(samples_dir)

    def generator_turn(self, trainer) -> bool:
        """Whether this batch ends with a G update: every ``n_critic``-th (``trainer.step``
        counts the batches done, checkpoint included, so a resume keeps the rhythm)."""
        return (trainer.step + 1) % self.n_critic == 0

    def optimization_step(self, trainer, batch) -> Step:
        """Returns ``L_D``, mean D(real), mean D(fake), and on G's turns ``L_G`` and
        ‖∂L_G/∂θ_G‖."""
        real = batch[0]
        fake = self.G(_noise(len(real), self.z_dim))
        # D step: the fake batch is detached, so L_D's backward stops at the images
        d_real, d_fake = self.D(real), self.D(fake.detach())
        loss_d = _bce(d_real, self.real_label) + _bce(d_fake, 0.0)
        trainer.update(loss_d, "discriminator")
        metrics = {"loss_d": loss_d.item(), "D_real": float(F.sigmoid(d_real).mean().item()),
                   "D_fake": float(F.sigmoid(d_fake).mean().item())}
        if self.generator_turn(trainer):
            metrics.update(self.generator_step(trainer, fake, lambda score: _bce(score, 1.0)))
        return Step(None, len(real), metrics)

    def generator_step(self, trainer, fake, loss_fn) -> dict:
        """G update on ``loss_fn(D(fake))``: the gradient flows back through D into G (only
        G is updated)."""
        with self.D.no_sync() if hasattr(self.D, "no_sync") else contextlib.nullcontext():
            loss_g = loss_fn(self.D(fake))
            trainer.update(loss_g, "generator")
        return {"loss_g": loss_g.item(), "grad_norm_G": _grad_norm(self.G)}

    def distribute(self, wrap) -> None:
        self.G, self.D = wrap(self.G), wrap(self.D)

    def on_epoch_end(self, trainer, logs):
        if not trainer.is_main:
            return
        G = self.model["generator"]
        G.eval()
        with no_grad():
            grid = G(self.fixed_z).numpy()
        G.train()
        save_png_grid(grid, self.samples_dir / f"epoch_{logs['epoch']:03d}.png")


def gradient_penalty(critic, real, fake, eps):
    """``(P, ‖∇ₓ̂D(x̂)‖₂ per image)`` with P = mean over the batch of (‖∇ₓ̂D(x̂)‖₂ − 1)²
    at x̂ = ε·real + (1−ε)·fake (Gulrajani et al. 2017; ``eps`` of shape (N, 1, 1, 1)).

    ∇ₓ̂D(x̂) is taken with ``create_graph=True``, so P is a function of D's weights that
    backward differentiates again: ∂P/∂θ_D = Σᵢ 2(‖gᵢ‖ − 1) (gᵢ/‖gᵢ‖)ᵀ ∂gᵢ/∂θ_D, a second
    derivative of D. Summing D over the batch gives every image its own gradient, since a
    critic without batch norm scores each image alone."""
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    (g,) = grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norms = g.reshape(len(g), -1).norm(dim=1)
    return ((norms - 1) ** 2).mean(), norms


class WGANGPTask(GANTask):
    """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): one critic update per batch, one
    generator update every ``n_critic`` batches (fresh noise for each)."""

    def __init__(self, G, D, z_dim, samples_dir, n_critic=5, gp_weight=10.0):
        super().__init__(G, D, z_dim, None, samples_dir, n_critic)
        self.gp_weight = gp_weight

    def optimization_step(self, trainer, batch) -> Step:
        """Returns ``L_D`` (penalty included), the critic's Wasserstein estimate
        E[D(x)] − E[D(x̃)], the penalty P and the mean ‖∇ₓ̂D(x̂)‖; on G's turns ``L_G`` and
        ‖∂L_G/∂θ_G‖."""
        real = batch[0]
        with no_grad():     # the critic step needs no graph through G
            fake = self.G(_noise(len(real), self.z_dim))
        eps = Tensor(generator().random((len(real), 1, 1, 1)).astype(real.data.dtype))
        d_real, d_fake = self.D(real).mean(), self.D(fake).mean()
        penalty, norms = gradient_penalty(self.D, real, fake, eps)
        loss_d = d_fake - d_real + self.gp_weight * penalty
        trainer.update(loss_d, "discriminator")
        metrics = {"loss_d": loss_d.item(), "wasserstein": (d_real - d_fake).item(),
                   "gp": penalty.item(), "grad_norm_x": float(norms.mean().item())}
        if self.generator_turn(trainer):
            fake = self.G(_noise(len(real), self.z_dim))
            metrics.update(self.generator_step(trainer, fake, lambda score: -score.mean()))
        return Step(None, len(real), metrics)


def train_judge(x, y, epochs=3, batch_size=128, seed=0):
    """An MLP 784 → 256 → 10 trained by the Trainer on real labelled digits (x in [0, 1])."""
    manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    trainer = Trainer(model, optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss(),
                      metrics=(), progress=False, distributed=False)
    trainer.fit(DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                           generator=seed), epochs=epochs)
    return model


def judge_samples(judge, images01) -> dict:
    """Class histogram and confidence of the judge on generated images in [0, 1]."""
    judge.eval()
    with no_grad():
        probs = F.softmax(judge(Tensor(images01)), dim=1).numpy()
    top = probs.argmax(axis=1)
    counts = np.bincount(top, minlength=10)
    return {"classes_produced": int((counts > 0).sum()),
            "classes_with_at_least_2pct": int((counts >= 0.02 * len(top)).sum()),
            "class_counts": counts.tolist(),
            "mean_top_probability": float(probs.max(axis=1).mean()),
            "n_samples": int(len(top))}


def setup(opts) -> Setup:
    if opts.data != "mnist":
        raise ValueError(f"gan: --data must be mnist (the IDX files, folder via --data-dir), "
                         f"got {opts.data!r}")
    data = datasets.mnist(mnist_root(opts.data_dir), flatten=False)
    real = data.train.tensors[0].numpy() * 2 - 1
    wgan = opts.loss == "wgan-gp"
    G, D = M.build(opts.model, opts.z_dim, critic=wgan)
    betas = (0.0, 0.9) if wgan else (0.5, 0.999)
    opt_g = optim.Adam(G.parameters(), lr=opts.lr, betas=betas)
    opt_d = optim.Adam(D.parameters(), lr=opts.lr, betas=betas)
    samples = Path(opts.run_dir) / "samples"
    task = (WGANGPTask(G, D, opts.z_dim, samples, opts.n_critic, opts.gp_weight) if wgan
            else GANTask(G, D, opts.z_dim, opts.real_label, samples, opts.n_critic))
    loader = train_loader(TensorDataset(real), opts.batch_size, opts.seed, drop_last=True)
    meta = {"task": "gan", "model": opts.model, "loss": opts.loss, "data": "mnist",
            "data_dir": mnist_root(opts.data_dir), "z_dim": opts.z_dim}

    def finish(trainer):
        if not opts.judge or not trainer.is_main:   # the judge runs on rank 0 only
            return {}, {}
        result = judge(Path(opts.run_dir), G, opts.z_dim, data, opts.judge_epochs)
        return result, {"judge": _judge_line(result)}

    return Setup(task, {"discriminator": opt_d, "generator": opt_g}, loader, None, meta,
                 finish, summary={"data": f"mnist: {len(real)} training images",
                                  "model": f"{opts.model} ({opts.loss}), G "
                                           f"{sum(p.numel() for p in G.parameters()):,} / D "
                                           f"{sum(p.numel() for p in D.parameters()):,}"})


def _judge_line(result) -> str:
    return (f"{result['classes_produced']} of 10 classes produced, mean top-class probability "
            f"{result['mean_top_probability']:.3f}, counts {result['class_counts']}")


def judge(run_dir, G, z_dim, data, epochs) -> dict:
    """Classify 1000 samples of ``G`` with the judge (trained once per run folder)."""
    x01, labels = data.train.tensors[0].numpy(), data.train.tensors[1].numpy()
    judge_model = _judge_model(run_dir, x01, labels, data, epochs)
    G.eval()
    with no_grad():
        samples = G(_noise(1000, z_dim)).numpy()
    return judge_samples(judge_model, (samples + 1) / 2)


def build_networks(meta):
    """``(G, D)`` of a run's ``model.json``: its architecture, with the WGAN-GP critic
    when it was trained with ``--loss wgan-gp`` (runs before that option are bce)."""
    return M.build(meta["model"], meta["z_dim"], critic=meta.get("loss") == "wgan-gp")


def load_trained(path):
    """``(generator in eval mode, meta, run folder)`` of a trained gan run."""
    run_dir, weights, meta = rf.open_trained(path, "gan")
    G, D = build_networks(meta)
    load_weights(networks(G, D), weights)
    G.eval()
    return G, meta, run_dir


def _judge_model(out, x01, labels, data, epochs):
    """The judge classifier: loaded from ``out/judge.safetensors`` or trained and saved."""
    path = out / "judge.safetensors"
    if path.exists():
        judge = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        load_weights(judge, path)
        return judge
    judge = train_judge(x01, labels, epochs)
    tx, ty = data.test.tensors[0].numpy(), data.test.tensors[1].numpy()
    judge.eval()
    with no_grad():
        acc = float((judge(Tensor(tx)).numpy().argmax(1) == ty).mean())
    print(f"judge: MLP classifier test accuracy {acc:.4f}")
    io.save_json({"test_accuracy": acc, "epochs": epochs}, out / "judge_classifier.json")
    io.save(judge.state_dict(), path)
    return judge


__all__ = ["GANTask", "WGANGPTask", "add_arguments", "build_networks", "gradient_penalty",
           "judge", "judge_samples", "save_png_grid", "setup", "train_judge"]
