"""What a KAN module can do, as named protocols, and one walker that finds the modules that can.

Layers do not inherit from these: a module *has* a capability when it has the methods (the
protocols are ``runtime_checkable``, so ``isinstance(m, GridUpdatable)`` asks exactly that).

- :class:`HasBasis` — ``basis(x) -> (*, in_features, n_basis)``: the per-input basis (B-spline,
  RBF, ReLU-KAN, Chebyshev, wavelet, AF-KAN features).
- :class:`GridUpdatable` — ``update_grid(x, margin=...)``: refit the grid to the inputs ``x``.
- :class:`Staged` — ``stage`` and ``to_stage("full" | "selective" | "pruned")`` (S-KAN).
- :class:`Regularized` — ``regularization_loss(regularize_activation, regularize_entropy)``
  (the KAN paper's L1 + entropy penalty).
- :class:`NoWeightDecay` — timm's ``no_weight_decay() -> set[str]``: parameter names (relative
  to the module) the optimiser must not decay.

:func:`modules_with` walks a model for one capability; the helpers below it are what models
(``kan_mlp``, ``kan_convnet``) forward their hooks to and what the training system and
callbacks call, so no code probes for method names with ``getattr``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar, cast, runtime_checkable

import torch
from torch import Tensor, nn

__all__ = [
    "GridUpdatable",
    "HasBasis",
    "NoWeightDecay",
    "Regularized",
    "Staged",
    "modules_with",
    "no_weight_decay",
    "regularization_loss",
    "stage_of",
    "to_stage",
]


@runtime_checkable
class HasBasis(Protocol):
    """A layer with one basis per input: ``basis(x)`` is ``(*, in_features, n_basis)``."""

    def basis(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class GridUpdatable(Protocol):
    """A layer (or model) whose grid can be refitted to data: ``update_grid(x, margin)``."""

    def update_grid(self, x: Tensor, margin: float = ...) -> None: ...


@runtime_checkable
class Staged(Protocol):
    """An S-KAN-style layer (or model) with training stages ``full -> selective -> pruned``."""

    @property
    def stage(self) -> str | None: ...

    def to_stage(self, stage: str) -> None: ...


@runtime_checkable
class Regularized(Protocol):
    """A layer (or model) with the KAN paper's sparsity penalty."""

    def regularization_loss(
        self, regularize_activation: float = ..., regularize_entropy: float = ...
    ) -> Tensor: ...


@runtime_checkable
class NoWeightDecay(Protocol):
    """timm's hook: parameter names (relative to this module) exempt from weight decay."""

    def no_weight_decay(self) -> set[str]: ...


C = TypeVar("C")


def modules_with(
    model: nn.Module, capability: Callable[..., C], *, outermost: bool = True
) -> Iterator[tuple[str, C]]:
    """``(qualified name, module)`` of the descendants of ``model`` that have ``capability``.

    ``model`` itself is not included (a model forwarding a hook to its layers has the
    capability too). With ``outermost`` (default), the descendants of a found module are not
    searched: an S-KAN layer is one ``Regularized`` module even if its candidates are too.
    Order is the modules' registration order, i.e. the forward order of sequential models.
    (``capability`` is typed as a callable because mypy refuses protocol classes as
    ``type[C]``; pass the protocol class itself.)
    """
    cls = cast(type, capability)

    def walk(module: nn.Module, prefix: str) -> Iterator[tuple[str, C]]:
        for name, child in module.named_children():
            qualified = f"{prefix}.{name}" if prefix else name
            if isinstance(child, cls):
                yield qualified, cast(C, child)
                if outermost:
                    continue
            yield from walk(child, qualified)

    yield from walk(model, "")


def regularization_loss(
    model: nn.Module, regularize_activation: float = 1.0, regularize_entropy: float = 1.0
) -> Tensor:
    """Sum of the outermost :class:`Regularized` modules' losses (0 when there is none)."""
    total = torch.zeros((), device=next(model.parameters()).device)
    for _, module in modules_with(model, Regularized):
        total = total + module.regularization_loss(regularize_activation, regularize_entropy)
    return total


def stage_of(model: nn.Module) -> str | None:
    """The stage shared by the outermost :class:`Staged` modules (``None``: none, or mixed)."""
    stages = {str(module.stage) for _, module in modules_with(model, Staged)}
    return stages.pop() if len(stages) == 1 else None


def to_stage(model: nn.Module, stage: str) -> None:
    """Move every outermost :class:`Staged` module to ``stage``.

    Raises:
        ValueError: when ``model`` has no staged module.
    """
    staged = [module for _, module in modules_with(model, Staged)]
    if not staged:
        raise ValueError(
            f"`to_stage` needs a layer with stages (s_kan, s_conv_kan), but got a "
            f"{type(model).__name__} without any."
        )
    for module in staged:
        module.to_stage(stage)


def no_weight_decay(model: nn.Module) -> set[str]:
    """Names (relative to ``model``) that any descendant exempts from weight decay."""
    names: set[str] = set()
    for prefix, module in modules_with(model, NoWeightDecay, outermost=False):
        names.update(f"{prefix}.{n}" for n in module.no_weight_decay())
    return names
