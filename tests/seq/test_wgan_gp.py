"""`deltaflow train --task gan --loss wgan-gp`: the gradient penalty, a second derivative
of the critic, against PyTorch's; the critic/generator rhythm; tiny runs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.cli import main
from deltaflow.models import gan as G
from deltaflow.tasks.gan import WGANGPTask, build_networks, gradient_penalty
from deltaflow.train import Trainer

MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


def _torch_critic(torch, arch, critic):
    """PyTorch's copy of ``critic`` (float64, same weights)."""
    nn = torch.nn
    if arch == "mlp":
        h = critic.net[1].out_features
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, h), nn.LeakyReLU(0.2), nn.Dropout(0.0),
                            nn.Linear(h, h // 2), nn.LeakyReLU(0.2), nn.Dropout(0.0),
                            nn.Linear(h // 2, 1))
    else:
        c = critic.net[0].out_channels
        net = nn.Sequential(nn.Conv2d(1, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),
                            nn.LayerNorm((2 * c, 7, 7)), nn.LeakyReLU(0.2),
                            nn.Flatten(), nn.Linear(2 * c * 49, 1))
    net = net.double()
    net.load_state_dict({k.removeprefix("net."): torch.from_numpy(v.numpy().copy())
                         for k, v in critic.state_dict().items()})
    return net


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_penalty_and_its_weight_gradient_equal_torch(arch):
    """P = mean (‖∇ₓ̂D(x̂)‖ − 1)² and ∂P/∂θ_D (grad of a grad) for the same critic weights."""
    torch = pytest.importorskip("torch")
    dl.manual_seed(0)
    critic = (G.MLPDiscriminator(hidden=16, dropout=0.0) if arch == "mlp"
              else G.DCDiscriminator(channels=3, norm="layer")).double()
    rng = np.random.default_rng(0)
    real, fake = rng.uniform(-1, 1, (2, 5, 1, 28, 28))
    eps = rng.random((5, 1, 1, 1))
    penalty, norms = gradient_penalty(critic, dl.tensor(real), dl.tensor(fake), dl.tensor(eps))
    penalty.backward()

    net = _torch_critic(torch, arch, critic)
    x_hat = (torch.from_numpy(eps) * torch.from_numpy(real)
             + (1 - torch.from_numpy(eps)) * torch.from_numpy(fake)).requires_grad_(True)
    (g,) = torch.autograd.grad(net(x_hat).sum(), x_hat, create_graph=True)
    t_norms = g.reshape(5, -1).norm(dim=1)
    t_penalty = ((t_norms - 1) ** 2).mean()
    t_penalty.backward()

    assert abs(penalty.item() - t_penalty.item()) <= 1e-9 * max(1.0, abs(t_penalty.item()))
    np.testing.assert_allclose(norms.numpy(), t_norms.detach().numpy(), rtol=1e-9)
    t_params = dict(net.named_parameters())
    for name, p in critic.named_parameters():
        # None (a bias the penalty does not reach, in both libraries) counts as zeros
        t_grad = t_params[name.removeprefix("net.")].grad
        expected = np.zeros(p.shape) if t_grad is None else t_grad.numpy()
        got = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
        if name.endswith("weight"):   # (a bias before LeakyReLUs only moves their kinks)
            assert np.abs(expected).max() > 0, name    # the penalty reaches every weight
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12, err_msg=name)


def test_penalty_is_zero_for_a_critic_with_unit_slope():
    """D(x) = w·x with ‖w‖ = 1 has ‖∇ₓD‖ = 1 everywhere: P = 0 and ∂P/∂w = 0."""
    w = np.random.default_rng(1).standard_normal(784)
    w /= np.linalg.norm(w)
    weight = dl.tensor(w.reshape(1, 784), requires_grad=True)

    def critic(x):
        return x.reshape(len(x), -1) @ weight.T

    x = dl.tensor(np.random.default_rng(2).uniform(-1, 1, (3, 1, 28, 28)))
    penalty, norms = gradient_penalty(critic, x, -x, dl.tensor(np.full((3, 1, 1, 1), 0.3)))
    penalty.backward()
    np.testing.assert_allclose(norms.numpy(), 1.0, rtol=1e-12)
    assert penalty.item() == pytest.approx(0.0, abs=1e-24)
    assert np.abs(weight.grad.numpy()).max() < 1e-12


def test_critic_every_batch_generator_every_n_critic(tmp_path):
    """Five critic updates per generator update; the generator's weights change only then."""
    dl.manual_seed(0)
    gen, critic = G.build("mlp", z_dim=8, critic=True)
    opt_g = dl.optim.Adam(gen.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_d = dl.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.0, 0.9))
    task = WGANGPTask(gen, critic, 8, tmp_path, n_critic=5, gp_weight=10.0)
    trainer = Trainer(task=task, optimizer={"discriminator": opt_d, "generator": opt_g},
                      progress=False)
    real = dl.tensor(np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32))
    changed = []
    for _ in range(10):
        before = gen.net[0].weight.numpy().copy()
        step = task.optimization_step(trainer, (real,))
        trainer.step += 1
        changed.append(not np.array_equal(before, gen.net[0].weight.numpy()))
        assert {"loss_d", "wasserstein", "gp", "grad_norm_x"} <= set(step.metrics)
        assert step.metrics["gp"] >= 0 and step.metrics["grad_norm_x"] > 0
        assert ("loss_g" in step.metrics) == changed[-1]
    assert changed == [False] * 4 + [True] + [False] * 4 + [True]


def test_critic_has_no_dropout_and_no_batch_norm():
    for arch in G.ARCHITECTURES:
        _, critic = G.build(arch, critic=True)
        kinds = {type(m).__name__: m for m in critic.modules()}
        assert "BatchNorm2d" not in kinds
        assert all(m.p == 0 for m in critic.modules() if type(m).__name__ == "Dropout")
    assert type(build_networks({"model": "dcgan", "z_dim": 4, "loss": "wgan-gp"})[1]
                .net[3]).__name__ == "LayerNorm"
    assert type(build_networks({"model": "dcgan", "z_dim": 4})[1]   # runs before --loss
                .net[3]).__name__ == "BatchNorm2d"


def test_wgan_gp_options_resolve_to_the_papers_defaults(tmp_path, capsys):
    from deltaflow.cli import build_parser
    from deltaflow.cli.train import resolve

    def opts(*argv):
        return resolve(build_parser().parse_args(["train", "--task", "gan", *argv]))

    o = opts("--loss", "wgan-gp")
    assert (o.lr, o.n_critic, o.gp_weight) == (1e-4, 5, 10.0)
    o = opts("--loss", "wgan-gp", "--lr", "3e-4", "--n-critic", "2")
    assert (o.lr, o.n_critic) == (3e-4, 2)
    o = opts()
    assert (o.loss, o.lr, o.n_critic) == ("bce", 2e-4, 1)
    assert main(["train", "--task", "gan", "--loss", "hinge", "--out", str(tmp_path)]) == 2
    assert "--loss" in capsys.readouterr().err


@pytest.mark.skipif(not MNIST.is_dir(), reason="MNIST IDX files not in ../shared/data/mnist")
def test_tiny_wgan_gp_run_on_mnist(tmp_path, capsys):
    rc = main(["train", "--task", "gan", "--loss", "wgan-gp", "--data-dir", str(MNIST.parent),
               "--epochs", "1", "--max-minutes", "0.02", "--batch-size", "16", "--n-critic",
               "2", "--out", str(tmp_path), "--name", "run", "--no-progress", "--no-plot"])
    assert rc == 0
    run = tmp_path / "run"
    assert (run / "samples" / "epoch_001.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run / "model.json").read_text())["loss"] == "wgan-gp"
    rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert rec["step"] >= 2 and rec["gp"] >= 0 and rec["grad_norm_G"] > 0
    assert np.isfinite(rec["wasserstein"])
    capsys.readouterr()
    from deltaflow.tasks.gan import load_trained
    generator, meta, _ = load_trained(run)                  # the critic variant loads back
    assert meta["loss"] == "wgan-gp" and generator(dl.randn(2, meta["z_dim"])).shape == \
        (2, 1, 28, 28)
