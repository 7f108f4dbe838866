"""``dl.viz``: pictures of backpropagation.

* :func:`graph` -- the autograd graph behind a tensor (ops, parameters, shapes, the gradient
  on every edge, module clusters collapsed by depth), as DOT text or SVG/PNG through Graphviz;
* :func:`trace` -- a context in which ops remember the module that ran them (for clusters);
* :func:`write_page` -- ``deltaflow explain --html``'s self-contained page that steps
  through the forward pass, the backward pass and the update.
"""
from .graph import GradStats, Graph, collapse, graph, trace
from .page import page_data, write_page

__all__ = ["GradStats", "Graph", "collapse", "graph", "page_data", "trace", "write_page"]
