"""dl.summary: output shapes, parameter counts and MACs per layer for CNNs, MLPs, RNNs and
transposed convolutions; the model's mode and BatchNorm statistics are left untouched."""
from __future__ import annotations

import numpy as np

import deltaflow as dl
from deltaflow import nn


def _benchmark_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def test_cnn_summary_shapes_params_macs(capsys):
    s = dl.summary(_benchmark_cnn(), (2, 1, 28, 28))
    printed = capsys.readouterr().out
    assert "0 (Conv2d)" in printed and "(2, 64, 7, 7)" in printed and "421,642" in printed
    rows = {lay.name: lay for lay in s.layers}
    assert rows["0"].output_shape == (2, 32, 28, 28) and rows["0"].params == 320
    assert rows["0"].macs == 2 * 32 * 28 * 28 * 9
    assert rows["3"].macs == 2 * 64 * 14 * 14 * 32 * 9
    assert rows["7"].macs == 2 * 3136 * 128 and rows["7"].params == 3136 * 128 + 128
    assert rows["5"].output_shape == (2, 64, 7, 7) and rows["5"].macs == 0
    assert s.total_params == s.trainable_params == 421_642
    assert s.total_macs == sum(lay.macs for lay in s.layers)


def test_mlp_summary_and_mode_restored():
    model = nn.Sequential(nn.Linear(20, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    model.train()
    before = model[1].running_mean.numpy().copy()
    s = dl.summary(model, (5, 20), print_fn=None)
    assert [lay.output_shape for lay in s.layers] == [(5, 16), (5, 16), (5, 16), (5, 3)]
    assert s.total_macs == 5 * 20 * 16 + 5 * 16 * 3
    assert model.training and model[1].training
    np.testing.assert_array_equal(model[1].running_mean.numpy(), before)


def test_transposed_conv_and_lstm_macs():
    s = dl.summary(nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2), (1, 4, 7, 7),
                   print_fn=None)
    assert s.layers[0].output_shape == (1, 6, 14, 14)
    assert s.total_macs == 4 * 49 * 3 * 16
    s = dl.summary(nn.LSTM(10, 20, num_layers=2, batch_first=True), (3, 7, 10), print_fn=None)
    assert s.total_macs == 3 * 7 * (4 * 20 * (10 + 20) + 4 * 20 * (20 + 20))
