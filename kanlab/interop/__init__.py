"""Interoperability with other libraries.

``kanlab.interop.swap`` (torch only): replace activations / linear layers inside any model.
``kanlab.interop.timm`` (imports timm): ``kanlab_<model>`` timm entrypoints and
``act_layer`` helpers. It is imported only when asked for, so ``import kanlab.interop``
stays timm-free.
"""

from __future__ import annotations

from kanlab.interop.swap import swap_activations as swap_activations
from kanlab.interop.swap import swap_linear as swap_linear

__all__ = ["swap_activations", "swap_linear"]
