"""kanlab: Kolmogorov-Arnold networks and activation functions, built to be compared.

Public API::

    import kanlab
    layer = kanlab.create_layer("relu_kan", 784, 64, grid_size=5)
    act = kanlab.create_activation("eafo", base="softplus")
    model = kanlab.create_model("kan_mlp", widths=[784, 64, 10], layer="b_spline_kan")

Importing ``kanlab`` fills the layer, activation and model registries; it pulls in torch and
sympy only (Lightning, Optuna and timm load with the subpackages that need them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kanlab import layers as _layers  # noqa: F401  (fills LAYERS and ACTIVATIONS)
from kanlab import models as _models  # noqa: F401  (fills MODELS)
from kanlab import optim as _optim  # noqa: F401  (fills OPTIMIZERS and SCHEDULERS)
from kanlab.registry import ACTIVATIONS, LAYERS, MODELS

__version__ = "0.1.0"

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
    """Registered data module keys (read from source: Lightning is not imported)."""
    import kanlab.components  # noqa: F401  (lazy DATAMODULES entries)
    from kanlab.registry import DATAMODULES

    return DATAMODULES.names()
