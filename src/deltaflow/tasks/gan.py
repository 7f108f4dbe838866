"""``deltaflow train --task gan``: a generative adversarial network on MNIST.

Each step trains the discriminator D and then the generator G (images scaled to [−1, 1]):

* D step:  L_D = BCE(D(x_real), 1) + BCE(D(G(z).detach()), 0).  ``detach()`` cuts the graph
  at the fake images, so this backward stops at them and G receives no gradient.
* G step:  L_G = BCE(D(G(z)), 1)  (the non-saturating loss). Backprop runs from D's logit
  back through every layer of D (D's weights are not updated in this step) into G:
  ∂L_G/∂θ_G = ∂L_G/∂D · ∂D/∂x_fake · ∂x_fake/∂θ_G. The log records the norm of that
  gradient at G's parameters next to the losses.

The run folder (``--out``/``--name``, as for every run) gets ``samples/epoch_NNN.png`` (an
8×8 grid from fixed noise, every epoch), ``generator.safetensors``,
``discriminator.safetensors``, ``config.json``, ``metrics.jsonl``, ``result.json``. With
``--judge``, a deltaflow MLP classifier trained on real MNIST labels (cached as
``judge.safetensors``) classifies 1000 generated digits: ``judge.json`` records the classes
produced and the mean top-class probability; ``--judge-run RUN`` does the same for the
generator of an earlier run.
"""
from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from .. import nn, optim
from ..autograd import no_grad
from ..data import datasets
from ..models import gan as M
from ..nn import functional as F
from ..random import generator, manual_seed
from ..tensor import Tensor
from ..train import checkpoint as ckpt
from .charlm import Budget, run_folder


def add_arguments(parser) -> None:
    g = parser.add_argument_group("gan")
    g.add_argument("--z-dim", type=int, default=64, help="noise dimension (default 64)")
    g.add_argument("--max-minutes", type=float, default=None,
                   help="stop training after this much wall time")
    g.add_argument("--max-cpu-minutes", type=float, default=None,
                   help="stop training after this much CPU time of this process (a fair "
                        "budget on a shared machine)")
    g.add_argument("--real-label", type=float, default=0.9,
                   help="target for real images in the D step (one-sided label smoothing)")
    g.add_argument("--judge", action="store_true",
                   help="classify 1000 samples with a deltaflow MNIST classifier at the end")
    g.add_argument("--judge-run", metavar="RUN", default=None,
                   help="do not train: judge the generator of the earlier gan run RUN")
    g.add_argument("--judge-epochs", type=int, default=3,
                   help="epochs for training the judge classifier (default 3)")


def _mnist_root(args):
    """The MNIST folder: ``--data-dir``, else ``../shared/data`` when it exists, else the
    default lookup of :func:`deltaflow.data.datasets.mnist`."""
    data = getattr(args, "data", None)
    if data not in (None, "mnist"):
        raise ValueError(f"gan: --data must be mnist (the IDX files, folder via --data-dir), "
                         f"got {data!r}")
    if getattr(args, "data_dir", None):
        return args.data_dir
    return "../shared/data" if Path("../shared/data/mnist").is_dir() else None


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
    ckpt._atomic_write(path, lambda tmp: Path(tmp).write_bytes(png))
    return path


def _grad_norm(module) -> float:
    return math.sqrt(sum(float((p.grad.data.astype(np.float64) ** 2).sum())
                         for p in module.parameters() if p.grad is not None))


def _noise(n, z_dim):
    return Tensor(generator().standard_normal((n, z_dim)).astype(np.float32))


def _bce(logits, value):
    target = Tensor(np.full(logits.shape, value, dtype=np.float32))
    return F.binary_cross_entropy_with_logits(logits, target)


def adversarial_step(G, D, opt_g, opt_d, real, z_dim, real_label=1.0):
    """One D update then one G update on a batch of real images; returns
    ``[L_D, L_G, mean D(real), mean D(fake), ‖∂L_G/∂θ_G‖]``."""
    fake = G(_noise(len(real), z_dim))
    # D step: the fake batch is detached, so L_D's backward stops at the images
    d_real, d_fake = D(real), D(fake.detach())
    loss_d = _bce(d_real, real_label) + _bce(d_fake, 0.0)
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    # G step: L_G's gradient flows back through D into G (only G is updated)
    loss_g = _bce(D(fake), 1.0)
    opt_g.zero_grad()
    loss_g.backward()
    g_norm = _grad_norm(G)
    opt_g.step()
    return np.array([loss_d.item(), loss_g.item(), float(F.sigmoid(d_real).mean().item()),
                     float(F.sigmoid(d_fake).mean().item()), g_norm])


def train_judge(x, y, epochs=3, batch_size=128, seed=0):
    """An MLP 784 → 256 → 10 trained with deltaflow on real labelled digits (x in [0, 1])."""
    manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for s in range(0, len(x), batch_size):
            idx = order[s:s + batch_size]
            loss = F.cross_entropy(model(Tensor(x[idx])), Tensor(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
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


def run(args) -> int:
    if getattr(args, "judge_run", None):
        return judge_run(args)
    arch = args.model or "mlp"
    seed = getattr(args, "seed", None)
    seed = 0 if seed is None else seed
    data = datasets.mnist(_mnist_root(args), flatten=False)
    real_all = data.train.tensors[0].numpy() * 2 - 1
    manual_seed(seed)
    G, D = M.build(arch, args.z_dim)
    lr = getattr(args, "lr", None) or 2e-4
    B = getattr(args, "batch_size", None) or 64
    epochs = getattr(args, "epochs", None) or 20
    opt_g = optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    out = run_folder(args, "gan", arch)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    config = {"task": "gan", "model": arch, "z_dim": args.z_dim, "lr": lr, "batch_size": B,
              "seed": seed, "real_label": args.real_label}
    ckpt.write_json(out / "config.json", config)
    fixed_z = _noise(64, args.z_dim)
    rng = np.random.default_rng(seed)
    budget = Budget(args.max_minutes, args.max_cpu_minutes)
    step = 0
    log = open(out / "metrics.jsonl", "a", encoding="utf-8")
    print(f"gan: {arch}, G {sum(p.numel() for p in G.parameters())} / "
          f"D {sum(p.numel() for p in D.parameters())} parameters, batch {B}, lr {lr}")
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(real_all))
        sums = np.zeros(5)
        n = 0
        for s in range(0, len(order) - B + 1, B):
            if budget.spent():
                break
            real = Tensor(real_all[order[s:s + B]])
            sums += adversarial_step(G, D, opt_g, opt_d, real, args.z_dim, args.real_label)
            n += 1
            step += 1
        if n == 0:
            break
        G.eval()
        with no_grad():
            grid = G(fixed_z).numpy()
        G.train()
        save_png_grid(grid, out / "samples" / f"epoch_{epoch:03d}.png")
        m = sums / n
        rec = {"epoch": epoch, "step": step, "loss_d": m[0], "loss_g": m[1], "D_real": m[2],
               "D_fake": m[3], "grad_norm_G": m[4], "wall_min": round(budget.wall_minutes(), 2),
               "cpu_min": round(budget.cpu_minutes(), 2)}
        log.write(json.dumps(rec) + "\n")
        log.flush()
        print(f"epoch {epoch} step {step}: loss_D {m[0]:.3f} loss_G {m[1]:.3f} "
              f"D(real) {m[2]:.2f} D(fake) {m[3]:.2f} |∇G| {m[4]:.3f} "
              f"{rec['wall_min']:.1f} min wall, {rec['cpu_min']:.1f} min CPU", flush=True)
        ckpt.save_tensors(out / "generator.safetensors", G.state_dict())
        ckpt.save_tensors(out / "discriminator.safetensors", D.state_dict())
        if budget.spent():
            break
    log.close()
    wall, cpu = budget.wall_minutes(), budget.cpu_minutes()
    ckpt.write_json(out / "result.json", {"epochs": epoch, "steps": step,
                                          "train_wall_minutes": round(wall, 2),
                                          "train_cpu_minutes": round(cpu, 2)})
    if args.judge:
        _judge(out, G, args.z_dim, data, args.judge_epochs)
    return 0


def _judge(out, G, z_dim, data, epochs) -> dict:
    """Classify 1000 samples of ``G`` with the judge; write and print ``judge.json``."""
    x01, labels = data.train.tensors[0].numpy(), data.train.tensors[1].numpy()
    judge = _judge_model(out, x01, labels, data, epochs)
    G.eval()
    with no_grad():
        samples = G(_noise(1000, z_dim)).numpy()
    result = judge_samples(judge, (samples + 1) / 2)
    ckpt.write_json(out / "judge.json", result)
    print(f"judge: {result['classes_produced']} of 10 classes produced, mean top-class "
          f"probability {result['mean_top_probability']:.3f}, counts "
          f"{result['class_counts']}")
    return result


def judge_run(args) -> int:
    """``--judge-run RUN``: judge the generator saved in an earlier run's folder."""
    run_dir = Path(args.judge_run)
    config_path = run_dir / "config.json"
    if not config_path.is_file() or not (run_dir / "generator.safetensors").is_file():
        raise FileNotFoundError(f"gan: {run_dir} has no config.json/generator.safetensors; "
                                "--judge-run needs the folder of a gan run")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    G, _ = M.build(config["model"], config["z_dim"])
    G.load_state_dict(ckpt.load_weights(run_dir / "generator.safetensors"))
    seed = getattr(args, "seed", None)
    manual_seed(0 if seed is None else seed)
    _judge(run_dir, G, config["z_dim"], datasets.mnist(_mnist_root(args), flatten=False),
           args.judge_epochs)
    return 0


def _judge_model(out, x01, labels, data, epochs):
    """The judge classifier: loaded from ``out/judge.safetensors`` or trained and saved."""
    path = out / "judge.safetensors"
    if path.exists():
        judge = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        judge.load_state_dict(ckpt.load_weights(path))
        return judge
    judge = train_judge(x01, labels, epochs)
    tx, ty = data.test.tensors[0].numpy(), data.test.tensors[1].numpy()
    judge.eval()
    with no_grad():
        acc = float((judge(Tensor(tx)).numpy().argmax(1) == ty).mean())
    print(f"judge: MLP classifier test accuracy {acc:.4f}")
    ckpt.write_json(out / "judge_classifier.json", {"test_accuracy": acc, "epochs": epochs})
    ckpt.save_tensors(path, judge.state_dict())
    return judge


__all__ = ["add_arguments", "run", "adversarial_step", "save_png_grid", "train_judge",
           "judge_samples"]
