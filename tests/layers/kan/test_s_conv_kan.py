from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from kanlab.layers.kan.s_conv_kan import SConvKAN2d
from kanlab.testing import PowersLinear

POOL = [{"name": PowersLinear, "degree": 2}, {"name": PowersLinear, "degree": 3},
        {"name": PowersLinear, "degree": 1}]


def make(**kwargs: object) -> SConvKAN2d:
    torch.manual_seed(0)
    conv = SConvKAN2d(2, 5, 3, candidates=POOL, dtype=torch.float64, **kwargs)  # type: ignore[arg-type]
    with torch.no_grad():
        conv.kan.alpha.copy_(torch.randn_like(conv.kan.alpha))
    return conv


def naive(conv: SConvKAN2d, x: torch.Tensor) -> torch.Tensor:
    cols = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)
    y = conv.kan(cols.transpose(1, 2))                              # (B, L, O)
    b, h_out = x.shape[0], (x.shape[2] + 2 * conv.padding[0] - 3) // conv.stride[0] + 1
    return y.transpose(1, 2).reshape(b, conv.out_channels, h_out, -1)


@pytest.mark.parametrize("stage", ["full", "selective", "pruned"])
@pytest.mark.parametrize("chunk_size", [None, 3, 40])
def test_matches_the_unfold_reference(stage: str, chunk_size: int | None) -> None:
    conv = make(padding=1, stride=2, chunk_size=chunk_size)
    conv.to_stage(stage)  # type: ignore[arg-type]
    x = torch.randn(2, 2, 7, 7, dtype=torch.float64)
    torch.testing.assert_close(conv(x), naive(conv, x))
    assert conv(x).shape == (2, 5, 4, 4)


def test_stage_api_delegates_and_pruning_is_exact() -> None:
    conv = make(padding=1)
    x = torch.randn(2, 2, 5, 5, dtype=torch.float64)
    names = ["powerslinear", "powerslinear_2", "powerslinear_3"]
    assert conv.stage == "full" and list(conv.candidates) == names
    conv(x).sum().backward()
    assert all(p.grad is not None for p in conv.parameters())
    conv.zero_grad()
    conv.to_stage("selective")
    chosen = conv.selection()
    y = conv(x).detach()
    before = sum(p.numel() for p in conv.parameters() if p.requires_grad)
    conv.prune()
    assert conv.stage == "pruned" and torch.equal(conv.selection(), chosen)
    torch.testing.assert_close(conv(x), y)
    after = sum(p.numel() for p in conv.parameters() if p.requires_grad)
    assert after < before
    conv(x).sum().backward()
    for name, p in conv.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    with pytest.raises(ValueError, match="must not go back"):
        conv.to_stage("selective")


def test_pruned_state_dict_loads_into_a_fresh_module() -> None:
    conv = make(padding=1)
    conv.prune()
    torch.manual_seed(1)
    fresh = SConvKAN2d(2, 5, 3, candidates=POOL, padding=1, dtype=torch.float64)
    fresh.load_state_dict(conv.state_dict())
    assert fresh.stage == "pruned"
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(fresh(x), conv(x))
    assert fresh.no_weight_decay() == {"layers.0.alpha"}


def test_gradcheck() -> None:
    conv = make(padding=1, chunk_size=4)
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x,), fast_mode=True)


def test_bad_hyperparameters_raise() -> None:
    with pytest.raises(ValueError, match="`kernel_size` must be an int >= 1"):
        SConvKAN2d(1, 2, 0, candidates=POOL)
    with pytest.raises(ValueError, match="`candidates` must be a non-empty list"):
        SConvKAN2d(1, 2, 3, candidates=[])
    with pytest.raises(ValueError, match="Did you mean 's_kan'"):
        SConvKAN2d(1, 2, 3, candidates=["s_kna"])
    with pytest.raises(ValueError, match="`stage` must be one of"):
        make().to_stage("half")  # type: ignore[arg-type]


def test_default_pool_chunks_a_mnist_batch() -> None:
    seen: list[int] = []
    conv = SConvKAN2d(1, 32, 3, memory_budget=2**20)
    conv.kan.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    x = torch.rand(8, 1, 28, 28)
    per_row = conv.row_cost(x) * x.element_size()                  # basis floats per window
    with torch.no_grad():
        y = conv(x)
    assert y.shape == (8, 32, 26, 26)
    assert sum(seen) == 8 * 26 * 26 and len(seen) > 1
    assert max(seen) * per_row <= conv.memory_budget               # bounded largest intermediate
