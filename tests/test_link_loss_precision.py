"""The link loss ‖A − SSᵀ‖_F keeps its precision in float32 when S fits A well.

The sparse and dense forms compute it as ‖A‖² − 2·tr(SᵀAS) + ‖SᵀS‖², terms that nearly cancel for
graphs of dense communities and an almost one-hot S. The sweep runs from random S (β = 0) to fits
where ‖A − SSᵀ‖_F is 10⁻⁴ of ‖A‖_F (β = 12), on graphs of up to 10⁴ nodes, and compares value and
gradient with a float64 computation of the definition from the same S.
"""

from __future__ import annotations

import functools

import pytest
import torch

from diffpool.functional import Partition, dense_diff_pool
from diffpool.functional.diff_pool import dense_pool, sparse_pool

BETAS = [0.0, 2.0, 5.0, 8.0, 12.0]  # logit margin of each node's own community
VALUE_TOL, GRADIENT_TOL = 1e-3, 1e-2


@functools.lru_cache(maxsize=2)
def community_graph(n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cliques (self-loops included) of ``size`` nodes plus a few links between them: edges, communities."""
    community = torch.arange(n) // size
    first = community * size
    last = torch.clamp(first + size, max=n)
    src = torch.repeat_interleave(torch.arange(n), last - first)
    offsets = torch.arange(src.numel()) - torch.repeat_interleave(
        torch.cumsum(last - first, 0) - (last - first), last - first
    )
    dst = first[src] + offsets
    gen = torch.Generator().manual_seed(n)
    a, b = torch.randint(0, n, (2, n // 50), generator=gen)
    cross = torch.stack([torch.cat([a, b]), torch.cat([b, a])])
    edges = torch.cat([torch.stack([src, dst]), cross], dim=1)
    key = torch.unique(edges[0] * n + edges[1])
    return torch.stack([key // n, key % n]), community


def logits_for(community: torch.Tensor, beta: float, seed: int = 0) -> torch.Tensor:
    k = int(community.max()) + 1
    gen = torch.Generator().manual_seed(seed)
    noise = 0.1 * torch.randn(community.numel(), k, generator=gen)
    return (beta * torch.nn.functional.one_hot(community, k).float() + noise).requires_grad_()


def reference(edge_index: torch.Tensor, s: torch.Tensor, chunk: int = 1024) -> tuple[float, torch.Tensor]:
    """‖A − SSᵀ‖_F and its gradient with respect to S, in float64, row block by row block."""
    s = s.detach().double()
    n = s.size(0)
    squared, grad = 0.0, torch.zeros_like(s)
    edge_index = edge_index[:, torch.argsort(edge_index[0])]
    bounds = torch.searchsorted(edge_index[0], torch.arange(0, n + chunk, chunk)).tolist()
    for i, start in enumerate(range(0, n, chunk)):
        rows = slice(start, min(start + chunk, n))
        block = -(s[rows] @ s.t())
        src, dst = edge_index[:, bounds[i] : bounds[i + 1]]
        block.index_put_((src - start, dst), torch.ones(src.numel(), dtype=block.dtype), accumulate=True)
        squared += float((block * block).sum())
        grad[rows] = block @ s  # (A − SSᵀ) S, rows of this block
    norm = squared**0.5
    return norm, -2 * grad / norm  # d‖A − SSᵀ‖_F / dS for a symmetric A


def logit_gradient(s: torch.Tensor, grad_s: torch.Tensor) -> torch.Tensor:
    """The softmax's backward in float64 at the S the function computed."""
    s = s.detach().double()
    return s * (grad_s - (s * grad_s).sum(-1, keepdim=True))


def relative(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.double() - want).norm() / want.norm())


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("n, size", [(600, 60), (3000, 300), (10_000, 200)])
def test_sparse_link_loss_value_and_gradient_hold_near_a_perfect_fit(n, size, beta):
    edge_index, community = community_graph(n, size)
    logits = logits_for(community, beta)
    [out], s = sparse_pool(torch.randn(n, 2), edge_index, logits, torch.zeros(n, dtype=torch.long))
    out.link_loss.sum().backward()
    value, grad_s = reference(edge_index, s)
    assert abs(float(out.link_loss.detach()) - value) <= VALUE_TOL * value
    assert relative(logits.grad, logit_gradient(s, grad_s)) <= GRADIENT_TOL


@pytest.mark.parametrize("beta", BETAS)
def test_dense_link_loss_value_and_gradient_hold_near_a_perfect_fit(beta):
    n = 2000
    edge_index, community = community_graph(n, 250)
    adj = torch.zeros(1, n, n)
    adj[0, edge_index[0], edge_index[1]] = 1.0
    logits = logits_for(community, beta, seed=1)
    out, s = dense_pool(torch.randn(1, n, 2), adj, logits.unsqueeze(0))
    out.link_loss.sum().backward()
    value, grad_s = reference(edge_index, s[0])
    assert abs(float(out.link_loss.detach()) - value) <= VALUE_TOL * value
    assert relative(logits.grad, logit_gradient(s[0], grad_s)) <= GRADIENT_TOL
    assert torch.equal(
        out.link_loss, dense_diff_pool(torch.randn(1, n, 2), adj, logits.detach().unsqueeze(0)).link_loss
    )


def test_a_batch_in_parts_recomputes_only_the_graphs_that_need_it():
    """A batch of a near-perfect fit beside random assignments, in two parts: every graph's value
    and gradient hold, whichever part it is in."""
    graphs = [community_graph(800, 100), community_graph(300, 50), community_graph(500, 100)]
    betas = [12.0, 0.0, 10.0]
    logits = [logits_for(c, b, seed=i) for i, ((_, c), b) in enumerate(zip(graphs, betas))]
    k = max(t.size(1) for t in logits)
    padded = [torch.nn.functional.pad(t, (0, k - t.size(1)), value=-30.0) for t in logits]
    offsets = [0, 800, 1100]
    edge_index = torch.cat([e + o for (e, _), o in zip(graphs, offsets)], dim=1)
    batch = torch.cat([torch.full((c.numel(),), g) for g, (_, c) in enumerate(graphs)])
    stacked = torch.cat(padded)
    num_clusters = torch.tensor([t.size(1) for t in logits])
    parts, s = sparse_pool(
        torch.randn(1600, 2),
        edge_index,
        stacked,
        batch,
        num_clusters=num_clusters,
        partition=Partition([[2, 0], [1]]),
    )
    link = Partition([[2, 0], [1]]).merge([p.link_loss for p in parts])
    link.sum().backward()
    for g, ((edges, c), start) in enumerate(zip(graphs, offsets)):
        rows = slice(start, start + c.numel())
        s_g = s[rows, : num_clusters[g]]
        value, grad_s = reference(edges, s_g)
        assert abs(float(link[g].detach()) - value) <= VALUE_TOL * value
        assert relative(logits[g].grad, logit_gradient(s_g, grad_s)) <= GRADIENT_TOL
