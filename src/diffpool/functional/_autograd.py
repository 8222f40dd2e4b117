"""Custom autograd functions of the pooling math: the assignment softmax with its entropy and the
squared Gram norm ``‖SᵀS‖²_F``, and the link loss built from it. Each has a hand-written backward,
cheaper than autograd's through the element-wise steps; when a second derivative is asked for
(``create_graph=True``) they differentiate the forward in plain operations instead, so higher
derivatives are exact too."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = [
    "EXACT_LINK_FRACTION",
    "assignment_softmax_entropy",
    "cluster_mask",
    "gram_squared_norm",
    "link_loss",
    "safe_sqrt",
    "widened",
]


def cluster_mask(num_clusters: Tensor, max_clusters: int) -> Tensor:
    """[B, max_clusters] bool: True for the first ``num_clusters[b]`` clusters of graph ``b``."""
    return torch.arange(max_clusters, device=num_clusters.device) < num_clusters.unsqueeze(-1)


# Below this, exp(log S) is exactly 0 in every float dtype (float64 underflows at about -745).
_LOG_ZERO = -1e4


class _SoftmaxEntropy(torch.autograd.Function):
    r"""Row-wise softmax :math:`S` of logits and each row's entropy :math:`H = -\sum_k S_k \log S_k`.

    One function with a hand-written backward because on large graphs these [N, K] element-wise
    passes were about a third of the pooling step. Forward: :math:`H = \mathrm{lse} - \sum_k S_k s_k`
    (``lse`` the row's log-sum-exp). Backward:
    :math:`\partial/\partial s_k = S_k\,(g_{S,k} - \langle S, g_S\rangle - g_H(\log S_k + H))`.
    Blocked entries have :math:`S_k = 0` exactly and zero gradient.
    """

    @staticmethod
    def forward(ctx: Any, s: Tensor, blocked: Tensor | None) -> tuple[Tensor, Tensor]:
        masked = s if blocked is None else s.masked_fill(blocked, float("-inf"))
        lse = torch.logsumexp(masked, dim=-1, keepdim=True)
        prob = torch.sub(masked, lse).exp_()  # exp(-inf) is exactly 0 for blocked entries
        # Blocked entries add 0 · s_k = 0 (their logits are finite).
        entropy = lse.squeeze(-1) - (prob.unsqueeze(-2) @ s.unsqueeze(-1)).view(-1)
        ctx.save_for_backward(s, prob, lse, entropy)
        ctx.blocked = blocked
        return prob, entropy

    @staticmethod
    def backward(ctx: Any, grad_prob: Tensor, grad_entropy: Tensor) -> tuple[Tensor, None]:
        s, prob, lse, entropy = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: a derivative that can be differentiated again
            return _differentiable_backward(
                _plain_softmax_entropy, (s, ctx.blocked), (grad_prob, grad_entropy)
            ), None
        # log S where S > 0; where S is 0 (blocked, or beyond the float range) the value only
        # needs to be finite, as it is multiplied by S at the end.
        log_prob = torch.sub(s, lse).clamp_min_(_LOG_ZERO)
        g_entropy = grad_entropy.unsqueeze(-1)
        along_s = (prob.unsqueeze(-2) @ grad_prob.unsqueeze(-1)).view(-1, 1)
        grad = torch.addcmul(grad_prob, log_prob, g_entropy, value=-1.0)
        grad.sub_(along_s + g_entropy * entropy.unsqueeze(-1))
        return grad.mul_(prob), None


def _plain_softmax_entropy(s: Tensor, blocked: Tensor | None) -> tuple[Tensor, Tensor]:
    """:class:`_SoftmaxEntropy`'s forward in operations autograd differentiates to any order."""
    masked = s if blocked is None else s.masked_fill(blocked, float("-inf"))
    lse = torch.logsumexp(masked, dim=-1, keepdim=True)
    prob = torch.softmax(masked, dim=-1)
    return prob, lse.squeeze(-1) - (prob * s).sum(-1)


def _differentiable_backward(plain, inputs: tuple[Any, ...], grads: tuple[Tensor, ...]) -> Tensor:
    """The first input's gradient through ``plain(*inputs)`` (the forward in plain operations), with a
    graph of its own: what a hand-written backward returns when a second derivative is asked for
    (``create_graph=True``). Slower than the hand-written formula, which is used otherwise."""
    outputs = plain(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    (grad,) = torch.autograd.grad(outputs, inputs[0], grads, create_graph=True)
    return grad


def assignment_softmax_entropy(s: Tensor, allowed: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Row-wise softmax of assignment logits and the entropy of every row.

    ``s`` is [..., K]; ``allowed`` (broadcastable bool) marks the clusters a row may use: the others
    get probability exactly 0. Returns ``(S, H)`` with ``H`` of shape ``s.shape[:-1]``, finite with
    finite gradients even for one-hot rows and logits beyond the float range of their difference.
    """
    shape = s.shape
    flat = s.reshape(-1, shape[-1])
    blocked = None if allowed is None else (~allowed).expand(shape).reshape(-1, shape[-1])
    prob, entropy = _SoftmaxEntropy.apply(flat, blocked)
    return prob.view(shape), entropy.view(shape[:-1])


def widened(t: Tensor) -> Tensor:
    """``t`` in float32 if it is in a narrower float type (bf16/fp16 under autocast), else as it is."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


class _GramSquaredNorm(torch.autograd.Function):
    r"""``‖SᵀS‖²_F`` of assignments S [n, K] (a scalar) or [B, n, K] (one per graph, padded rows 0),
    with a hand-written backward.

    The link loss needs only this. Autograd through ``(Sᵀ S) ** 2`` would run two n×K×K products in
    the backward pass (one per operand of the product); the gradient is :math:`4\,S\,(S^\top S)`, a
    single product with the Gram matrix kept from the forward pass. It runs in float32 whatever
    autocast says: the link loss is a small difference of large terms.
    """

    @staticmethod
    def forward(ctx: Any, s: Tensor) -> Tensor:
        with torch.autocast(device_type=s.device.type, enabled=False):
            wide = widened(s)
            gram = wide.transpose(-1, -2) @ wide
        ctx.save_for_backward(s, gram)
        return (gram * gram).sum(dim=(-2, -1))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        s, gram = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: a derivative that can be differentiated again
            return _differentiable_backward(_plain_gram_squared_norm, (s,), (grad,))
        with torch.autocast(device_type=s.device.type, enabled=False):
            return ((widened(s) @ gram) * (4 * grad)[..., None, None]).to(s.dtype)


def _plain_gram_squared_norm(s: Tensor) -> Tensor:
    with torch.autocast(device_type=s.device.type, enabled=False):
        wide = widened(s)
        return (wide.transpose(-1, -2) @ wide).pow(2).sum(dim=(-2, -1))


def gram_squared_norm(s: Tensor) -> Tensor:
    """``‖SᵀS‖²_F`` of S [n, K] (a scalar) or [B, n, K] (one per graph; padded rows must be 0)."""
    return _GramSquaredNorm.apply(s)


# ‖A − SSᵀ‖²_F = ‖A‖²_F − 2·tr(SᵀAS) + ‖SᵀS‖²_F is a difference of large terms that nearly cancel
# when S fits A well (dense communities, almost one-hot S); in float32 its error is about eps times
# the terms (times a summation factor), which can exceed the result itself. Below this fraction of
# the terms a graph's value and gradient are recomputed from S in float64 (:func:`needs_exact`):
# rare in training, where S is far from such a fit, so the float32 path keeps its speed.
EXACT_LINK_FRACTION = 1e-2


def link_loss(norm_a: Tensor, out_adj: Tensor, gram_norm: Tensor) -> tuple[Tensor, Tensor | None]:
    """``‖A − SSᵀ‖_F`` per graph by ``‖A‖²_F − 2·tr(SᵀAS) + ‖SᵀS‖²_F``, from ``‖A‖²_F`` [B], the pooled
    ``SᵀAS`` [B, K, K] and ``‖SᵀS‖²_F`` [B]: no n×n matrix. Combined in float32 at least (bf16 terms
    would cancel to noise). Also returns [B] bool: the graphs whose terms cancel too far for the
    precision (see :data:`EXACT_LINK_FRACTION`), or None in float64."""
    trace = widened(out_adj.diagonal(dim1=1, dim2=2).sum(-1))
    norm_a, gram_norm = widened(norm_a), widened(gram_norm)
    squared = norm_a - 2 * trace + gram_norm
    inexact = None
    if squared.dtype != torch.float64:
        scale = (norm_a.abs() + 2 * trace.abs() + gram_norm.abs()).detach()
        inexact = squared.detach() < EXACT_LINK_FRACTION * scale
    return safe_sqrt(squared), inexact


def safe_sqrt(squared: Tensor) -> Tensor:
    """sqrt(max(x, 0)) with gradient 0, not inf/NaN, where x <= 0 (round-off can make it < 0)."""
    positive = squared > 0
    return torch.where(positive, squared.clamp_min(1e-30).sqrt(), torch.zeros_like(squared))
