"""Neural-network modules: GNN blocks, readouts and the DiffPool layers."""

from .blocks import AttributeNorm, GNNBlock, dense_readout, make_conv, sparse_readout
from .pool import DenseDiffPool, DiffPool, DiffPoolOutput

__all__ = [
    "AttributeNorm",
    "DenseDiffPool",
    "DiffPool",
    "DiffPoolOutput",
    "GNNBlock",
    "dense_readout",
    "make_conv",
    "sparse_readout",
]
