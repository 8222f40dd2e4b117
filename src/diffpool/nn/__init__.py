"""Neural-network modules: GNN blocks and the DiffPool layer."""
from .blocks import GNNBlock, dense_readout, make_conv, sparse_readout
from .pool import DenseDiffPool, DiffPool, DiffPoolOutput, DiffPoolPartsOutput

__all__ = ["GNNBlock", "DiffPool", "DenseDiffPool", "DiffPoolOutput", "DiffPoolPartsOutput", "make_conv", "sparse_readout", "dense_readout"]
