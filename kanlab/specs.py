"""Type aliases for constructor parameters that take a spec of another registry.

A parameter annotated ``layer: LayerSpec`` takes a registry name (``"relu_kan"``), a
``{name: ..., **hparams}`` mapping or a class/factory. The :class:`~kanlab.registry.Draws`
marker inside the alias is what config validation and search spaces read to know that the
value is a layer spec: the annotation declares it, not the parameter's name.

Example::

    from kanlab.specs import ActivationSpec

    @LAYERS.register("my_kan", kind="linear")
    class MyKAN(nn.Module):
        def __init__(self, in_features: int, out_features: int, *,
                     base_activation: ActivationSpec = "silu") -> None: ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeAlias

from kanlab.registry import ACTIVATIONS, LAYERS, Draws

__all__ = ["ActivationSpec", "LayerSpec"]

LayerSpec: TypeAlias = Annotated[str | Mapping[str, Any] | Callable[..., Any], Draws(LAYERS)]
ActivationSpec: TypeAlias = Annotated[
    str | Mapping[str, Any] | Callable[..., Any], Draws(ACTIVATIONS)
]
