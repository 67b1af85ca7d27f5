"""Replace activations or linear layers inside an existing model (timm, torchvision, kanlab).

Both functions walk ``named_modules(remove_duplicate=False)`` and call ``set_submodule`` per
path, so a module object reused at several places (torchvision ResNet's shared ``relu``) gets
one fresh replacement per position. They work on any ``nn.Module`` and import no timm: timm's
own activation classes (``timm.layers.activations.GELU``, ``Swish``, ...) are recognised by
module and class name.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from kanlab.registry import ACTIVATIONS, LAYERS

__all__ = ["ACTIVATION_TYPES", "swap_activations", "swap_linear"]

Spec = str | Mapping[str, Any] | Callable[..., nn.Module]

ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.Mish, nn.LeakyReLU, nn.ELU,
    nn.CELU, nn.SELU, nn.PReLU, nn.Softplus, nn.Tanh,
)
# timm's activation modules are not subclasses of torch's (``act_layer="gelu"`` builds these).
TIMM_ACTIVATION_NAMES = frozenset(
    {"GELU", "GELUTanh", "QuickGELU", "Swish", "HardSwish", "Mish", "PReLU", "Sigmoid",
     "HardSigmoid", "Tanh", "HardMish", "SwishMe", "HardSwishMe", "MishMe", "HardMishMe"}
)
# Gates are left alone by default (SE blocks use them as gates, not as activations).
GATE_NAMES = frozenset({"Sigmoid", "HardSigmoid"})


def _is_activation(module: nn.Module) -> bool:
    cls = type(module)
    if isinstance(module, ACTIVATION_TYPES):
        return True
    return (
        cls.__module__.startswith("timm.layers")
        and cls.__name__ in TIMM_ACTIVATION_NAMES - GATE_NAMES
    )


def _matcher(where: str | Callable[[str, nn.Module], bool]) -> Callable[[str, nn.Module], bool]:
    if callable(where):
        return where
    if where == "all":
        return lambda name, module: True
    return lambda name, module: fnmatch.fnmatchcase(name, where)


def swap_activations(
    model: nn.Module,
    spec: Spec,
    *,
    where: str | Callable[[str, nn.Module], bool] = "all",
) -> list[str]:
    """Replace every activation module of ``model`` with a fresh one built from ``spec``.

    Args:
        model: Changed in place.
        spec: An activation spec (name, ``{name: ..., **hp}`` or a class/factory).
        where: ``all``, a glob over module paths (``"blocks.*.mlp.act"``) or a predicate
            ``(name, module) -> bool`` choosing which activations to replace.

    Returns:
        The replaced module paths, in model order.
    """
    chosen = _matcher(where)
    targets = [
        name for name, m in model.named_modules(remove_duplicate=False)
        if name and _is_activation(m) and chosen(name, m)
    ]
    for name in targets:
        model.set_submodule(name, ACTIVATIONS.build(spec))
    return targets


def swap_linear(
    model: nn.Module,
    layer_spec: Spec,
    *,
    where: str | Callable[[str, nn.Module], bool] = "head",
) -> list[str]:
    """Replace ``nn.Linear`` modules by layers built as ``LAYERS.build(spec, in, out)``.

    The new layers are freshly initialised (no weights are copied) and moved to the old
    layer's device and dtype.

    Args:
        model: Changed in place.
        layer_spec: A layer spec (``relu_kan``, ``{name: b_spline_kan, grid_size: 5}``, class).
        where: ``head`` (the last ``nn.Linear`` in module order, i.e. the classifier), ``all``,
            a glob over module paths (``"blocks.*.mlp.fc*"``) or a predicate.

    Returns:
        The replaced module paths.

    Raises:
        ValueError: if nothing matches ``where``.
    """
    linears = [
        (name, m) for name, m in model.named_modules(remove_duplicate=False)
        if name and type(m) is nn.Linear
    ]
    if where == "head":
        targets = [name for name, _ in linears[-1:]]
    else:
        chosen = _matcher(where)
        targets = [name for name, m in linears if chosen(name, m)]
    if not targets:
        raise ValueError(f"`where` must match at least one nn.Linear, but got where={where!r}.")
    for name in targets:
        old = model.get_submodule(name)
        assert isinstance(old, nn.Linear)
        new = LAYERS.build(layer_spec, old.in_features, old.out_features)
        model.set_submodule(name, new.to(device=old.weight.device, dtype=old.weight.dtype))
    return targets
