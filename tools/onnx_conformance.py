"""Run deltaflow's ONNX importer over the ``onnx`` package's operator conformance suite.

    python tools/onnx_conformance.py                  # the counts, per operator and in all
    python tools/onnx_conformance.py --list failed    # and the cases with that status
    python tools/onnx_conformance.py -k conv          # only cases whose name contains "conv"
    python tools/onnx_conformance.py --markdown       # docs/onnx.md's import table

``onnx.backend.test.case.node.collect_testcases()`` builds every case's model with its
inputs and expected outputs (1 884 cases in onnx 1.23). Each case is one of:

* ``not claimed``: a node's operator has no importer at the case's opset (or is in another
  domain): deltaflow does not claim it; not run;
* ``unsupported``: ``dl.onnx.load`` or the run refused it with ``dl.onnx.Unsupported``, which
  names the attribute value or dtype deltaflow does not implement (float8, strings, ...);
* ``passed``: every output equal to the expected one (shape, dtype, values within the case's
  rtol/atol; NaN where NaN);
* ``failed``: anything else (a wrong value, dtype or shape, or another exception).

``tests/onnx/test_conformance.py`` runs :func:`run_all` and fails on any ``failed`` case.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import io
import sys
import warnings

import numpy as np

STATUSES = ("passed", "failed", "unsupported", "not claimed")


def collect(pattern: str = ""):
    """The suite's node cases (quietly: building some warns about overflowing casts)."""
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        np_err = np.seterr(all="ignore")
        try:
            cases = collect_testcases()
        finally:
            np.seterr(**np_err)
    return [c for c in cases if pattern in c.name]


def operators(case) -> list[str]:
    """The operator types of a case's graph (``domain.op`` outside the default domain)."""
    return sorted({n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
                   for n in case.model.graph.node})


def claimed(case) -> bool:
    """Whether deltaflow has an importer for every node of the case at its opset."""
    from deltaflow.onnx.importers import MAX_OPSET, MIN_OPSET, lookup
    opset = {o.domain or "ai.onnx": o.version for o in case.model.opset_import}.get("ai.onnx")
    if opset is None or not MIN_OPSET <= opset <= MAX_OPSET:
        return False
    return all(n.domain in ("", "ai.onnx") and lookup(n.op_type, opset) is not None
               for n in case.model.graph.node)


def _array(value) -> np.ndarray:
    """A case's input or expected output (an array, or a TensorProto for some dtypes)."""
    from onnx import TensorProto, numpy_helper
    return numpy_helper.to_array(value) if isinstance(value, TensorProto) else np.asarray(value)


def run_case(case) -> tuple[str, str]:
    """(status, detail) of one case."""
    import deltaflow as dl
    import deltaflow.onnx  # noqa: F401
    if not claimed(case):
        return "not claimed", ", ".join(operators(case))
    try:
        model = dl.onnx.load(case.model)
        for inputs, expected in case.data_sets:
            outs = model(*[dl.tensor(_array(a)) for a in inputs])
            outs = outs if isinstance(outs, tuple) else (outs,)
            if len(outs) != len(expected):
                return "failed", f"{len(outs)} outputs, expected {len(expected)}"
            for k, (out, want) in enumerate(zip(outs, expected)):
                got, want = np.asarray(out.data), _array(want)
                if got.dtype != want.dtype or got.shape != want.shape:
                    return "failed", (f"output {k}: {got.dtype}{list(got.shape)}, expected "
                                      f"{want.dtype}{list(want.shape)}")
                if not np.allclose(got, want, rtol=case.rtol, atol=case.atol, equal_nan=True):
                    worst = np.max(np.abs(got.astype(float) - want.astype(float)))
                    return "failed", f"output {k}: values differ (max |Δ| {worst:.3g})"
    except dl.onnx.Unsupported as e:
        return "unsupported", str(e)
    except Exception as e:               # a failure to report, whatever it is
        return "failed", f"{type(e).__name__}: {e}".splitlines()[0]
    return "passed", ""


def run_all(pattern: str = "") -> dict[str, tuple[str, str, list[str]]]:
    """``{case name: (status, detail, operators)}`` for every case."""
    results = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for case in collect(pattern):
            status, detail = run_case(case)
            results[case.name] = (status, detail, operators(case))
    return results


def counts(results) -> dict[str, int]:
    c = collections.Counter(status for status, _, _ in results.values())
    return {s: c.get(s, 0) for s in STATUSES}


def per_operator(results) -> dict[str, dict[str, int]]:
    """Claimed cases by operator (a case counts for each of its operators)."""
    table = collections.defaultdict(collections.Counter)
    for status, _, ops in results.values():
        if status != "not claimed":
            for op in ops:
                table[op][status] += 1
    return {op: dict(c) for op, c in sorted(table.items())}


def opsets(versions: list[int]) -> str:
    """``[7, 13]`` → ``7–12, 13+``: the opsets each importer version serves."""
    spans = [f"{v}–{nxt - 1}" if nxt - 1 > v else str(v)
             for v, nxt in zip(versions, versions[1:])]
    return ", ".join(spans + [f"{versions[-1]}+"])


def markdown(results) -> str:
    """One row per imported operator: its opsets and its conformance cases."""
    from deltaflow.onnx.importers import supported_operators
    table = per_operator(results)
    rows = ["| operator | opsets | cases passed / failed / unsupported |", "|---|---|---|"]
    for op, versions in supported_operators().items():
        c = table.get(op, {})
        cases = "/".join(str(c.get(s, 0)) for s in ("passed", "failed", "unsupported"))
        rows.append(f"| `{op}` | {opsets(versions)} | {cases if c else '–'} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    parser.add_argument("--list", choices=STATUSES, action="append", default=[],
                        help="list the cases with this status (repeatable)")
    parser.add_argument("--markdown", action="store_true",
                        help="print the table of imported operators, opsets and cases")
    opts = parser.parse_args(argv)
    results = run_all(opts.k)
    if opts.markdown:
        print(markdown(results))
        return 0
    for status in opts.list:
        for name, (s, detail, ops) in sorted(results.items()):
            if s == status:
                print(f"{status:11s} {name} [{' '.join(ops)}] {detail}")
    print("operator            passed failed unsupported")
    for op, c in per_operator(results).items():
        print(f"{op:20s}{c.get('passed', 0):6d}{c.get('failed', 0):7d}"
              f"{c.get('unsupported', 0):12d}")
    total = counts(results)
    print(f"{len(results)} cases: " + ", ".join(f"{n} {s}" for s, n in total.items()))
    return 1 if total["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
