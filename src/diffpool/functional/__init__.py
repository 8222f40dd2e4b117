r"""The pooling math of DiffPool (Ying et al., NeurIPS 2018) and of the learned dense poolings it
started, MinCutPool (Bianchi et al., ICML 2020) and DMoN (Tsitsulin et al., JMLR 2023), each in a dense
and a sparse form.

All three compute, for one graph with adjacency :math:`A` (n×n), node embeddings :math:`Z` (n×F) and
assignment logits :math:`s` (n×K), a soft assignment and the coarsened graph

.. math::
    S = \mathrm{softmax}(s) \quad
    X' = S^\top Z \quad
    A' = S^\top A S

and unsupervised losses on :math:`S`: DiffPool the link loss :math:`\lVert A - S S^\top \rVert_F` and
the mean entropy :math:`\tfrac{1}{n} \sum_i H(S_i)` (:func:`dense_diff_pool`, :func:`sparse_diff_pool`);
MinCutPool the cut and orthogonality losses (:func:`dense_mincut_pool`, :func:`sparse_mincut_pool`);
DMoN the spectral (modularity), orthogonality and cluster losses (:func:`dense_dmon_pool`,
:func:`sparse_dmon_pool`). MinCutPool and DMoN pass on :math:`A'` with its diagonal removed and
symmetrically degree-normalised, DMoN :math:`\mathrm{SELU}(X')`.

The dense forms work on padded batches ([B, N, ·] with a node mask), as PyG's do. The sparse forms work
on a PyG mini-batch (nodes of all graphs stacked, ``edge_index``, ``batch``) and never form an n×n
tensor. All accept ``num_clusters`` [B]: graph ``b`` then uses only its first ``num_clusters[b]``
clusters; the surplus logits are masked out of the softmax and the returned ``mask`` marks the clusters
in use. Losses are returned per graph, [B].

:class:`Partition` and :class:`PaddedBatch` describe a batch whose coarsened graphs are kept in
parts of similar size, each padded to its own largest (what the layers of :mod:`diffpool.nn` pass
between levels).
"""

from ._partition import PaddedBatch, Partition
from .diff_pool import PoolOutput, dense_diff_pool, sparse_diff_pool
from .dmon_pool import DMoNOutput, dense_dmon_pool, sparse_dmon_pool
from .mincut_pool import MinCutOutput, dense_mincut_pool, sparse_mincut_pool

__all__ = [
    "DMoNOutput",
    "MinCutOutput",
    "PaddedBatch",
    "Partition",
    "PoolOutput",
    "dense_diff_pool",
    "dense_dmon_pool",
    "dense_mincut_pool",
    "sparse_diff_pool",
    "sparse_dmon_pool",
    "sparse_mincut_pool",
]
