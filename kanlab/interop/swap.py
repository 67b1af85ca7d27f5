"""Replace activations, linear layers, MLP blocks or convolutions inside an existing model.

``swap_activations`` / ``swap_linear`` / ``swap_mlps`` / ``swap_convs`` walk
``named_modules(remove_duplicate=False)`` and call ``set_submodule`` per
path, so a module object reused at several places (torchvision ResNet's shared ``relu``) gets
one fresh replacement per position. They work on any ``nn.Module`` and import no timm: timm's
own activation classes (``timm.layers.activations.GELU``, ``Swish``, ...) are recognised by
module and class name.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from kanlab.interop.blocks import kan_mlp_layer
from kanlab.registry import ACTIVATIONS, LAYERS

__all__ = ["ACTIVATION_TYPES", "swap_activations", "swap_convs", "swap_linear", "swap_mlps"]

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


def _is_mlp(module: nn.Module) -> bool:
    """A timm-style ``Mlp`` block: ``fc1`` and ``fc2`` plain ``nn.Linear`` (timm's ``Mlp``,
    kanlab's own ``mlp`` blocks are not of this form; GLU variants are left alone)."""
    return (
        type(module).__name__ == "Mlp"
        and type(getattr(module, "fc1", None)) is nn.Linear
        and type(getattr(module, "fc2", None)) is nn.Linear
    )


def _device_dtype(module: nn.Module) -> dict[str, Any]:
    param = next(module.parameters(), None)
    return {} if param is None else {"device": param.device, "dtype": param.dtype}


def swap_mlps(
    model: nn.Module,
    layer: Spec,
    *,
    where: str | Callable[[str, nn.Module], bool] = "all",
) -> list[str]:
    """Replace timm-style MLP blocks (``fc1 -> act -> drop -> norm -> fc2 -> drop``) by
    :class:`~kanlab.interop.blocks.KANMlp` blocks of the linear KAN layer ``layer``.

    The widths come from the old ``fc1`` / ``fc2``; its dropout rates and norm module are kept;
    the KAN layers are freshly initialised and moved to the old block's device and dtype. This
    is the in-place counterpart of ``timm.create_model(..., mlp_layer=kan_mlp_layer(layer))``.

    Args:
        model: Changed in place.
        layer: A linear layer spec (``gr_kan``, ``{name: fast_kan, grid_size: 4}``, a class).
        where: ``all``, a glob over module paths (``"blocks.*.mlp"``) or a predicate.

    Returns:
        The replaced module paths, in model order.

    Raises:
        ValueError: for an unknown or non-linear ``layer``, or when no MLP block matches.
    """
    cls = kan_mlp_layer(layer)
    chosen = _matcher(where)
    targets = [
        name for name, m in model.named_modules(remove_duplicate=False)
        if name and _is_mlp(m) and chosen(name, m)
    ]
    if not targets:
        raise ValueError(
            f"`where` must match at least one timm-style Mlp block (fc1/fc2 nn.Linear), but "
            f"got where={where!r} on {type(model).__name__}."
        )
    for name in targets:
        old = model.get_submodule(name)
        fc1, fc2 = old.get_submodule("fc1"), old.get_submodule("fc2")
        assert isinstance(fc1, nn.Linear) and isinstance(fc2, nn.Linear)
        drop1, drop2 = (
            float(getattr(getattr(old, attr, None), "p", 0.0)) for attr in ("drop1", "drop2")
        )
        new = cls(fc1.in_features, fc1.out_features, fc2.out_features, drop=(drop1, drop2),
                  **_device_dtype(old))
        norm = getattr(old, "norm", None)
        if isinstance(norm, nn.Module) and not isinstance(norm, nn.Identity):
            new.norm = norm
        model.set_submodule(name, new)
    return targets


CONV_OPTIONS = ("stride", "padding", "dilation", "groups")


def _conv_kwargs(conv: nn.Conv2d, target: Callable[..., Any]) -> dict[str, Any] | None:
    """Keyword arguments that rebuild ``conv``'s geometry with ``target``, or None when the
    target cannot (string padding, non-zero padding mode, an option it does not take)."""
    if isinstance(conv.padding, str) or conv.padding_mode != "zeros":
        return None
    accepted = inspect.signature(target).parameters
    kwargs: dict[str, Any] = {}
    for key in CONV_OPTIONS:
        value = getattr(conv, key)
        default = 1 if key in ("stride", "dilation", "groups") else 0
        if value in (default, (default, default)):
            continue
        if key not in accepted:
            return None
        kwargs[key] = tuple(value) if isinstance(value, tuple) else value
    return kwargs


def swap_convs(
    model: nn.Module,
    layer: Spec,
    *,
    where: str | Callable[[str, nn.Module], bool] = "all",
) -> list[str]:
    """Replace ``nn.Conv2d`` modules by KAN convolutions (``kan_conv2d``, ``s_conv_kan``, any
    layer registered with ``kind="conv2d"``) where the shapes allow.

    Each new layer is ``LAYERS.build(layer, in_channels, out_channels, kernel_size,
    stride=..., padding=..., dilation=..., groups=...)`` with the old convolution's geometry
    (options at their defaults are not passed), freshly initialised, on the old layer's device
    and dtype. A convolution is left alone, and not listed, when the new layer cannot
    reproduce its output shape: string padding (``"same"``), a padding mode other than
    zeros, or a non-default option the layer does not take (``s_conv_kan`` has no ``groups``:
    depthwise convolutions stay).

    Args:
        model: Changed in place.
        layer: A conv layer spec (``kan_conv2d``, ``{name: kan_conv2d, layer: fast_kan}``).
        where: ``all``, a glob over module paths (``"layer1.*"``) or a predicate.

    Returns:
        The replaced module paths, in model order.

    Raises:
        ValueError: for an unknown layer or one whose kind is not ``conv2d``, or when no
            convolution could be replaced.
    """
    raw: dict[str, Any] = dict(layer) if isinstance(layer, Mapping) else {"name": layer}
    name = raw["name"]
    target = LAYERS.get(name) if isinstance(name, str) else name
    if isinstance(name, str) and LAYERS.entry(name).meta.get("kind") != "conv2d":
        kind = LAYERS.entry(name).meta.get("kind", "linear")
        raise ValueError(
            f"`layer` must be a conv layer (kind 'conv2d'), but got layer={name!r} "
            f"(kind {kind!r})."
        )
    chosen = _matcher(where)
    targets: list[tuple[str, dict[str, Any]]] = []
    for path, m in model.named_modules(remove_duplicate=False):
        if path and type(m) is nn.Conv2d and chosen(path, m):
            kwargs = _conv_kwargs(m, target)
            if kwargs is not None:
                targets.append((path, kwargs))
    if not targets:
        raise ValueError(
            f"`where` must match at least one nn.Conv2d the layer can replace, but got "
            f"where={where!r} on {type(model).__name__}."
        )
    for path, kwargs in targets:
        old = model.get_submodule(path)
        assert isinstance(old, nn.Conv2d)
        new = LAYERS.build(raw, old.in_channels, old.out_channels, tuple(old.kernel_size),
                           **kwargs)
        model.set_submodule(path, new.to(device=old.weight.device, dtype=old.weight.dtype))
    return [path for path, _ in targets]
