"""Every PyTorch name that docs/pytorch-parity.json lists as supported is still in deltaflow.

The list is written by ``python tools/pytorch_parity.py`` (which needs torch); this test
only reads it, so it runs without torch."""
import importlib
import json
from pathlib import Path

import pytest

RECORD = json.loads((Path(__file__).parent.parent / "docs" / "pytorch-parity.json").read_text())


def _place(dotted):
    try:
        return importlib.import_module(dotted)
    except ImportError:
        module_name, _, attr = dotted.rpartition(".")
        return getattr(importlib.import_module(module_name), attr)


@pytest.mark.parametrize("namespace", sorted(RECORD["supported"]))
def test_supported_names_are_still_there(namespace):
    places = [_place(p) for p in RECORD["places"][namespace]]
    gone = [n for n in RECORD["supported"][namespace]
            if not any(hasattr(p, n) for p in places)]
    assert not gone, (f"{namespace}: listed as supported in docs/pytorch-parity.json but missing "
                      f"from {' / '.join(RECORD['places'][namespace])}: {gone}")


def test_counts_match_the_lists():
    for namespace, count in RECORD["counts"].items():
        assert count["supported"] == len(RECORD["supported"][namespace]), namespace
