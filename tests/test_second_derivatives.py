"""Second derivatives through the hand-written backward passes are exact (``gradgradcheck`` in
float64), for the functions alone and for the pooling losses built from them."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from diffpool.functional import dense_diff_pool, sparse_diff_pool
from diffpool.functional._autograd import assignment_softmax_entropy, gram_squared_norm
from diffpool.nn.blocks import _l2_normalize as l2_normalize


def _inputs(seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(5, 3, generator=gen, dtype=torch.float64).requires_grad_()


FUNCTIONS = {
    "softmax-entropy": lambda s: (
        assignment_softmax_entropy(s)[1].sum() + assignment_softmax_entropy(s)[0].pow(2).sum()
    ),
    "gram": lambda s: gram_squared_norm(s),
    "l2-normalize": lambda s: l2_normalize(s).pow(3).sum(),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_first_derivative_passes_gradcheck(name):
    assert torch.autograd.gradcheck(FUNCTIONS[name], (_inputs(),))


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_second_derivative_passes_gradgradcheck(name):
    assert torch.autograd.gradgradcheck(FUNCTIONS[name], (_inputs(1),))


def test_masked_softmax_entropy_second_derivative_passes_gradgradcheck():
    allowed = torch.arange(3) < torch.tensor([3, 1, 2, 3, 2]).unsqueeze(-1)
    assert torch.autograd.gradgradcheck(
        lambda s: sum(t.sum() for t in assignment_softmax_entropy(s, allowed)), (_inputs(2),)
    )


@pytest.mark.parametrize("form", ["sparse", "dense"])
def test_hessian_of_the_pooling_losses_matches_autograd_through_the_definition(form):
    """The entropy and link loss Hessians on a 5-node graph equal those of the plain definitions."""
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4], [1, 0, 2, 1, 3, 2, 4, 3]])
    adj = torch.zeros(5, 5, dtype=torch.float64)
    adj[edge_index[0], edge_index[1]] = 1
    x = torch.randn(5, 2, dtype=torch.float64)
    s = torch.randn(5, 3, dtype=torch.float64)

    def losses(logits):
        if form == "sparse":
            out = sparse_diff_pool(x, edge_index, logits, torch.zeros(5, dtype=torch.long))
        else:
            out = dense_diff_pool(x, adj, logits)
        return out.entropy.sum() + out.link_loss.sum()

    def definition(logits):
        prob = torch.softmax(logits, -1)
        entropy = -(prob * prob.log()).sum(-1).mean()
        return entropy + torch.linalg.matrix_norm(adj - prob @ prob.t())

    torch.testing.assert_close(
        torch.autograd.functional.hessian(losses, s), torch.autograd.functional.hessian(definition, s)
    )


def test_model_loss_has_second_derivatives():
    """Double backward runs through a whole model (GNN blocks with L2 normalisation, both levels)."""
    from diffpool.models import ModelConfig, build_model, classification_loss

    torch.manual_seed(0)
    graphs = [
        Data(
            x=torch.randn(n, 3, dtype=torch.float64),
            y=torch.tensor([n % 2]),
            edge_index=torch.tensor([list(range(n - 1)), list(range(1, n))]),
        )
        for n in (4, 6, 9)
    ]
    batch = Batch.from_data_list(graphs)
    model = build_model(
        ModelConfig(in_channels=3, num_classes=2, max_nodes=9, hidden=4, mlp_hidden=4)
    ).double()
    params = [p for p in model.parameters() if p.requires_grad]
    loss = classification_loss(model(batch), batch.y)["loss"]
    grads = torch.autograd.grad(loss, params, create_graph=True)
    penalty = sum(g.pow(2).sum() for g in grads)
    penalty.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
