"""build_optimizer: registry classes, fused Adam/AdamW by default, user settings respected."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from kanlab.lit._system import param_groups
from kanlab.optim import build_optimizer


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.LayerNorm(5), nn.Linear(5, 3))


def _train(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
           steps: int) -> torch.Tensor:
    """``steps`` cross-entropy steps of ``opt``; the model's parameters, flattened."""
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("name", ["adamw", "adam"])
def test_adam_family_is_fused_on_cpu(name: str) -> None:
    opt = build_optimizer(name, param_groups(_model(), 1e-4), lr=1e-3)
    assert all(g["fused"] for g in opt.param_groups)


@pytest.mark.parametrize("setting", [{"fused": False}, {"foreach": True}])
def test_explicit_fused_or_foreach_is_kept(setting: dict[str, bool]) -> None:
    opt = build_optimizer("adamw", _model().parameters(), lr=1e-3, params=setting)
    group = opt.param_groups[0]
    for key, value in setting.items():
        assert group[key] is value
    assert not group["fused"]


def test_other_optimizers_are_untouched() -> None:
    opt = build_optimizer("sgd", _model().parameters(), lr=0.1, params={"momentum": 0.9})
    assert isinstance(opt, torch.optim.SGD)
    assert not opt.param_groups[0].get("fused")


def test_fused_step_matches_the_unfused_step() -> None:
    """Same algorithm: five AdamW steps agree with torch's for-loop implementation."""
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    results = []
    for params in (None, {"foreach": False}):
        model = _model()
        opt = build_optimizer("adamw", param_groups(model, 1e-2), lr=1e-2, params=params)
        results.append(_train(model, opt, x, y, 5))
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_capture_check_is_skipped_only_while_no_accelerator_is_initialised() -> None:
    """The per-step CUDA-graph capture check runs through the wrapper; steps give the bits of
    torch's own AdamW (fused) on the same parameters."""
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    results = []
    for ours in (True, False):
        model = _model()
        groups = param_groups(model, 1e-2)
        opt = (build_optimizer("adamw", groups, lr=1e-2) if ours
               else torch.optim.AdamW(groups, lr=1e-2, fused=True))
        assert ("_accelerator_graph_capture_health_check" in vars(opt)) is ours
        results.append(_train(model, opt, x, y, 3))
    assert torch.equal(results[0], results[1])
    pickle.dumps(build_optimizer("adamw", _model().parameters(), lr=1e-3))  # ddp_spawn pickles


def _transposed_model() -> nn.Sequential:
    """A model whose weights are stored in another memory order (B-spline KAN's layout)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 3))
    for layer in model:
        assert isinstance(layer, nn.Linear)
        layer.weight = nn.Parameter(layer.weight.detach().t().contiguous().t())
    return model


@pytest.mark.parametrize("amsgrad", [False, True])
def test_fused_step_on_transposed_parameters_gives_torchs_bits(amsgrad: bool) -> None:
    """Non-contiguous parameters reach the fused kernel as contiguous views of the same
    memory: the same bits as torch's own fused AdamW, and the parameters keep their strides."""
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    results = []
    for ours in (True, False):
        model = _transposed_model()
        groups = param_groups(model, 1e-2)
        opt = (build_optimizer("adamw", groups, lr=1e-2, params={"amsgrad": amsgrad}) if ours
               else torch.optim.AdamW(groups, lr=1e-2, fused=True, amsgrad=amsgrad))
        assert ("_init_group" in vars(opt)) is ours
        results.append(_train(model, opt, x, y, 4))
        assert not model[0].weight.is_contiguous()
        assert model[0].weight.stride() == opt.state[model[0].weight]["exp_avg"].stride()
        lists: list[list[torch.Tensor]] = [[] for _ in range(6)]
        opt._init_group(opt.param_groups[0], *lists)  # type: ignore[attr-defined]
        assert all(t.is_contiguous() for t in lists[0] + lists[1] + lists[2]) is ours
    assert torch.equal(results[0], results[1])


@pytest.mark.parametrize("name", ["b_spline_kan", "fast_kan", "relu_kan"])
def test_basis_major_kan_steps_match_torchs_fused_adamw(name: str) -> None:
    """The layers whose basis-major coefficients motivated the memory-order views."""
    import kanlab

    x, y = torch.rand(16, 12) * 2 - 1, torch.randint(0, 4, (16,))
    results = []
    for ours in (True, False):
        torch.manual_seed(0)
        layer = kanlab.create_layer(name, 12, 4, grid_size=4)
        assert not any(p.dim() == 3 and p.is_contiguous() for p in layer.parameters())
        opt = (build_optimizer("adamw", layer.parameters(), lr=1e-2) if ours
               else torch.optim.AdamW(layer.parameters(), lr=1e-2, fused=True))
        results.append(_train(layer, opt, x, y, 3))
    assert torch.equal(results[0], results[1])


def test_memory_order_views_only_dense_permutations() -> None:
    from kanlab.optim import _memory_order

    base = torch.empty(4, 3, 2)
    assert _memory_order(base) is None                       # contiguous already
    assert _memory_order(base.transpose(1, 2)) == [0, 2, 1]
    assert _memory_order(base.permute(2, 0, 1)) == [1, 2, 0]
    assert _memory_order(base[:, ::2]) is None                # gaps: not dense
    assert _memory_order(torch.empty(3).expand(4, 3)) is None  # overlapping


def test_unfused_groups_are_left_alone() -> None:
    opt = build_optimizer("adamw", _transposed_model().parameters(), lr=1e-3,
                          params={"foreach": False})
    assert "_init_group" not in vars(opt)
    sgd = build_optimizer("sgd", _transposed_model().parameters(), lr=0.1)
    assert "_init_group" not in vars(sgd)
    pickle.dumps(build_optimizer("adamw", _transposed_model().parameters(), lr=1e-3))


def test_loaded_moments_take_their_parameters_layout() -> None:
    """A state dict whose moments have another shape or order (FastKAN's flat coefficients
    before they were stored basis-major) loads into moments laid out like the parameters,
    so the fused step, which walks memory, pairs each entry with its own moments."""
    import kanlab

    x, y = torch.rand(16, 12) * 2 - 1, torch.randint(0, 4, (16,))
    torch.manual_seed(0)
    layer = kanlab.create_layer("fast_kan", 12, 4, grid_size=4)
    opt = build_optimizer("adamw", layer.parameters(), lr=1e-2)
    _train(layer, opt, x, y, 2)
    state = opt.state_dict()
    twin = pickle.loads(pickle.dumps((layer, state)))
    weight = layer.spline_weight
    index = [p is weight for p in layer.parameters()].index(True)
    for key in ("exp_avg", "exp_avg_sq"):
        moment = twin[1]["state"][index][key]
        twin[1]["state"][index][key] = moment.flatten(1).clone()         # (O, D*G), flat
    resumed = build_optimizer("adamw", twin[0].parameters(), lr=1e-2)
    resumed.load_state_dict(twin[1])
    moments = resumed.state[twin[0].spline_weight]
    for key in ("exp_avg", "exp_avg_sq"):
        assert moments[key].stride() == weight.stride()
        assert torch.equal(moments[key], opt.state[weight][key])
    assert torch.equal(_train(twin[0], resumed, x, y, 2), _train(layer, opt, x, y, 2))
