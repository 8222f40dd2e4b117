r"""The pooling math of DiffPool (Ying et al., NeurIPS 2018), in a dense and a sparse form.

For one graph with adjacency :math:`A` (n×n), node embeddings :math:`Z` (n×F) and assignment
logits :math:`s` (n×K):

.. math::
    S = \mathrm{softmax}(s) \quad
    X' = S^\top Z \quad
    A' = S^\top A S \quad
    L_{LP} = \lVert A - S S^\top \rVert_F \quad
    L_E = \tfrac{1}{n} \textstyle\sum_i H(S_i)

:func:`dense_diff_pool` works on padded batches ([B, N, ·] with a node mask), as PyG's does.
:func:`sparse_diff_pool` works on a PyG mini-batch (nodes of all graphs stacked, ``edge_index``,
``batch``) and never forms an n×n tensor. Both accept ``num_clusters`` [B]: graph ``b`` then uses
only its first ``num_clusters[b]`` clusters; the surplus logits are masked out of the softmax and
the returned ``mask`` marks the clusters in use.

:class:`Partition` and :class:`PaddedBatch` describe a batch whose coarsened graphs are kept in
parts of similar size, each padded to its own largest (what :class:`~diffpool.nn.DiffPool` and
:class:`~diffpool.nn.DenseDiffPool` pass between levels).
"""

from ._partition import PaddedBatch, Partition
from .diff_pool import PoolOutput, dense_diff_pool, sparse_diff_pool

__all__ = ["PaddedBatch", "Partition", "PoolOutput", "dense_diff_pool", "sparse_diff_pool"]
