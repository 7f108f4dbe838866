"""Which of PyTorch's public names deltaflow has: writes docs/pytorch-parity.{md,json}.

    python tools/pytorch_parity.py                       # refresh the "after" column
    python tools/pytorch_parity.py --before-src /tmp/deltaflow-before/src   # and "before"

Needs the pinned torch (2.13.0). Each deltaflow is inspected in a subprocess with
``PYTHONPATH=<src>`` (``--src``, default this checkout's ``src``; ``--before-src``, default:
the "before" names already recorded in the JSON file; pass it again after changing the rules
below, since that record holds only the names counted when it was made), so two versions are
compared against one list of torch names. The JSON's ``supported`` lists are what
``tests/test_pytorch_parity.py`` checks (without torch): a name once supported must not
disappear.

Which torch names count (public = not starting with ``_``; everything below is decided from
the name or the object, so a rerun gives the same list):

* ``torch``: functions (callables that are neither classes nor modules) and the user-facing
  classes in ``TORCH_CLASSES``. Not counted: submodules, dtypes (``torch.float32``), constants
  (``pi``, ``has_mkl``), other classes (legacy ``FloatTensor`` types, storages, TorchScript
  types), in-place functions ending in ``_`` (``torch.relu_``; the in-place forms are counted
  on ``Tensor``), and the ``INTERNAL`` families: other back ends (cuDNN, MIOpen, MKL-DNN,
  FBGEMM, XPU, ...), quantization, sparse and nested layouts, functionalization ``*_copy``
  variants, autocast, symbolic shapes, compiler/TorchScript plumbing, the C kernels behind
  ``nn`` modules and ``nn.functional`` (``torch.lstm``, ``torch.native_layer_norm``,
  ``torch.batch_norm_stats``; counted as ``nn.LSTM`` ...), and functions removed from torch
  that only raise (``torch.eig``, ``torch.solve`` ...).
* ``torch.Tensor``: attributes, properties and methods, in-place ones included, without the
  same ``INTERNAL`` families and without ``TENSOR_INTERNAL`` (storages, pointers, legacy
  ``volatile``/``reinforce``, ``map_``/``apply_``).
* ``torch.nn``: classes (layers, containers, ``Parameter``, ``Buffer``) except the deprecated
  ``Container`` and the multi-process ``DataParallel``/``SyncBatchNorm``.
* ``torch.nn.functional``: functions defined in ``torch.nn`` (not ``torch.overrides``
  helpers, typing names or notes strings).
* ``torch.optim``, ``torch.optim.lr_scheduler``, ``torch.utils.data``: their ``__all__``, less
  submodules.

A name exists in deltaflow when ``hasattr`` finds it at the corresponding place:
``dl``, ``dl.Tensor``, ``dl.nn``, ``dl.nn.functional``, ``dl.optim``,
``dl.optim.lr_scheduler``, ``dl.utils.data`` (or ``dl.data``, which it re-exports).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "pytorch-parity.md"
DATA = ROOT / "docs" / "pytorch-parity.json"
BEFORE_COMMIT = "712f683"

# torch name -> the deltaflow places where it is looked up (first one found counts)
NAMESPACES = {
    "torch": ["deltaflow"],
    "torch.Tensor": ["deltaflow.Tensor"],
    "torch.nn": ["deltaflow.nn"],
    "torch.nn.functional": ["deltaflow.nn.functional"],
    "torch.optim": ["deltaflow.optim"],
    "torch.optim.lr_scheduler": ["deltaflow.optim.lr_scheduler"],
    "torch.utils.data": ["deltaflow.utils.data", "deltaflow.data"],
}

TORCH_CLASSES = {"Tensor", "Size", "Generator", "device", "dtype", "finfo", "iinfo",
                 "no_grad", "enable_grad", "set_grad_enabled", "inference_mode"}

INTERNAL = re.compile("|".join([
    # other back ends than CPU and CUDA
    r"^(cudnn|miopen|mkldnn|fbgemm)_", r"^(is_)?(ipu|xpu|mtia|maia|mps|vulkan|xla|meta)$",
    r"^(to_mkldnn|is_mkldnn|is_vulkan_available|get_device_module)$",
    # quantization
    r"quantiz", r"^q_", r"^(dequantize|int_repr|qscheme|choose_qparams_optimized)$",
    # sparse and nested layouts
    r"sparse", r"^(coalesce|is_coalesced|indices|values|crow_indices|col_indices)$",
    r"^(ccol_indices|row_indices|dense_dim|to_dense|to_padded_tensor|is_nested)$",
    r"^(hspmm|smm|dsmm|hsmm|saddmm|spmm|sspaddmm)$",
    # functionalization copies, autocast, symbolic shapes, compiler and TorchScript plumbing
    r"_copy$", r"autocast", r"^sym_",
    r"^(compile|cond|while_loop|vmap|fork|wait|classproperty|compiled_with_cxx11_abi)$",
    r"^(import_ir_module|import_ir_module_from_buffer|parse_ir|parse_schema)$",
    r"^(parse_type_comment|merge_type_from_type_comment|unify_type_list|get_file_path)$",
    r"^(prepare_multiprocessing_environment|profiler_allow_cudagraph_cupti_lazy_reinit_cuda12)$",
    r"^(thread_safe_generator|fused_moving_avg_obs_fake_quant|empty_quantized)$",
    # the C kernels behind nn modules and nn.functional
    r"^native_", r"^batch_norm_", r"_backward",
    r"^(rnn_tanh|rnn_relu|rnn_tanh_cell|rnn_relu_cell|lstm|lstm_cell|gru|gru_cell)$",
    r"^(conv_tbc|convolution|constant_pad_nd|affine_grid_generator|norm_except_dim)$",
    r"^(grid_sampler|grid_sampler_2d|grid_sampler_3d|embedding_renorm_|frobenius_norm)$",
    r"^(feature_dropout|feature_alpha_dropout|slice_inverse)$", r"^unsafe_",
    # removed from torch: calling them only raises
    r"^(eig|symeig|lstsq|solve|matrix_rank)$",
]))

TENSOR_INTERNAL = {
    "storage", "untyped_storage", "storage_type", "storage_offset", "data_ptr",
    "const_data_ptr", "record_stream", "share_memory_", "is_shared", "set_", "is_set_to",
    "module_load", "as_subclass", "map_", "map2_", "apply_", "reinforce", "volatile",
    "output_nr", "dim_order", "resize_as_sparse_",
}

NN_EXCLUDED = {"Container", "DataParallel", "SyncBatchNorm"}

# issue 13's tier-1 list: looked up on torch/Tensor wherever torch has the name
TIER1 = """cumsum cumprod einsum tril triu sin cos tan asin acos atan atan2 sinh cosh floor ceil
round trunc frac erf erfinv lgamma digamma expm1 log2 log10 square reciprocal new_zeros new_ones
new_full new_empty new_tensor uniform_ normal_ bernoulli_ multinomial bernoulli randperm scatter
scatter_ scatter_reduce index_add index_add_ index_fill index_copy masked_scatter masked_select
nonzero argwhere narrow unfold movedim moveaxis unflatten addmm addbmm baddbmm addcmul addcdiv
lerp median mode kthvalue quantile nanmean nansum cummax cummin logcumsumexp diag diag_embed
diagonal trace outer cross diff tensordot kron meshgrid cdist bincount histc searchsorted
bucketize unique_consecutive isclose allclose equal count_nonzero""".split()


def _public(obj):
    return [n for n in dir(obj) if not n.startswith("_")]


def torch_names() -> dict[str, list[str]]:
    """The counted public names of each torch namespace (rules in the module docstring)."""
    import torch
    import torch.nn.functional as F
    import torch.optim.lr_scheduler
    import torch.utils.data

    def plain_function(obj):
        return callable(obj) and not inspect.isclass(obj) and not inspect.ismodule(obj)

    names = {}
    names["torch"] = [
        n for n in _public(torch)
        if (n in TORCH_CLASSES or plain_function(getattr(torch, n)))
        and not n.endswith("_") and not INTERNAL.search(n)]
    names["torch.Tensor"] = [n for n in _public(torch.Tensor)
                             if not INTERNAL.search(n) and n not in TENSOR_INTERNAL]
    names["torch.nn"] = [n for n in _public(torch.nn)
                         if inspect.isclass(getattr(torch.nn, n)) and n not in NN_EXCLUDED]
    names["torch.nn.functional"] = [
        n for n in _public(F)
        if inspect.isfunction(getattr(F, n)) or inspect.isbuiltin(getattr(F, n))
        if (getattr(getattr(F, n), "__module__", None) or "torch.nn").startswith("torch")
        and not getattr(getattr(F, n), "__module__", "").startswith(("torch.overrides",
                                                                     "torch._jit_internal"))]
    for name, module in [("torch.optim", torch.optim),
                         ("torch.optim.lr_scheduler", torch.optim.lr_scheduler),
                         ("torch.utils.data", torch.utils.data)]:
        names[name] = sorted(n for n in module.__all__ if not inspect.ismodule(getattr(module, n)))
    return {k: sorted(v) for k, v in names.items()}


def tier1_places() -> dict[str, list[str]]:
    """For each tier-1 name, the torch namespaces ("torch", "torch.Tensor") that have it."""
    import torch
    return {n: [ns for ns, obj in (("torch", torch), ("torch.Tensor", torch.Tensor))
                if hasattr(obj, n)] for n in TIER1}


def probe(request: dict[str, list[str]]) -> dict:
    """In the subprocess: which requested names the importable deltaflow has, per namespace."""
    import importlib

    import deltaflow  # the one on PYTHONPATH

    def resolve(dotted):
        module_name, _, attr = dotted.rpartition(".")
        try:
            return importlib.import_module(dotted)
        except ImportError:
            try:
                return getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError):
                return None

    present = {}
    for ns, names in request.items():
        places = [p for p in map(resolve, NAMESPACES[ns]) if p is not None]
        present[ns] = [n for n in names if any(hasattr(p, n) for p in places)]
    return {"deltaflow": str(Path(deltaflow.__file__).parent), "present": present}


def run_probe(src: Path, request: dict[str, list[str]]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, __file__, "--probe"], input=json.dumps(request),
                         capture_output=True, text=True, env=env, check=True)
    result = json.loads(out.stdout)
    if Path(result["deltaflow"]).resolve() != (src / "deltaflow").resolve():
        raise SystemExit(f"asked for deltaflow in {src}, imported {result['deltaflow']}")
    return result["present"]


def write_markdown(names, after, before, tier1, tier1_present, torch_version):
    lines = [
        "# PyTorch parity",
        "",
        f"Generated by `python tools/pytorch_parity.py` against torch {torch_version}: which "
        "public PyTorch names deltaflow has at the same place (`torch.X` → `dl.X`, "
        "`torch.nn.functional.X` → `dl.nn.functional.X`, ...). The rules for which torch "
        "names count are in the script's docstring. \"before\" is commit "
        f"{BEFORE_COMMIT}. `tests/test_pytorch_parity.py` checks that every name listed as "
        "supported in `docs/pytorch-parity.json` is still there.",
        "",
        "| namespace | before | now | torch names |",
        "|---|---|---|---|",
    ]
    for ns, all_names in names.items():
        b = len(set(before.get(ns, [])) & set(all_names))
        lines.append(f"| `{ns}` | {b} | {len(after[ns])} | {len(all_names)} |")
    lines += ["", "## Issue 13's tier-1 list", "",
              "Looked up wherever torch has the name (`torch.X` and/or `Tensor.X`); present "
              "means present at all of those places.", ""]
    have = [n for n in tier1 if tier1_present[n]]
    lost = [n for n in tier1 if not tier1_present[n]]
    lines += [f"Present ({len(have)} / {len(tier1)}): " + (", ".join(f"`{n}`" for n in have)
                                                          or "none"), "",
              f"Missing ({len(lost)}): " + (", ".join(f"`{n}`" for n in lost) or "none"), ""]
    lines += ["## Missing names", ""]
    for ns, all_names in names.items():
        missing = [n for n in all_names if n not in set(after[ns])]
        lines += [f"### `{ns}` ({len(missing)} missing)", "",
                  ", ".join(f"`{n}`" for n in missing) or "none", ""]
    DOC.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src",
                        help="the deltaflow to report as 'now' (a folder holding deltaflow/)")
    parser.add_argument("--before-src", type=Path, default=None,
                        help=f"deltaflow at {BEFORE_COMMIT}; default: reuse the JSON's record")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(json.load(sys.stdin))))
        return

    import torch
    names = torch_names()
    tier1 = tier1_places()
    request = {ns: sorted(set(all_names) | {n for n, p in tier1.items() if ns in p})
               for ns, all_names in names.items()}
    after = run_probe(args.src.resolve(), request)
    if args.before_src is not None:
        before = run_probe(args.before_src.resolve(), names)
    else:
        before = json.loads(DATA.read_text())["before"]["supported"]
    tier1_present = {n: all(n in after[ns] for ns in places) for n, places in tier1.items()}
    supported = {ns: [n for n in all_names if n in set(after[ns])]
                 for ns, all_names in names.items()}
    record = {
        "torch_version": torch.__version__.split("+")[0],
        "places": NAMESPACES,
        "counts": {ns: {"supported": len(supported[ns]), "total": len(all_names)}
                   for ns, all_names in names.items()},
        "supported": supported,
        "before": {"commit": BEFORE_COMMIT,
                   "supported": {ns: sorted(set(before.get(ns, [])) & set(all_names))
                                 for ns, all_names in names.items()}},
        "tier1": {n: tier1_present[n] for n in TIER1},
    }
    DATA.write_text(json.dumps(record, indent=1) + "\n")
    write_markdown(names, supported, record["before"]["supported"], TIER1, tier1_present,
                   record["torch_version"])
    for ns, c in record["counts"].items():
        print(f"{ns:28s} {c['supported']:4d} / {c['total']}")


if __name__ == "__main__":
    main()
