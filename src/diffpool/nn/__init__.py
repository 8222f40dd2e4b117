"""Neural-network modules: GNN blocks, readouts and the learned pooling layers (DiffPool, MinCutPool,
DMoN)."""

from .blocks import AttributeNorm, GNNBlock, dense_readout, make_conv, sparse_readout
from .pool import (
    DenseDiffPool,
    DenseDMoNPool,
    DenseMinCutPool,
    DiffPool,
    DiffPoolOutput,
    DMoNPool,
    DMoNPoolOutput,
    MinCutPool,
    MinCutPoolOutput,
)

__all__ = [
    "AttributeNorm",
    "DMoNPool",
    "DMoNPoolOutput",
    "DenseDMoNPool",
    "DenseDiffPool",
    "DenseMinCutPool",
    "DiffPool",
    "DiffPoolOutput",
    "GNNBlock",
    "MinCutPool",
    "MinCutPoolOutput",
    "dense_readout",
    "make_conv",
    "sparse_readout",
]
