from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

import kanlab
from kanlab.layers.sparse.topk_moe import TopKMoE


def test_gates_sum_to_one_over_exactly_k_and_equal_topk_softmax() -> None:
    torch.manual_seed(0)
    moe = kanlab.create_layer("topk_moe", 6, 4, num_experts=5, k=2)
    x = torch.randn(3, 7, 6)
    gates = moe.dense_gates(x)
    assert gates.shape == (3, 7, 5)
    assert ((gates != 0).sum(-1) == 2).all()
    assert_close(gates.sum(-1), torch.ones(3, 7))
    h = torch.nn.functional.linear(x, moe.gate_weight)
    top = h.topk(2, dim=-1)
    assert_close(gates.gather(-1, top.indices), top.values.softmax(-1), atol=1e-6, rtol=0)


def test_output_is_gate_weighted_sum_of_experts() -> None:
    torch.manual_seed(1)
    moe = TopKMoE(5, 3, num_experts=4, k=2)
    x = torch.randn(9, 5)
    gates = moe.dense_gates(x)                                        # (9, 4)
    outs = torch.stack([e(x) for e in moe.experts], dim=1)            # (9, 4, 3)
    assert_close(moe(x), (gates.unsqueeze(-1) * outs).sum(1))
    assert moe.aux_loss.ndim == 0 and float(moe.aux_loss.detach()) > 0


def test_zero_gradient_to_unselected_logits_and_all_params_get_grad() -> None:
    torch.manual_seed(2)
    moe = TopKMoE(4, 2, num_experts=6, k=2, noisy_gating=True)
    x = torch.randn(3, 4)
    h = torch.nn.functional.linear(x, moe.gate_weight).detach().requires_grad_()
    index, gates = moe.route(h)
    gates.sum().mul(0).add((gates * torch.randn_like(gates)).sum()).backward()
    assert h.grad is not None
    unselected = torch.ones_like(h, dtype=torch.bool).scatter(-1, index, False)
    assert (h.grad[unselected] == 0).all()
    y = moe(torch.randn(2, 5, 4))
    (y.sum() + moe.aux_loss).backward()
    assert all(p.grad is not None for p in moe.parameters())


def test_unnormalised_gates_and_validation() -> None:
    moe = TopKMoE(4, 2, num_experts=3, k=1, normalize=False)
    gates = moe.dense_gates(torch.randn(5, 4))
    assert (gates.sum(-1) < 1).all()
    with pytest.raises(ValueError, match=r"in \[1, num_experts=3\], but got k=4"):
        TopKMoE(4, 2, num_experts=3, k=4)
    with pytest.raises(ValueError, match="must have last dim 4"):
        moe(torch.randn(2, 3))


def test_kan_experts_when_available() -> None:
    torch.manual_seed(3)
    moe = TopKMoE(4, 3, num_experts=3, k=2, expert={"name": "b_spline_kan", "grid_size": 3})
    y = moe(torch.randn(6, 4))
    assert y.shape == (6, 3)
    y.sum().backward()
    assert all(p.grad is not None for p in moe.parameters())
    assert moe.regularization_loss().ndim == 0
    x = torch.randn(32, 4) * 3
    moe.update_grid(x)
    assert torch.isfinite(moe(x)).all()
