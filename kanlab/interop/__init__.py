"""Interoperability with other libraries.

``kanlab.interop.swap`` (torch only): replace activations / linear layers / MLP blocks /
convolutions inside any model. ``kanlab.interop.blocks`` (torch only): ``kan_mlp_layer``, KAN
MLP blocks with timm's ``Mlp`` signature (``timm.create_model(..., mlp_layer=...)``).
``kanlab.interop.timm`` (imports timm): ``kanlab_<model>`` timm entrypoints and
``act_layer`` helpers. It is imported only when asked for, so ``import kanlab.interop``
stays timm-free.
"""

from __future__ import annotations

from kanlab.interop.blocks import kan_mlp_layer as kan_mlp_layer
from kanlab.interop.swap import swap_activations as swap_activations
from kanlab.interop.swap import swap_convs as swap_convs
from kanlab.interop.swap import swap_linear as swap_linear
from kanlab.interop.swap import swap_mlps as swap_mlps

__all__ = ["kan_mlp_layer", "swap_activations", "swap_convs", "swap_linear", "swap_mlps"]
