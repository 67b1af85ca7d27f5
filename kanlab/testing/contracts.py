"""Registry contract suites: what every registered component must do, as reusable pytest classes.

Like ``optuna.testing``'s test-case classes, each suite is a class of pytest tests that runs
for the entry names its ``entry_name`` fixture gives. kanlab's own tests run them over every
entry of every registry; a user checks a component of their own with one subclass::

    import pytest
    from kanlab.testing import LayerContract

    class TestMyKAN(LayerContract):
        @pytest.fixture
        def entry_name(self) -> str:
            return "my_kan"                        # registered with @LAYERS.register("my_kan")

Every suite checks that the entry

- builds from its example config (``{name: ..., **meta["example_hparams"]}``, validated as a
  config would be, plus the wiring the framework passes itself: widths, the optimiser, ...);
- round-trips through YAML (the validated spec, dumped and loaded again, is equal and builds);
- rejects an unknown key with a :class:`~kanlab.errors.ConfigError` naming its dotted path;
- has a one-line summary (docstring or ``summary=`` metadata) for ``kanlab list``.

Suites add what their kind promises: layers keep leading dimensions and give every parameter
a gradient, activations keep shapes and pass gradcheck, data modules declare their task, ...

The suites need ``pytest`` (the ``dev`` extra); the Optuna and Lightning suites import those
libraries when they run.
"""

from __future__ import annotations

import copy
import re
from typing import Any, ClassVar

import pytest
import torch
import yaml
from torch import nn

from kanlab.config import ConfigError, OptimConfig, Spec, from_dict, to_dict, validate_spec
from kanlab.registry import (
    ACTIVATIONS,
    CALLBACKS,
    DATAMODULES,
    LAYERS,
    MODELS,
    OPTIMIZERS,
    SCHEDULERS,
    Entry,
    Registry,
)

__all__ = [
    "ActivationContract",
    "CallbackContract",
    "DataModuleContract",
    "LayerContract",
    "ModelContract",
    "OptimizerContract",
    "PrunerContract",
    "RegistryContract",
    "SamplerContract",
    "SchedulerContract",
]

UNKNOWN_KEY = "no_such_key"


def _inherits(obj: Any, library: str, base: str) -> bool:
    """``obj`` is an instance of ``library``'s class ``base``, checked by name: Lightning and
    Optuna are imported only where the house rules allow (lit/, data/; search/, results/)."""
    return any(
        c.__name__ == base and c.__module__.startswith(f"{library}.")
        for c in type(obj).__mro__
    )


class RegistryContract:
    """Base suite: an entry of ``registry()`` builds, round-trips and rejects unknown keys.

    Subclasses set ``path`` (where such a spec sits in a config, for messages) and override
    :meth:`registry`, :meth:`wiring` (positional/keyword arguments the framework passes) and
    :meth:`check_built` (what the built object must be). Tests get the entry's key from the
    ``entry_name`` fixture, which the concrete test class provides.
    """

    path: ClassVar[str] = "spec"

    @pytest.fixture
    def entry_name(self) -> str:
        raise NotImplementedError("Override the `entry_name` fixture with the key under test.")

    def registry(self) -> Registry[Any]:
        raise NotImplementedError

    def entry(self, name: str) -> Entry[Any]:
        return self.registry().entry(name)

    def example(self, name: str) -> dict[str, Any]:
        """The entry's example config: ``{name: ..., **meta["example_hparams"]}``."""
        return {"name": name, **copy.deepcopy(dict(self.entry(name).meta.get("example_hparams",
                                                                              {})))}

    def wiring(self, name: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Arguments the framework passes itself when building ``name`` (none by default)."""
        return (), {}

    def spec(self, name: str) -> Spec:
        """The example config validated as a config file's would be."""
        return validate_spec(self.registry(), self.example(name), self.path)

    def build(self, spec: Spec) -> Any:
        args, kwargs = self.wiring(spec.name)
        return spec.build(self.registry(), *args, **kwargs)

    def check_built(self, name: str, obj: Any) -> None:
        """What the built object must be (overridden per kind)."""
        assert obj is not None

    # ------------------------------------------------------------------ the contract

    def test_builds_from_example_config(self, entry_name: str) -> None:
        torch.manual_seed(0)
        self.check_built(entry_name, self.build(self.spec(entry_name)))

    def test_round_trips_through_yaml(self, entry_name: str) -> None:
        spec = self.spec(entry_name)
        text = yaml.safe_dump(spec.to_dict(), sort_keys=False)
        again = validate_spec(self.registry(), yaml.safe_load(text), self.path)
        assert again == spec, f"{entry_name}: {spec} != {again} after YAML"
        torch.manual_seed(0)
        self.check_built(entry_name, self.build(again))

    def test_rejects_unknown_key(self, entry_name: str) -> None:
        raw = {**self.example(entry_name), UNKNOWN_KEY: 1}
        where = re.escape(f"{self.path}.{UNKNOWN_KEY}")
        with pytest.raises(ConfigError, match=rf"Unknown key `{where}`"):
            validate_spec(self.registry(), raw, self.path)

    def test_has_a_summary(self, entry_name: str) -> None:
        assert self.entry(entry_name).summary, (
            f"{entry_name}: give the class a docstring or register it with summary=..."
        )


# --------------------------------------------------------------------------- torch side


class LayerContract(RegistryContract):
    """Layers (``kind: linear``: ``(*, in) -> (*, out)``; ``kind: conv2d``: NCHW)."""

    path = "model.layer"

    def registry(self) -> Registry[Any]:
        return LAYERS

    def is_conv(self, name: str) -> bool:
        return bool(self.entry(name).meta.get("kind", "linear") == "conv2d")

    def wiring(self, name: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return ((3, 4, 3) if self.is_conv(name) else (6, 4)), {}

    def example_input(self, name: str) -> tuple[torch.Tensor, tuple[int, ...]]:
        """An input and the leading output dims it must give."""
        if self.is_conv(name):
            return torch.randn(2, 3, 8, 8), (2, 4)
        return torch.randn(2, 3, 6), (2, 3, 4)

    def check_built(self, name: str, obj: Any) -> None:
        assert isinstance(obj, nn.Module), f"{name}: built {type(obj).__name__}, not a Module"
        assert self.entry(name).meta.get("kind", "linear") in ("linear", "conv2d"), (
            f"{name}: register with kind='linear' or kind='conv2d'"
        )

    def test_forward_keeps_leading_dims_and_trains_every_parameter(
        self, entry_name: str
    ) -> None:
        torch.manual_seed(0)
        layer = self.build(self.spec(entry_name))
        x, lead = self.example_input(entry_name)
        y = layer(x)
        assert y.shape[: len(lead)] == lead, f"{entry_name}: leading dims not kept, {y.shape}"
        assert torch.isfinite(y).all(), f"{entry_name}: non-finite output"
        y.square().mean().backward()
        missing = [n for n, p in layer.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, f"{entry_name}: allocated but unused parameters {missing}"

    def test_rejects_a_wrong_input_width(self, entry_name: str) -> None:
        layer = self.build(self.spec(entry_name))
        x, _ = self.example_input(entry_name)
        if self.is_conv(entry_name):
            with pytest.raises(ValueError):                  # conv layers word it per channel
                layer(x[:, :-1])
        else:
            with pytest.raises(ValueError, match="last dim"):
                layer(x[..., :-1])

    def test_basis_shape(self, entry_name: str) -> None:
        from kanlab.capabilities import HasBasis

        layer = self.build(self.spec(entry_name))
        if self.is_conv(entry_name) or not isinstance(layer, HasBasis):
            pytest.skip(f"{entry_name} has no per-input basis (declares no basis())")
        b = layer.basis(torch.randn(5, 6))                    # (B, in) -> (B, in, M)
        assert b.dim() == 3 and b.shape[:2] == (5, 6), f"{entry_name}: basis shape {b.shape}"


def _distinct(*shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Values with distinct magnitudes (no top-k ties, also by |x|), >= 0.08 away from 0."""
    n = 1
    for s in shape:
        n *= s
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1)).to(dtype)
    return ((perm - (n - 1) / 2) * 0.3 + 0.07).reshape(shape)


class ActivationContract(RegistryContract):
    """Activations: shape-preserving modules (timm's ``act_layer(inplace=...)`` included)."""

    path = "model.activation"

    def registry(self) -> Registry[Any]:
        return ACTIVATIONS

    def check_built(self, name: str, obj: Any) -> None:
        assert isinstance(obj, nn.Module), f"{name}: built {type(obj).__name__}, not a Module"
        assert isinstance(self.entry(name).meta.get("elementwise"), bool), (
            f"{name}: register with elementwise=True or False"
        )

    def make(self, name: str, **kwargs: Any) -> nn.Module:
        torch.manual_seed(0)
        module: nn.Module = self.build(
            validate_spec(ACTIVATIONS, {**self.example(name), **kwargs}, self.path)
        )
        return module

    @pytest.mark.parametrize("shape", [(2, 3, 8), (5, 8)])
    def test_shape_finite_and_gradients(self, entry_name: str, shape: tuple[int, ...]) -> None:
        act = self.make(entry_name)
        x = torch.randn(*shape, requires_grad=True)
        y = act(x)
        assert y.shape == x.shape, f"{entry_name}: shape {tuple(y.shape)} != {shape}"
        assert torch.isfinite(y).all(), f"{entry_name}: non-finite output"
        (y * torch.randn_like(y)).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        for pname, p in act.named_parameters():
            if p.requires_grad:
                assert p.grad is not None, f"{entry_name}: no gradient for {pname}"
                assert torch.isfinite(p.grad).all(), f"{entry_name}: bad gradient for {pname}"

    def test_inplace_accepted_and_equal(self, entry_name: str) -> None:
        plain = self.make(entry_name)
        inplace = self.make(entry_name, inplace=True)           # timm: act_layer(inplace=True)
        inplace.load_state_dict(plain.state_dict())
        x = torch.randn(4, 8)
        expected = plain(x.clone())
        torch.testing.assert_close(inplace(x.clone()), expected)

    def test_gradcheck_float64(self, entry_name: str) -> None:
        if self.entry(entry_name).meta.get("gradcheck", True) is False:
            pytest.skip(f"{entry_name} declares gradcheck=False (its gradient is a surrogate)")
        act = copy.deepcopy(self.make(entry_name)).double().eval()  # eval: EAFO stats stay put
        x = _distinct(2, 8).requires_grad_(True)
        assert torch.autograd.gradcheck(act, (x,), eps=1e-6, atol=1e-5)


class ModelContract(RegistryContract):
    """Models: ``nn.Module``\\ s built from hyperparameters alone (no wiring)."""

    path = "model"

    def registry(self) -> Registry[Any]:
        return MODELS

    def check_built(self, name: str, obj: Any) -> None:
        assert isinstance(obj, nn.Module), f"{name}: built {type(obj).__name__}, not a Module"
        assert sum(p.numel() for p in obj.parameters()) > 0, f"{name}: no parameters"


class OptimizerContract(RegistryContract):
    """Optimisers: ``optim: {name: ..., lr: ..., params: {...}}`` builds a torch optimiser."""

    path = "optim"

    def registry(self) -> Registry[Any]:
        return OPTIMIZERS

    def spec(self, name: str) -> Spec:
        raw = self.example(name)
        cfg = from_dict(OptimConfig, {"name": raw.pop("name"), "params": raw}, self.path)
        return Spec(cfg.name, cfg.params)

    def build(self, spec: Spec) -> Any:
        return OPTIMIZERS.build({**spec.to_dict(), "lr": 1e-3}, nn.Linear(2, 2).parameters())

    def check_built(self, name: str, obj: Any) -> None:
        assert isinstance(obj, torch.optim.Optimizer), f"{name}: built {type(obj).__name__}"

    def test_round_trips_through_yaml(self, entry_name: str) -> None:
        raw = self.example(entry_name)
        cfg = from_dict(OptimConfig, {"name": raw.pop("name"), "params": raw}, self.path)
        text = yaml.safe_dump(to_dict(cfg), sort_keys=False)
        again = from_dict(OptimConfig, yaml.safe_load(text), self.path)
        assert again == cfg
        self.check_built(entry_name, self.build(Spec(again.name, again.params)))

    def test_rejects_unknown_key(self, entry_name: str) -> None:
        raw = self.example(entry_name)
        params = {**{k: v for k, v in raw.items() if k != "name"}, UNKNOWN_KEY: 1}
        where = re.escape(f"{self.path}.params.{UNKNOWN_KEY}")
        with pytest.raises(ConfigError, match=rf"Unknown key `{where}`"):
            from_dict(OptimConfig, {"name": entry_name, "params": params}, self.path)


class SchedulerContract(RegistryContract):
    """Learning-rate schedulers: built around an optimiser the training system passes."""

    path = "optim.scheduler"

    def registry(self) -> Registry[Any]:
        return SCHEDULERS

    def wiring(self, name: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1),), {}

    def check_built(self, name: str, obj: Any) -> None:
        assert hasattr(obj, "step") and hasattr(obj, "state_dict"), f"{name}: not a scheduler"


# --------------------------------------------------------------------------- Lightning side


class DataModuleContract(RegistryContract):
    """Data modules: constructed (no data is read) from the example config; declare a task."""

    path = "data"

    def registry(self) -> Registry[Any]:
        return DATAMODULES

    def check_built(self, name: str, obj: Any) -> None:
        assert _inherits(obj, "lightning", "LightningDataModule"), (
            f"{name}: built {type(obj).__name__}"
        )
        task = self.entry(name).meta.get("task")
        assert task in ("classification", "regression"), (
            f"{name}: register with task='classification' or 'regression', but got {task!r}"
        )


class CallbackContract(RegistryContract):
    """Training callbacks (``trainer.callbacks: [{name: ...}]``): Lightning callbacks."""

    path = "trainer.callbacks.0"

    def registry(self) -> Registry[Any]:
        return CALLBACKS

    def check_built(self, name: str, obj: Any) -> None:
        assert _inherits(obj, "lightning", "Callback"), f"{name}: built {type(obj).__name__}"


# --------------------------------------------------------------------------- Optuna side


class SamplerContract(RegistryContract):
    """Optuna samplers (``sampler: {name: ...}`` in a study YAML)."""

    path = "sampler"
    # what kanlab.search passes for each wiring parameter a sampler declares
    WIRING: ClassVar[dict[str, Any]] = {"search_space": {"x": [0.0, 1.0]}}

    def registry(self) -> Registry[Any]:
        from kanlab.search.samplers import SAMPLERS

        return SAMPLERS

    def wiring(self, name: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (), {k: self.WIRING[k] for k in self.entry(name).meta.get("wiring", ())}

    def check_built(self, name: str, obj: Any) -> None:
        assert _inherits(obj, "optuna", "BaseSampler"), f"{name}: {type(obj).__name__}"


class PrunerContract(RegistryContract):
    """Optuna pruners (``pruner: {name: ...}`` in a study YAML)."""

    path = "pruner"

    def registry(self) -> Registry[Any]:
        from kanlab.search.pruners import PRUNERS

        return PRUNERS

    def check_built(self, name: str, obj: Any) -> None:
        assert _inherits(obj, "optuna", "BasePruner"), f"{name}: {type(obj).__name__}"
