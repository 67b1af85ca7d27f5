"""``bench/train_throughput.py``: the floor + dz model and which layers it applies to, the
paired timing, and the ablation's stand-in kernel call."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from bench._timing import paired_ratio
from bench.train_throughput import (
    FloorModel,
    _basis_has_parameters,
    _first_outputs,
    _interleaved,
    _timed_calls,
    floor_spread,
)
from kanlab.layers._compile import Kernel
from kanlab.registry import LAYERS


@pytest.mark.parametrize(("name", "has"), [
    ("b_spline_kan", False),  # fixed grid: the basis is a function of x alone
    ("fast_kan", True),       # learnable LayerNorm before the RBF basis
    ("relu_kan", True),       # trainable phases
    ("af_kan", True),         # trainable phases
])
def test_basis_has_parameters_where_the_layer_trains_its_basis(name: str, has: bool) -> None:
    layer = LAYERS.build({"name": name, "in_features": 3, "out_features": 2})
    assert _basis_has_parameters(layer, torch.rand(4, 3)) is has


def test_floor_with_input_grad_adds_exactly_the_input_gemm() -> None:
    torch.manual_seed(0)
    plain, dz = FloorModel([3, 4, 2], 2), FloorModel([3, 4, 2], 2, input_grad=True)
    dz.load_state_dict(plain.state_dict())
    wide, y = torch.rand(5, 9), torch.tensor([0, 1, 0, 1, 1])
    calls: dict[str, list[str]] = {}
    for label, model in (("plain", plain), ("dz", dz)):
        with torch.profiler.profile() as prof:
            F.cross_entropy(model(wide), y).backward()  # type: ignore[no-untyped-call]
        calls[label] = [e.name for e in prof.events() if e.name in ("aten::mm", "aten::addmm")]
    assert len(calls["dz"]) == len(calls["plain"]) + 1      # grad @ W of the first layer
    assert wide.grad is None                                  # the caller's tensor is untouched
    for a, b in zip(plain.parameters(), dz.parameters(), strict=True):
        assert a.grad is not None and b.grad is not None
        assert torch.equal(a.grad, b.grad)                    # the same step otherwise


def test_interleaved_runs_each_function_once_per_round_and_ratio_is_per_round() -> None:
    order: list[str] = []
    times = _interleaved([lambda: order.append("a"), lambda: order.append("b")], 4,
                         torch.device("cpu"))
    assert order == ["a", "b"] * 7                            # 3 warm-up rounds + 4 timed
    assert [len(t) for t in times] == [4, 4]
    assert paired_ratio([2.0, 4.0, 9.0], [1.0, 1.0, 3.0]) == 3.0    # median of 2, 4, 3


def _doubling_kernel() -> tuple[Kernel, list[tuple[int, ...]]]:
    """A kernel ``double(x, k=) = x * k`` and the input shapes it has computed, in order."""
    calls: list[tuple[int, ...]] = []

    def double(x: torch.Tensor, *, k: int) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return x * k

    return Kernel(double), calls


def test_the_ablation_computes_each_kernel_once_per_shape_and_options() -> None:
    kernel, calls = _doubling_kernel()
    first = _first_outputs(Kernel.__call__)
    a = first(kernel, torch.ones(2), compiled=False, k=2)
    assert torch.equal(a, torch.full((2,), 2.0))
    assert first(kernel, torch.zeros(2), compiled=False, k=2) is a   # not computed again
    assert first(kernel, torch.ones(3), compiled=False, k=2) is not a  # another shape
    assert first(kernel, torch.ones(2), compiled=False, k=3) is not a  # other options
    assert calls == [(2,), (3,), (2,)]


def test_timed_calls_return_the_first_result_and_time_a_repeat_per_kernel_and_shape() -> None:
    kernel, calls = _doubling_kernel()
    times: dict[tuple[str, tuple[int, ...]], list[tuple[float, float]]] = {}
    timed = _timed_calls(Kernel.__call__, times)
    out = timed(kernel, torch.ones(2), compiled=False, k=2)
    timed(kernel, torch.ones(3), compiled=False, k=2)
    timed(kernel, torch.ones(2), compiled=False, k=2)
    assert torch.equal(out, torch.full((2,), 2.0))
    assert calls == [(2,), (2,), (3,), (3,), (2,), (2,)]  # each call made twice
    assert sorted(times) == [("double", (2,)), ("double", (3,))]
    assert len(times[("double", (2,))]) == 2
    assert all(a >= 0 and b >= 0 for pairs in times.values() for a, b in pairs)


def test_floor_spread_names_only_models_whose_floor_moved_beyond_the_limit() -> None:
    lines = floor_spread({"steady": [2.0, 2.2, 2.4], "moved": [1.8, 2.0, 3.7]})
    assert len(lines) == 1
    assert "moved ranged 1.80-3.70 ms" in lines[0] and "(2.06x)" in lines[0]
    assert floor_spread({}) == []
