"""The plain affine layer under the layer contract, so configs can name it: linear."""

from __future__ import annotations

from torch import Tensor, nn

from kanlab.checks import check_at_least, check_in_features
from kanlab.registry import LAYERS

__all__ = ["Linear"]


@LAYERS.register("linear", kind="linear")
class Linear(nn.Linear):
    """Affine map y = x W^T + b (``torch.nn.Linear``): the MLP baseline and a plain MoE expert.

    Shapes: ``(*, in_features) -> (*, out_features)``.

    Deviations from ``torch.nn.Linear``: none in the arithmetic; the widths are checked at
    construction and the input's last dim in ``forward`` (a clear error instead of a matmul
    shape error), and ``bias`` is keyword-only.

    Args:
        in_features: Input width.
        out_features: Output width.
        bias: Learn an additive bias.

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
