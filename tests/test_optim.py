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
        for _ in range(5):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
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
        for _ in range(3):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(results[0], results[1])
    pickle.dumps(build_optimizer("adamw", _model().parameters(), lr=1e-3))  # ddp_spawn pickles
