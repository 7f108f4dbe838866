#!/usr/bin/env bash
# The GPU checks, for a machine with CuPy and an NVIDIA GPU (CI has none, so these tests skip
# there): every CUDA test (the op table CPU vs GPU, nn layers, optimizers), then a short
# `deltaflow train --device cuda` on the built-in digits data and a CNN on the same images.
# Run from the repository root; logs go to ${OUT:-/tmp/cuda_check}.
set -o pipefail
out=${OUT:-/tmp/cuda_check}; mkdir -p "$out"
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import cupy, numpy, deltaflow as dl; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'cuda', dl.cuda_available())"
python3 -m pytest -p no:cacheprovider -q -ra tests/nn/test_cuda.py tests/test_tensor.py -k cuda 2>&1 | tee "$out/pytest.log"
status=$?
python3 -m deltaflow train --device cuda --epochs 3 --out /tmp/cuda_check_runs 2>&1 | tee "$out/train.log" || status=1
python3 -m deltaflow train --device cuda --model cnn --epochs 3 --out /tmp/cuda_check_runs 2>&1 | tee "$out/train_cnn.log" || status=1
exit $status
