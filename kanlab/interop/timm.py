"""timm integration: kanlab models as ``kanlab_<model>`` entrypoints, kanlab activations in timm.

This is the only kanlab module that imports timm, and timm has no plugin hook: **import it**
(``import kanlab.interop.timm``) to register one timm entrypoint per kanlab model, so that
``timm.create_model("kanlab_kan_mlp", widths=[784, 64, 10])`` works. The entrypoints swallow
the ``pretrained_cfg``, ``pretrained_cfg_overlay`` and ``cache_dir`` arguments
``timm.create_model`` always passes. ``num_classes`` sets the last width of width-list models.
There are no pretrained kanlab weights.

The models they build have timm's model API (:class:`TimmAPI`): ``pretrained_cfg``/
``default_cfg``, ``num_classes``, ``num_features``, ``forward_features``, ``forward_head``
(with ``pre_logits``), ``get_classifier`` and ``reset_classifier(num_classes)`` (0 removes the
classifier, as in timm).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import timm
import torch
from torch import nn

from kanlab.registry import ACTIVATIONS, LAYERS, MODELS

__all__ = ["TimmAPI", "act_layer_of", "create_backbone", "register_timm_models"]

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


class TimmAPI:
    """timm's model API for kanlab's classifier models (``mlp``, ``kan_mlp``, ``kan_convnet``).

    Mixed in before the kanlab model class by the ``kanlab_<model>`` entrypoints. The
    classifier is the model's last layer (``net[-1]`` of ``mlp``, ``layers[-1]`` of
    ``kan_mlp``, ``head`` of ``kan_convnet``); the features are what enters it (pooled, for
    ``forward_head``'s ``pre_logits``; ``forward_features`` of a convnet returns the unpooled
    ``(B, C, h, w)`` map, as timm's CNNs do).
    """

    pretrained_cfg: dict[str, Any]
    default_cfg: dict[str, Any]
    num_classes: int
    num_features: int
    _timm_kwargs: dict[str, Any]

    def _timm_init(self, architecture: str, kwargs: Mapping[str, Any]) -> None:
        self._timm_kwargs = dict(kwargs)
        head = self.get_classifier()
        self.num_features = int(_in_width(head))
        self.num_classes = int(_out_width(head))
        self.pretrained_cfg = {
            "architecture": architecture, "tag": "", "hf_hub_id": None, "url": "",
            "num_classes": self.num_classes, "classifier": self._classifier_name(),
            "first_conv": None, "license": "mit",
        }
        self.default_cfg = self.pretrained_cfg

    def _classifier_name(self) -> str:
        if hasattr(self, "head"):
            return "head"
        if hasattr(self, "net"):
            return f"net.{len(list(cast_module(self).get_submodule('net').children())) - 1}"
        return f"layers.{len(list(cast_module(self).get_submodule('layers').children())) - 1}"

    def get_classifier(self) -> nn.Module:
        """The last layer (``nn.Identity`` after ``reset_classifier(0)``)."""
        module: nn.Module = cast_module(self).get_submodule(self._classifier_name())
        return module

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A fresh classifier with ``num_classes`` outputs (0: none, features come out)."""
        if num_classes < 0:
            raise ValueError(f"`num_classes` must be >= 0, but got num_classes={num_classes}.")
        if global_pool is not None and hasattr(self, "global_pool"):
            self.global_pool = bool(global_pool)
        old = self.get_classifier()
        if num_classes == 0:
            new: nn.Module = nn.Identity()
        elif hasattr(self, "head"):
            new = LAYERS.build(self._timm_kwargs.get("head") or "linear",
                               self.num_features, num_classes)
        elif hasattr(self, "net"):
            new = nn.Linear(self.num_features, num_classes,
                            bias=getattr(old, "bias", None) is not None)
        else:
            new = LAYERS.build(self._timm_kwargs.get("layer", "b_spline_kan"),
                               self.num_features, num_classes)
        param = next(old.parameters(), None)
        if param is not None:
            new = new.to(device=param.device, dtype=param.dtype)
        cast_module(self).set_submodule(self._classifier_name(), new)
        self.num_classes = num_classes
        self.pretrained_cfg = {**self.pretrained_cfg, "num_classes": num_classes}
        self.default_cfg = self.pretrained_cfg
        if hasattr(self, "widths"):
            widths = list(self.widths)  # type: ignore[has-type]
            self.widths = [*widths[:-1], num_classes or widths[-2]]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before the classifier: ``(B, num_features)``, or a convnet's map."""
        model = cast_module(self)
        if hasattr(self, "head"):
            out: torch.Tensor = model.get_submodule("features")(x)       # (B, C', h, w)
            return out
        x = x.flatten(1) if x.dim() > 2 else x                          # (B, C, H, W) -> (B, D)
        if hasattr(self, "net"):
            for module in list(model.get_submodule("net").children())[:-1]:
                x = module(x)
            return x                                                    # (B, num_features)
        layers = list(model.get_submodule("layers").children())
        between = list(model.get_submodule("between").children())
        for i, layer in enumerate(layers[:-1]):                         # as KANMLP.forward
            x = layer(x if i == 0 else between[i - 1](x))
        if len(layers) > 1:
            x = between[-1](x)                                          # norm/dropout before head
        return x                                                        # (B, num_features)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The classifier on ``forward_features``' output (``pre_logits``: pooled features)."""
        model = cast_module(self)
        if hasattr(self, "head"):
            pooled: torch.Tensor = getattr(model, "_flatten")(x)  # noqa: B009  (B, num_features)
            x = model.get_submodule("dropout")(pooled)
        if pre_logits:
            return x
        out: torch.Tensor = self.get_classifier()(x)                    # (B, num_classes)
        return out


def cast_module(obj: Any) -> nn.Module:
    """``self`` of :class:`TimmAPI` as the ``nn.Module`` it is mixed into."""
    if not isinstance(obj, nn.Module):
        raise TypeError(f"TimmAPI must be mixed into an nn.Module, but got {type(obj)}.")
    return obj


def _in_width(layer: nn.Module) -> int:
    for attr in ("in_features", "in_channels"):
        if isinstance(getattr(layer, attr, None), int):
            return int(getattr(layer, attr))
    raise TypeError(f"Cannot tell the input width of {type(layer).__name__}.")


def _out_width(layer: nn.Module) -> int:
    for attr in ("out_features", "out_channels"):
        if isinstance(getattr(layer, attr, None), int):
            return int(getattr(layer, attr))
    raise TypeError(f"Cannot tell the output width of {type(layer).__name__}.")


# kanlab models whose classifier TimmAPI knows (net[-1], layers[-1], head)
TIMM_API_MODELS = frozenset({"mlp", "kan_mlp", "kan_convnet"})
_TIMM_CLASSES: dict[type, type] = {}


def _timm_class(target: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """``TimmAPI`` mixed into a kanlab model class (module-level, so models pickle)."""
    if not isinstance(target, type):
        return target
    if target not in _TIMM_CLASSES:
        name = f"Timm{target.__name__}"
        cls = type(name, (TimmAPI, target), {"__module__": __name__, "__qualname__": name,
                                              "__doc__": target.__doc__})
        globals()[name] = cls
        _TIMM_CLASSES[target] = cls
    return _TIMM_CLASSES[target]


def _entrypoint(name: str, target: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    def create(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        for key in TIMM_ONLY_KWARGS:
            kwargs.pop(key, None)
        if pretrained:
            raise ValueError(
                f"`pretrained` must be False (kanlab model {name!r} has no weights), "
                f"but got pretrained={pretrained!r}."
            )
        num_classes = kwargs.pop("num_classes", None)
        if num_classes is not None:
            if "widths" in _parameters(target) and "num_classes" not in _parameters(target):
                widths = list(kwargs.get("widths", _parameters(target)["widths"]))
                kwargs["widths"] = [*widths[:-1], num_classes]
            else:
                kwargs["num_classes"] = num_classes
        model = (_timm_class(target) if name in TIMM_API_MODELS else target)(**kwargs)
        if isinstance(model, TimmAPI):
            model._timm_init(f"kanlab_{name}", kwargs)
        return model

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
