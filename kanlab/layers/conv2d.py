"""The plain 2-D convolution under the conv-layer contract, so configs can name it: conv2d."""

from __future__ import annotations

from torch import Tensor, nn

from kanlab.checks import check_at_least, check_in_channels
from kanlab.registry import LAYERS

__all__ = ["Conv2d"]


@LAYERS.register("conv2d", kind="conv2d")
class Conv2d(nn.Conv2d):
    """Plain 2-D convolution (``torch.nn.Conv2d``), the CNN baseline of the KAN conv layers.

    Shapes: ``(B, in_channels, H, W) -> (B, out_channels, H', W')``, or one image
    ``(in_channels, H, W) -> (out_channels, H', W')``.

    Deviations from ``torch.nn.Conv2d``: the arithmetic is torch's. The interface is the
    conv-layer contract every KAN conv layer shares: ``kernel_size``, ``stride`` and
    ``dilation`` are single ints (square kernels), everything after ``kernel_size`` is
    keyword-only, the sizes are checked at construction and the input's shape in ``forward``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Side of the square kernel.
        stride: Stride of the kernel.
        padding: Zero padding per side, or ``"same"`` / ``"valid"``.
        dilation: Spacing between kernel taps.
        groups: Blocked connections from input to output channels.
        bias: Learn an additive bias per output channel.

    Raises:
        ValueError: for channels or ``kernel_size`` < 1, or (in ``forward``) an input that is
            not ``(B, in_channels, H, W)`` or ``(in_channels, H, W)``.
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
        check_in_channels(x, self.in_channels)
        return super().forward(x)
