"""timm integration: kanlab models as ``kanlab_<model>`` entrypoints, kanlab activations in timm.

This is the only kanlab module that imports timm. Importing it registers one timm entrypoint
per kanlab model, so ``timm.create_model("kanlab_kan_mlp", widths=[784, 64, 10])`` works;
the entrypoints swallow the ``pretrained_cfg``, ``pretrained_cfg_overlay`` and ``cache_dir``
arguments ``timm.create_model`` always passes. ``num_classes`` sets the last width of
width-list models. There are no pretrained kanlab weights.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import timm
from torch import nn

import kanlab  # noqa: F401  (fills MODELS and ACTIVATIONS)
from kanlab.registry import ACTIVATIONS, MODELS

__all__ = ["act_layer_of", "create_backbone", "register_timm_models"]

TIMM_ONLY_KWARGS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def act_layer_of(spec: str | Mapping[str, Any] | Callable[..., nn.Module]) -> Any:
    """A kanlab activation spec as timm's ``act_layer``: the class, or a partial with hparams.

    Every kanlab activation accepts ``inplace``, which timm's ResNet/MobileNet blocks pass.
    """
    if isinstance(spec, Mapping):
        hparams = dict(spec)
        cls = ACTIVATIONS.get(hparams.pop("name"))
        return functools.partial(cls, **hparams) if hparams else cls
    return ACTIVATIONS.get(spec)


def create_backbone(
    arch: str,
    *,
    num_classes: int,
    in_chans: int,
    act_layer: Any = None,
    img_size: int | None = None,
    pretrained: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """``timm.create_model`` with a kanlab activation spec and a clear error for bad names.

    Raises:
        ValueError: for an unknown ``arch`` (with the closest timm names) or an ``act_layer`` /
            ``img_size`` the architecture does not accept.
    """
    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch.split('_')[0]}*")[:5]
        hint = f" Close: {', '.join(close)}." if close else ""
        raise ValueError(f"`arch` must be a timm model name, but got arch={arch!r}.{hint}")
    if act_layer is not None:
        kwargs["act_layer"] = act_layer_of(act_layer)
    if img_size is not None:
        kwargs["img_size"] = img_size
    try:
        return timm.create_model(
            arch, pretrained=pretrained, num_classes=num_classes, in_chans=in_chans, **kwargs
        )
    except TypeError as exc:
        raise ValueError(f"timm model {arch!r} does not accept these arguments: {exc}") from None


def _entrypoint(name: str, target: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    def create(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        for key in TIMM_ONLY_KWARGS:
            kwargs.pop(key, None)
        if pretrained:
            raise ValueError(f"`pretrained` must be False: kanlab model {name!r} has no weights.")
        num_classes = kwargs.pop("num_classes", None)
        if num_classes is not None:
            if "widths" in _parameters(target) and "num_classes" not in _parameters(target):
                widths = list(kwargs.get("widths", _parameters(target)["widths"]))
                kwargs["widths"] = [*widths[:-1], num_classes]
            else:
                kwargs["num_classes"] = num_classes
        return target(**kwargs)

    create.__name__ = create.__qualname__ = f"kanlab_{name}"
    create.__module__ = __name__
    create.__doc__ = f"kanlab model {name!r} as a timm entrypoint (no pretrained weights)."
    return create


def _parameters(target: Callable[..., Any]) -> dict[str, Any]:
    import inspect

    return {
        p.name: p.default for p in inspect.signature(target).parameters.values()
        if p.kind is p.KEYWORD_ONLY
    }


def register_timm_models() -> list[str]:
    """Register ``kanlab_<model>`` for every kanlab model not registered yet; returns names."""
    added = []
    for name in MODELS.names():
        key = f"kanlab_{name}"
        if name == "timm_backbone" or timm.is_model(key):
            continue
        fn = _entrypoint(name, MODELS.get(name))
        globals()[key] = fn
        timm.models.register_model(fn)
        added.append(key)
    return added


register_timm_models()
