"""Plain affine layers under the layer contract, so configs can name them: linear, conv2d."""

from __future__ import annotations

from torch import Tensor, nn

from kanlab.checks import check_at_least, check_in_features
from kanlab.registry import LAYERS

__all__ = ["Conv2d", "Linear"]


@LAYERS.register("linear", kind="linear")
class Linear(nn.Linear):
    """Affine map y = x W^T + b (``torch.nn.Linear``): the MLP baseline and a plain MoE expert.

    Shapes: ``(*, in_features) -> (*, out_features)``.

    Raises:
        ValueError: for a width < 1, or (in ``forward``) a wrong input last dim.
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True) -> None:
        check_at_least("in_features", in_features, 1)
        check_at_least("out_features", out_features, 1)
        super().__init__(in_features, out_features, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        check_in_features(x, self.in_features)
        return super().forward(x)


@LAYERS.register("conv2d", kind="conv2d")
class Conv2d(nn.Conv2d):
    """Plain 2-D convolution (``torch.nn.Conv2d``), the CNN baseline of the KAN conv layers.

    Shapes: ``(B, in_channels, H, W) -> (B, out_channels, H', W')``.

    Raises:
        ValueError: for channels or ``kernel_size`` < 1, or (in ``forward``) a wrong number of
            input channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int | str = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        check_at_least("in_channels", in_channels, 1)
        check_at_least("out_channels", out_channels, 1)
        check_at_least("kernel_size", kernel_size, 1)
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in (3, 4) or x.shape[-3] != self.in_channels:
            raise ValueError(
                f"Input must be (B, {self.in_channels}, H, W), but got shape={tuple(x.shape)}."
            )
        return super().forward(x)
