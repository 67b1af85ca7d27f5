"""kanlab: Kolmogorov-Arnold networks and activation functions, built to be compared.

Public API::

    import kanlab
    layer = kanlab.create_layer("relu_kan", 784, 64, grid_size=5)
    act = kanlab.create_activation("eafo", base="softplus")
    model = kanlab.create_model("kan_mlp", widths=[784, 64, 10], layer="b_spline_kan")

Importing ``kanlab`` is cheap (no torch): it loads the catalog (:mod:`kanlab.catalog`, one
line per registry entry), so every registry knows its names at once and imports an entry's
module only when the entry is built; the subpackages (``kanlab.layers``, ``kanlab.lit``, …)
load on first attribute access. That keeps ``kanlab --help``/``list``/``study`` fast;
Lightning, Optuna and timm load only with the subpackages that need them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from kanlab import catalog as _catalog  # noqa: F401  (declares every registry entry)
from kanlab._version import __version__ as __version__
from kanlab.registry import ACTIVATIONS, DATAMODULES, LAYERS, MODELS

__all__ = [
    "__version__",
    "create_activation",
    "create_layer",
    "create_model",
    "get_activation",
    "list_activations",
    "list_datamodules",
    "list_layers",
    "list_models",
]


_SUBPACKAGES = frozenset({
    "catalog", "checks", "cli", "config", "data", "demo", "errors", "interop", "layers",
    "lit", "measure", "models", "optim", "provenance", "registry", "results", "sae", "search",
    "specs", "testing",
})


def __getattr__(name: str) -> Any:
    """``kanlab.layers`` & co. without an explicit import (loaded on first access)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_layer(name: str | Callable[..., Any], *args: Any, **hparams: Any) -> Any:
    """Instantiate the layer registered as ``name`` (or a class) with wiring args + hparams."""
    return LAYERS.get(name)(*args, **hparams)


def create_activation(name: str | Callable[..., Any], **hparams: Any) -> Any:
    """Instantiate the activation registered as ``name`` (or a class)."""
    return ACTIVATIONS.get(name)(**hparams)


def get_activation(name: str | Callable[..., Any], **hparams: Any) -> Callable[..., Any]:
    """The activation class (or a partial with ``hparams`` bound), for timm's ``act_layer=``."""
    cls = ACTIVATIONS.get(name)
    if not hparams:
        return cls
    import functools

    return functools.partial(cls, **hparams)


def create_model(name: str | Callable[..., Any], **hparams: Any) -> Any:
    """Instantiate the model registered as ``name`` (or a class)."""
    return MODELS.get(name)(**hparams)


def list_layers() -> list[str]:
    """Registered layer keys."""
    return LAYERS.names()


def list_activations() -> list[str]:
    """Registered activation keys."""
    return ACTIVATIONS.names()


def list_models() -> list[str]:
    """Registered model keys."""
    return MODELS.names()


def list_datamodules() -> list[str]:
    """Registered data module keys (from the catalog: Lightning is not imported)."""
    return DATAMODULES.names()
