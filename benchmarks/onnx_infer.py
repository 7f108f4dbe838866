"""Inference time of an exported run: onnxruntime vs deltaflow on the same batch.

    python benchmarks/onnx_infer.py RUN [--batch 256] [--repeats 20]

RUN is a classify run folder (``deltaflow train --data mnist --model cnn``). The run is
exported (``deltaflow export``'s graph: standardisation inside), both are fed the same
batch of raw samples, the outputs are compared, and the median of ``--repeats`` timed
calls (after two warm-up calls) is reported for each, with their ratio. Both use the
machine's default threads (onnxruntime's intra-op pool, NumPy's BLAS).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def median_seconds(fn, repeats: int) -> float:
    fn(), fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    import onnxruntime

    import deltaflow as dl
    from deltaflow.cli.export import prepare
    from deltaflow.onnx import export

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a classify run folder")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    spec = prepare(args.run)
    x = spec.inputs[0]
    rng = np.random.default_rng(0)
    batch = x[rng.integers(0, len(x), args.batch)] + rng.standard_normal(
        (args.batch, *x.shape[1:])).astype(np.float32) * 0.1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export(spec.model, spec.inputs, path, input_names=spec.input_names,
               output_names=spec.output_names, dynamic_axes=spec.dynamic_axes)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"input": batch}
    tensor = dl.tensor(batch)

    def run_deltaflow():
        with dl.no_grad():
            return spec.model(tensor)[0].numpy()

    def run_onnxruntime():
        return session.run(["logits"], feed)[0]

    diff = float(np.max(np.abs(run_deltaflow() - run_onnxruntime())))
    t_dl = median_seconds(run_deltaflow, args.repeats)
    t_ort = median_seconds(run_onnxruntime, args.repeats)
    print(f"batch {args.batch} of {tuple(x.shape[1:])}, median of {args.repeats} calls; "
          f"max |logit difference| {diff:.2g}")
    print(f"deltaflow    {t_dl * 1e3:8.2f} ms")
    print(f"onnxruntime  {t_ort * 1e3:8.2f} ms  ({onnxruntime.__version__})")
    print(f"ratio        {t_dl / t_ort:8.2f}x (deltaflow time / onnxruntime time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
