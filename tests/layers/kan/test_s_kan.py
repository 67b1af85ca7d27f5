from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from kanlab.layers.kan.s_kan import DEFAULT_CANDIDATES, SKANLinear
from kanlab.testing import PowersLinear


class Bump(nn.Module):
    """Stand-in with a frozen parameter, a no-decay set, a grid update and a regularizer."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        dd = {"device": device, "dtype": dtype}
        self.centres = nn.Parameter(torch.linspace(-1, 1, 4, **dd), requires_grad=False)
        self.scale = nn.Parameter(torch.ones(out_features, **dd))
        self.weight = nn.Parameter(torch.randn(out_features, in_features * 4, **dd) * 0.3)
        self.grid_updates = 0

    def basis(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-((x.unsqueeze(-1) - self.centres) ** 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.basis(x).flatten(-2), self.weight) * self.scale

    def update_grid(self, x: torch.Tensor, margin: float = 0.01) -> None:
        self.grid_updates += 1

    def regularization_loss(
        self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0
    ) -> torch.Tensor:
        return regularize_activation * self.weight.abs().mean()

    def no_weight_decay(self) -> set[str]:
        return {"scale"}


POOL = [PowersLinear, {"name": PowersLinear, "degree": 2}, Bump]


def make(dtype: torch.dtype = torch.float32, out: int = 5) -> SKANLinear:
    torch.manual_seed(0)
    layer = SKANLinear(3, out, candidates=POOL, dtype=dtype)
    with torch.no_grad():
        layer.alpha.copy_(torch.randn_like(layer.alpha))
    return layer


def n_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_full_stage_is_the_softmax_mixture() -> None:
    layer = make(torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    weights = torch.softmax(layer.alpha, dim=-1)                   # (O, C)
    expected = sum(weights[:, c] * layer.candidates[n](x) for c, n in enumerate(layer.candidates))
    torch.testing.assert_close(layer(x), expected)
    assert layer.stage == "full"
    # repeated names get suffixes
    assert list(layer.candidates) == ["powerslinear", "powerslinear_2", "bump"]
    layer(x).square().sum().backward()
    for name, p in layer.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    assert not layer.candidates["bump"].centres.requires_grad       # the candidate's own choice


def test_selective_stage_trains_only_the_chosen_spaces() -> None:
    layer = make()
    with torch.no_grad():
        layer.alpha.fill_(0.0)
        layer.alpha[:, 0] = 1.0  # every node picks "powerslinear"
        layer.alpha[1, 2] = 2.0                                     # node 1 picks "bump"
    layer.to_stage("selective")
    assert layer.stage == "selective"
    assert layer.selection().tolist() == [0, 2, 0, 0, 0]
    x = torch.randn(2, 4, 3)
    y = layer(x)
    y_poly, y_bump = layer.candidates["powerslinear"](x), layer.candidates["bump"](x)
    torch.testing.assert_close(y[..., 0], y_poly[..., 0])
    torch.testing.assert_close(y[..., 1], y_bump[..., 1])
    y.square().sum().backward()
    assert not layer.alpha.requires_grad and layer.alpha.grad is None
    assert all(not p.requires_grad for p in layer.candidates["powerslinear_2"].parameters())
    for name, p in layer.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name       # trainable <=> has a gradient
    assert not layer.candidates["bump"].centres.requires_grad


def test_pruning_is_exact_and_drops_parameters() -> None:
    layer = make(out=6)
    x = torch.randn(7, 3)
    layer.to_stage("selective")
    chosen = layer.selection()
    y_selective = layer(x).detach()
    before = n_trainable(layer)
    layer.prune()
    assert layer.stage == "pruned"
    assert torch.equal(layer.selection(), chosen)
    torch.testing.assert_close(layer(x), y_selective)
    rows = {n: int((chosen == i).sum()) for i, n in enumerate(layer.candidate_names)}
    per_row = {"powerslinear": 3 * 3 + 1, "powerslinear_2": 3 * 2 + 1, "bump": 1 + 3 * 4}
    assert set(layer.candidates) == {n for n, r in rows.items() if r}
    assert n_trainable(layer) == sum(per_row[n] * r for n, r in rows.items())
    assert n_trainable(layer) < before
    y = layer(torch.randn(2, 3, 3))                                 # leading dims survive
    assert y.shape == (2, 3, 6)
    y.sum().backward()
    for name, p in layer.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name


def test_full_to_pruned_directly_uses_the_argmax() -> None:
    layer = make()
    chosen = layer.alpha.argmax(-1)
    x = torch.randn(3, 3)
    expected = torch.stack(
        [layer.candidates[layer.candidate_names[c]](x)[:, o] for o, c in enumerate(chosen)], -1
    ).detach()
    layer.to_stage("pruned")
    torch.testing.assert_close(layer(x), expected)
    assert torch.equal(layer.selection(), chosen)


@pytest.mark.parametrize("stage", ["full", "selective", "pruned"])
def test_state_dict_round_trip_into_a_fresh_layer(stage: str) -> None:
    layer = make()
    layer.to_stage(stage)  # type: ignore[arg-type]
    x = torch.randn(4, 3)
    torch.manual_seed(123)
    fresh = SKANLinear(3, 5, candidates=POOL)
    fresh.load_state_dict(layer.state_dict())
    assert fresh.stage == stage
    assert torch.equal(fresh.selection(), layer.selection())
    assert n_trainable(fresh) == n_trainable(layer)
    torch.testing.assert_close(fresh(x), layer(x))


def test_loading_an_earlier_stage_rebuilds_the_candidates() -> None:
    full = make()
    pruned = make()
    pruned.prune()
    pruned.load_state_dict(full.state_dict())                       # e.g. a best-val checkpoint
    assert pruned.stage == "full" and list(pruned.candidates) == list(full.candidates)
    x = torch.randn(2, 3)
    torch.testing.assert_close(pruned(x), full(x))


def test_stages_only_move_forward_and_names_are_checked() -> None:
    layer = make()
    layer.to_stage("selective")
    layer.to_stage("selective")                                     # same stage: no-op
    with pytest.raises(ValueError, match="must not go back from 'selective'"):
        layer.to_stage("full")
    with pytest.raises(ValueError, match="Did you mean 'pruned'"):
        layer.to_stage("prunned")  # type: ignore[arg-type]


def test_bad_hyperparameters_raise() -> None:
    with pytest.raises(ValueError, match="`candidates` must be a non-empty list"):
        SKANLinear(3, 2, candidates=[])
    with pytest.raises(ValueError, match="Unknown layer 's_kna'. Did you mean 's_kan'"):
        SKANLinear(3, 2, candidates=["s_kna"])
    with pytest.raises(ValueError, match="other than s_kan"):
        SKANLinear(3, 2, candidates=["s_kan"])
    with pytest.raises(ValueError, match="`temperature` must be > 0"):
        SKANLinear(3, 2, candidates=[PowersLinear], temperature=0.0)
    with pytest.raises(ValueError, match="must have last dim 3"):
        make()(torch.randn(2, 4))


def test_delegates_grid_update_regularization_and_no_weight_decay() -> None:
    layer = make()
    layer.update_grid(torch.randn(8, 3))
    assert layer.candidates["bump"].grid_updates == 1
    loss = layer.regularization_loss(2.0, 1.0)
    torch.testing.assert_close(loss, 2.0 * layer.candidates["bump"].weight.abs().mean())
    assert layer.no_weight_decay() == {"alpha", "candidates.bump.scale"}


def test_temperature_sharpens_the_mixture() -> None:
    layer = make()
    cold = SKANLinear(3, 5, candidates=POOL, temperature=1e-4)
    cold.load_state_dict(layer.state_dict())
    layer.to_stage("selective")
    x = torch.randn(3, 3)
    torch.testing.assert_close(cold(x), layer(x))                   # T -> 0: the argmax choice


@pytest.mark.parametrize("stage", ["full", "selective", "pruned"])
def test_gradcheck(stage: str) -> None:
    layer = make(torch.float64, out=3)
    layer.to_stage(stage)  # type: ignore[arg-type]
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


def test_default_pool_builds_and_prunes() -> None:
    torch.manual_seed(0)
    layer = SKANLinear(4, 3)
    assert list(layer.candidates) == list(DEFAULT_CANDIDATES)
    x = torch.rand(16, 4) * 1.6 - 0.8
    layer.eval()
    layer(x).sum().backward()
    for name, p in layer.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    before = n_trainable(layer)
    layer.to_stage("selective")
    y = layer(x).detach()
    layer.prune()
    torch.testing.assert_close(layer(x), y)
    assert n_trainable(layer) < before
