"""diffpool: hierarchical graph classification with differentiable pooling (Ying et al., 2018).

Sparse-first: the first pooling level runs on PyG's sparse mini-batch, so memory grows with edges
and nodes, never with n². See ``diffpool.functional`` for the math, ``diffpool.nn`` for modules and
``diffpool.models`` for the hierarchical classifier.
"""
__version__ = "0.1.0"
