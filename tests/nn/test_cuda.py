"""nn on CUDA (CuPy): every layer, loss, initialiser and utility gives on the GPU what it
gives on the CPU (float64, same weights). Skipped where CuPy or a GPU is missing."""
import copy

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.nn import functional as F
from deltaflow.nn import init
from deltaflow.nn.utils import clip_grad_norm_, clip_grad_value_, parameters_to_vector

pytestmark = pytest.mark.skipif(not dl.cuda_available(), reason="needs CuPy and a GPU")


def run_both(model, make_inputs, loss_fn):
    """Forward + backward on CPU and on a CUDA copy; return both losses, outputs, grads."""
    results = []
    for device in ("cpu", "cuda"):
        m = copy.deepcopy(model).to(device)
        inputs = [t.to(device) if isinstance(t, dl.Tensor) else t for t in make_inputs()]
        for t in inputs:
            if isinstance(t, dl.Tensor) and t.is_floating_point():
                t.requires_grad_(True)
        out = m(*inputs[:-1])
        loss = loss_fn(out, inputs[-1])
        loss.backward()
        assert out.device == device and loss.device == device
        grads = {n: p.grad.numpy() for n, p in m.named_parameters() if p.grad is not None}
        grads.update({f"input{k}": t.grad.numpy() for k, t in enumerate(inputs)
                      if isinstance(t, dl.Tensor) and t.grad is not None})
        buffers = {n: b.numpy() for n, b in m.named_buffers()}
        results.append((loss.item(), out.numpy(), grads, buffers))
    (l0, o0, g0, b0), (l1, o1, g1, b1) = results
    np.testing.assert_allclose(l1, l0, rtol=1e-9)
    np.testing.assert_allclose(o1, o0, rtol=1e-9, atol=1e-12)
    assert g0.keys() == g1.keys() and b0.keys() == b1.keys()
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-8, atol=1e-12, err_msg=k)
    for k in b0:
        np.testing.assert_allclose(b1[k], b0[k], rtol=1e-9, err_msg=k)


def rand(*shape, seed=0):
    return dl.tensor(np.random.default_rng(seed).standard_normal(shape))


def test_mlp_with_every_layer_and_cross_entropy_on_cuda():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.GELU(), nn.Linear(8, 8),
                          nn.LayerNorm(8), nn.SiLU(), nn.Linear(8, 5)).double()
    y = dl.tensor(np.array([0, 4, 2, 2, -100, 1, 3]))
    run_both(model, lambda: [rand(7, 6), y],
             lambda out, t: F.cross_entropy(out, t, weight=dl.ones(5).double().to(out.device),
                                            label_smoothing=0.1))


def test_embedding_batchnorm2d_and_trailing_dim_cross_entropy_on_cuda():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4, padding_idx=0, scale_grad_by_freq=True)
            self.bn = nn.BatchNorm2d(4, momentum=None)

        def forward(self, idx):
            e = self.emb(idx)                                 # (N, H, W, 4)
            return self.bn(e.permute(0, 3, 1, 2))            # (N, 4, H, W) logits

    idx = dl.tensor(np.random.default_rng(1).integers(0, 10, (3, 2, 5)))
    tgt = dl.tensor(np.random.default_rng(2).integers(0, 4, (3, 2, 5)))
    run_both(Net().double(), lambda: [idx, tgt], F.cross_entropy)


@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                                  "binary_cross_entropy_with_logits", "kl_div", "probs"])
def test_losses_on_cuda(loss):
    model = nn.Linear(4, 3).double()
    target = np.random.default_rng(3).uniform(0.1, 0.9, (5, 3))
    if loss == "probs":
        fn = F.cross_entropy
    elif loss == "kl_div":
        def fn(out, t):
            return F.kl_div(F.log_softmax(out, 1), t, reduction="batchmean")
    else:
        fn = getattr(F, loss)
    run_both(model, lambda: [rand(5, 4), dl.tensor(target)], fn)


def test_nll_bce_dropout_init_and_utils_on_cuda():
    x = rand(6, 3).to("cuda").requires_grad_(True)
    logp = F.log_softmax(x, 1)
    t = dl.tensor(np.array([0, 1, 2, 2, 1, 0])).to("cuda")
    F.nll_loss(logp, t).backward()
    assert x.grad.device == "cuda"
    p = F.sigmoid(rand(4, 2).to("cuda"))
    assert np.isfinite(F.binary_cross_entropy(p, p.detach()).item())

    dl.manual_seed(0)
    y = nn.Dropout(0.5)(dl.ones(100, 100).to("cuda"))
    assert y.device == "cuda" and 0.4 < (y.numpy() == 0).mean() < 0.6
    y2 = nn.Dropout2d(0.5)(dl.ones(8, 6, 3, 3).to("cuda")).numpy().reshape(8, 6, 9)
    assert np.all((y2 == 0).all(-1) | (y2 == 2).all(-1))

    w = dl.empty(64, 32).to("cuda")
    for fn in (init.xavier_uniform_, init.kaiming_normal_, init.orthogonal_, init.trunc_normal_,
               init.normal_, init.eye_):
        fn(w)
        assert w.device == "cuda" and np.all(np.isfinite(w.numpy()))

    m = nn.Linear(5, 5).to("cuda")
    m(rand(3, 5).float().to("cuda")).sum().backward()
    total = clip_grad_norm_(m.parameters(), 0.01)
    assert total.device == "cuda"
    assert np.sqrt(sum((p.grad.numpy() ** 2).sum() for p in m.parameters())) <= 0.0101
    clip_grad_value_(m.parameters(), 1e-4)
    assert max(np.abs(p.grad.numpy()).max() for p in m.parameters()) <= 1e-4
    assert parameters_to_vector(m.parameters()).device == "cuda"


def test_state_dict_moves_between_devices():
    cpu = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    gpu = copy.deepcopy(cpu).to("cuda")
    gpu(rand(5, 3).float().to("cuda"))
    cpu.load_state_dict(gpu.state_dict())       # CuPy arrays into NumPy parameters
    assert cpu[1].running_mean.device == "cpu"
    np.testing.assert_allclose(cpu[1].running_mean.numpy(), gpu[1].running_mean.numpy())
    gpu.load_state_dict({k: v.numpy() for k, v in cpu.state_dict().items()})
    assert gpu[0].weight.device == "cuda"


def test_conv_pool_and_norm_layers_on_cuda():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(4, 5, 3, stride=2, padding=1),
                          nn.GroupNorm(1, 5), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(5, 3)).double()
    y = dl.tensor(np.array([0, 2, 1, 1]))
    run_both(model, lambda: [rand(4, 3, 8, 8), y], F.cross_entropy)
    model.eval()                         # inference pooling takes its own (max-only) kernel
    run_both(model, lambda: [rand(4, 3, 8, 8, seed=5), y], F.cross_entropy)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_on_cuda(mode):
    """Bags cut by offsets (an empty one included) and repeated indices: the max path takes
    the per-bag segmented maximum (ufunc_methods.reduce_at), sum and mean the row scatter."""
    bag = nn.EmbeddingBag(7, 3, mode=mode).double()
    index = dl.tensor(np.array([1, 1, 4, 2, 6, 0, 4, 4, 3]))
    offsets = dl.tensor(np.array([0, 3, 3, 6]))
    run_both(bag, lambda: [index, offsets, rand(4, 3, seed=9)],
             lambda out, target: ((out - target) ** 2).sum())


def test_batch_one_convolution_by_rows_on_cuda():
    """no_grad at batch 1 with many channels: the channels-last rows path (ops.conv.im2row)."""
    from deltaflow.ops import conv as C
    conv = nn.Conv2d(32, 8, 3, padding=1).double()
    x = rand(1, 32, 6, 6, seed=7)
    assert C.rows_pay(tuple(x.shape), (3, 3), (1, 1), (1, 1), (6, 6), 1)
    with dl.no_grad():
        cpu = conv(x).numpy()
        gpu = copy.deepcopy(conv).to("cuda")(x.to("cuda"))
    assert gpu.device == "cuda"
    np.testing.assert_allclose(gpu.numpy(), cpu, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_recurrent_layers_on_cuda(cell):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, cell)(4, 6, num_layers=2, batch_first=True)
            self.head = nn.Linear(6, 3)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    y = dl.tensor(np.array([0, 2, 1]))
    run_both(Net().double(), lambda: [rand(3, 5, 4), y], F.cross_entropy)


def test_attention_and_transformer_layer_on_cuda():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                                    batch_first=True)
            self.head = nn.Linear(8, 3)

        def forward(self, x):
            return self.head(self.block(x).mean(1))

    y = dl.tensor(np.array([0, 2, 1]))
    run_both(Net().double(), lambda: [rand(3, 5, 8), y], F.cross_entropy)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_optimizer_steps_on_cuda_equal_cpu(name):
    cpu = nn.Linear(5, 3).double()
    gpu = copy.deepcopy(cpu).to("cuda")
    kwargs = {"lr": 0.01, "weight_decay": 0.1} | ({"momentum": 0.9} if name == "SGD" else {})
    for m in (cpu, gpu):
        opt = getattr(dl.optim, name)(m.parameters(), **kwargs)
        for step in range(3):
            opt.zero_grad()
            device = "cuda" if m is gpu else "cpu"
            (m(rand(4, 5, seed=step).to(device)) ** 2).sum().backward()
            opt.step()
    for (n, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        assert q.device == "cuda"
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-9, err_msg=n)
