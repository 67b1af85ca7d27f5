from __future__ import annotations

import logging

import pytest
import torch

from kanlab.layers import _compile
from kanlab.layers._compile import (
    AUTO_MIN_ENTRIES,
    AUTO_MIN_WORK,
    CALL_OVERHEAD,
    Kernel,
    use_compiled,
)


def _double(x: torch.Tensor, *, scale: float) -> torch.Tensor:
    return x * scale * 2


def test_policy_size_threshold_setting_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANLAB_COMPILE", raising=False)
    assert not use_compiled(None, AUTO_MIN_ENTRIES - 1)
    assert use_compiled(None, AUTO_MIN_ENTRIES)
    assert use_compiled(True, 1) and not use_compiled(False, 10 * AUTO_MIN_ENTRIES)
    # the environment sets the default (None); an explicit setting always wins
    monkeypatch.setenv("KANLAB_COMPILE", "0")
    assert not use_compiled(None, 10 * AUTO_MIN_ENTRIES)
    assert use_compiled(True, 1)
    monkeypatch.setenv("KANLAB_COMPILE", "1")
    assert use_compiled(None, 1)
    assert not use_compiled(False, 10 * AUTO_MIN_ENTRIES)


def test_policy_compiles_once_eager_work_at_one_shape_reaches_a_compilation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each call adds its entries + CALL_OVERHEAD to the layer's eager work at that shape; at
    AUTO_MIN_WORK the calls switch. Other shapes and layers count apart; uncounted calls
    (no caller) and explicit settings keep their answer."""
    monkeypatch.delenv("KANLAB_COMPILE", raising=False)
    layer, other = torch.nn.Identity(), torch.nn.Identity()
    entries = 64 * 784 * 8
    eager_calls = -(-AUTO_MIN_WORK // (entries + CALL_OVERHEAD))  # ceil: 2018 calls

    def calls(caller: object, shape: tuple[int, ...], n: int, size: int = entries) -> list[bool]:
        return [use_compiled(None, size, caller=caller, shape=shape) for _ in range(n)]

    assert calls(layer, (64, 784), eager_calls) == [False] * eager_calls
    assert calls(layer, (64, 784), 2) == [True, True]
    assert calls(layer, (24, 784), 1) == [False]        # the short last batch counts apart
    assert calls(other, (64, 784), 1) == [False]        # so does another layer
    # a toy shape pays the per-call overhead only: AUTO_MIN_WORK / CALL_OVERHEAD calls
    toy = calls(layer, (4, 2), AUTO_MIN_WORK // CALL_OVERHEAD + 1, size=0)
    assert toy.index(True) == AUTO_MIN_WORK // CALL_OVERHEAD
    assert not use_compiled(None, entries)              # no caller: not counted
    assert not use_compiled(False, entries, caller=layer, shape=(64, 784))  # explicit wins
    monkeypatch.setenv("KANLAB_COMPILE", "0")
    assert not use_compiled(None, entries, caller=layer, shape=(64, 784))


def test_a_training_layer_switches_to_the_compiled_kernels_after_its_eager_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through a real layer: eager until its work at one shape reaches AUTO_MIN_WORK (here
    three calls' worth), compiled after, with values that agree (the "compiler" here returns
    the kernel itself, so they are equal)."""
    from kanlab.layers.kan.b_spline_kan import BSplineKANLinear

    monkeypatch.delenv("KANLAB_COMPILE", raising=False)
    compiled: list[object] = []

    def recording_get(kernel: Kernel, static: object, nones: object = ()) -> object:
        # no compiled copy is kept
        compiled.append(kernel.fn)
        return kernel.fn

    monkeypatch.setattr(Kernel, "_get", recording_get)
    x = torch.rand(32, 64) * 2 - 1                      # 32 x 64 x 8 bases per call
    monkeypatch.setattr(_compile, "AUTO_MIN_WORK", 3 * (32 * 64 * 8 + CALL_OVERHEAD))
    layer = BSplineKANLinear(64, 8)
    outputs = []
    for _ in range(4):
        out = layer(x)
        out.sum().backward()
        outputs.append(out.detach())
        assert bool(compiled) == (len(outputs) == 4)
    torch.testing.assert_close(outputs[0], outputs[-1])


def test_gr_kan_does_not_count_its_calls_and_relu_kan_does() -> None:
    """GR-KAN's small calls stay eager however many come: nothing is counted for them;
    ReLU-KAN counts its calls like the other fused KAN layers."""
    from kanlab.layers.kan.gr_kan import GRKANLinear
    from kanlab.layers.kan.relu_kan import ReLUKANLinear

    gr, relu = GRKANLinear(64, 8), ReLUKANLinear(64, 8)
    for layer in (gr, relu):
        layer(torch.rand(32, 64)).sum().backward()
    assert gr not in _compile._WORK
    assert _compile._WORK[relu] == {(32, 64): 32 * 64 * relu.num_bases + CALL_OVERHEAD}


def test_cost_weighs_the_entries_not_the_call_overhead() -> None:
    layer = torch.nn.Identity()
    use_compiled(None, 1000, caller=layer, shape=(10, 100), cost=4)
    assert _compile._WORK[layer] == {(10, 100): 4000 + CALL_OVERHEAD}


@pytest.mark.parametrize("name", ["crrelu", "eafo"])
def test_an_activation_switches_to_the_compiled_kernels_after_its_eager_budget(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CRReLU and EAFO count their calls per module and shape, each element ELEMENT_COST
    entries: eager for three calls' worth of work here, compiled from the fourth."""
    from kanlab import create_activation
    from kanlab.layers.activations import _fused

    monkeypatch.delenv("KANLAB_COMPILE", raising=False)
    compiled: list[object] = []

    def recording_get(kernel: Kernel, static: object) -> object:
        compiled.append(kernel.fn)
        return kernel.fn

    monkeypatch.setattr(Kernel, "_get", recording_get)
    x = torch.randn(16, 32, requires_grad=True)
    monkeypatch.setattr(
        _compile, "AUTO_MIN_WORK", 3 * (x.numel() * _fused.ELEMENT_COST + CALL_OVERHEAD)
    )
    act = create_activation(name)
    outputs = []
    for i in range(4):
        out = act(x)
        out.sum().backward()
        outputs.append(out.detach())
        assert bool(compiled) == (i == 3)
    assert act in _compile._WORK and act.compile_kernels is None
    torch.testing.assert_close(outputs[0], create_activation(name)(x).detach())


def test_compile_failure_falls_back_to_eager_once_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_compile(fn: object, **options: object) -> object:
        def run(*args: object, **kwargs: object) -> object:
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(_compile.torch, "compile", broken_compile)
    kernel = Kernel(_double)
    x = torch.arange(3.0)
    with caplog.at_level(logging.WARNING, logger=_compile.__name__):
        first = kernel(x, compiled=True, scale=1.5)
        second = kernel(x, compiled=True, scale=1.5)
    torch.testing.assert_close(first, x * 3)
    torch.testing.assert_close(second, x * 3)
    assert kernel.failed
    warnings = [r for r in caplog.records if "failed, running it eagerly" in r.getMessage()]
    assert len(warnings) == 1 and "no C++ compiler" in warnings[0].getMessage()


def test_each_static_configuration_gets_its_own_code_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dynamo's recompile limit counts per code object: configurations must not share one."""
    seen: list[object] = []

    def recording_compile(fn: object, **options: object) -> object:
        seen.append(fn.__code__)  # type: ignore[attr-defined]
        return fn

    monkeypatch.setattr(_compile.torch, "compile", recording_compile)
    kernel = Kernel(_double)
    x = torch.ones(2)
    for scale in (1.0, 2.0, 1.0):
        torch.testing.assert_close(kernel(x, compiled=True, scale=scale), x * 2 * scale)
    assert len(seen) == 2 and seen[0] is not seen[1]
    assert all(code is not _double.__code__ for code in seen)


def test_a_kernel_keeps_compiling_past_dynamos_default_recompile_limit(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Parameters keep static sizes and each deterministic-mode switch recompiles: a search
    meeting many layer sizes in one process must not exhaust Dynamo's default limit (8 per code
    object), after which it would run the kernel uncompiled, silently."""
    if not _compile._REGION_OPTIONS:
        pytest.skip("this torch has no per-region recompile_limit")
    real_compile = torch.compile
    compiled_calls: list[int] = []

    def counting_backend(gm: torch.fx.GraphModule, example_inputs: object) -> object:
        compiled_calls.append(1)
        return gm.forward

    def dynamo_only(fn: object, **options: object) -> object:  # Dynamo's limit, no Inductor
        return real_compile(fn, backend=counting_backend, **options)  # type: ignore[call-overload]

    monkeypatch.setattr(_compile.torch, "compile", dynamo_only)
    kernel = Kernel(_double)
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        with caplog.at_level(logging.WARNING, logger="torch._dynamo"), torch.no_grad():
            for size in range(1, 11):
                torch.use_deterministic_algorithms(size % 2 == 0)
                weight = torch.nn.Parameter(torch.ones(size))
                torch.testing.assert_close(kernel(weight, compiled=True, scale=1.5), weight * 3)
    finally:
        torch.use_deterministic_algorithms(deterministic)
    assert not [r for r in caplog.records if "recompile_limit" in r.getMessage()]
    assert len(compiled_calls) == 10  # every size compiled: none fell back to eager


@pytest.mark.parametrize("basis_major", [True, False])
def test_the_weight_assembly_is_never_compiled_and_equals_its_expression_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, basis_major: bool,
) -> None:
    """The assembly ``[W_b | S * W_s]`` is data movement and one multiply: eager in every
    layer and call (compiled, every layer size, missing input and deterministic-mode flag was
    a recompilation, and a grid search reached Dynamo's limit of 8), the bits of
    :func:`weight_expression` for any sizes, optional inputs and coefficient layout."""
    from kanlab.layers.kan._fused._weight import (
        assemble_weight,
        basis_major_empty,
        weight_expression,
    )

    def no_compile(fn: object, **options: object) -> object:
        raise AssertionError("the weight assembly must not be compiled")

    monkeypatch.setattr(_compile.torch, "compile", no_compile)
    torch.manual_seed(0)
    with torch.no_grad():  # how the fused layers call it: inside an autograd.Function
        for out_features, in_features, n_basis in ((12, 9, 4), (3, 4, 7), (1, 1, 1)):
            spline = (basis_major_empty(out_features, in_features, n_basis) if basis_major
                      else torch.empty(out_features, in_features, n_basis)).normal_()
            base = torch.randn(out_features, in_features)
            scaler = torch.randn(out_features, in_features)
            for b, s in ((base, scaler), (None, None), (base, None), (None, scaler)):
                got = assemble_weight(b, spline, s)
                assert got.shape == (out_features, (int(b is not None) + n_basis) * in_features)
                assert torch.equal(got, weight_expression(b, spline, s))


def test_the_weight_assembly_traces_into_a_compiled_model_without_a_graph_break() -> None:
    """Inside a user's ``torch.compile`` region (``trainer.compile: true``) the assembly must
    not split the graph: the eager form's ``out=`` writes into strided slices would (one break
    per layer call, and then Dynamo's recompilation limit on the layer's entry function)."""
    import torch._dynamo

    from kanlab.layers.kan._fused._weight import (
        assemble_weight,
        basis_major_empty,
        weight_expression,
    )

    torch._dynamo.reset()
    spline = basis_major_empty(5, 4, 3).normal_()
    base, scaler = torch.randn(5, 4), torch.randn(5, 4)
    explained = torch._dynamo.explain(assemble_weight)(base, spline, scaler)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert torch.equal(torch.compile(assemble_weight)(base, spline, scaler),
                       weight_expression(base, spline, scaler))


def test_eager_form_is_used_without_compilation() -> None:
    calls: list[str] = []

    def fused(x: torch.Tensor) -> torch.Tensor:
        calls.append("fused")
        return x + 1

    def eager(x: torch.Tensor) -> torch.Tensor:
        calls.append("eager")
        return x + 1

    Kernel(fused, eager=eager)(torch.zeros(1), compiled=False)
    assert calls == ["eager"]
