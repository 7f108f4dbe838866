"""``explain``: one forward and one backward pass, layer by layer, with the live numbers.

* :mod:`.core` -- :func:`explain`, the driver;
* :mod:`.graph` -- what was computed, read from the recorded autograd graph;
* :mod:`.rules`, :mod:`.dense`, :mod:`.conv`, :mod:`.recurrent` -- each op as a textbook
  equation, recomputed in plain NumPy from the printed numbers;
* :mod:`.record` -- the data model (quantities, checks, layers, steps; ``to_dict``) that the
  text, markdown, JSON and HTML forms render; :mod:`.render` -- text and markdown;
* :mod:`.textbook` -- the textbook 3→4→2 example and MLP specs.
"""
from .core import ExplainCheckWarning, explain
from .record import Check, Explanation, Layer, Quantity, Step
from .textbook import (
    TEXTBOOK_LR,
    TEXTBOOK_X,
    TEXTBOOK_Y,
    half_sse,
    mlp_from_spec,
    parse_sizes,
    textbook_model,
)

__all__ = ["Check", "ExplainCheckWarning", "Explanation", "Layer", "Quantity", "Step",
           "TEXTBOOK_LR", "TEXTBOOK_X", "TEXTBOOK_Y", "explain", "half_sse", "mlp_from_spec",
           "parse_sizes", "textbook_model"]
