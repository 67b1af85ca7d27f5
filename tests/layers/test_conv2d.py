from __future__ import annotations

import pytest
import torch

import kanlab


def test_conv2d_builds_from_its_name_and_checks_its_input() -> None:
    conv = kanlab.create_layer("conv2d", 3, 5, 3, padding=1)
    assert conv(torch.randn(2, 3, 8, 8)).shape == (2, 5, 8, 8)
    assert conv(torch.randn(3, 8, 8)).shape == (5, 8, 8)             # one image, as torch's
    for bad in (torch.randn(2, 4, 8, 8), torch.randn(8, 8)):
        with pytest.raises(ValueError, match=r"`x` must be \(B, 3, H, W\) or \(3, H, W\), "
                           r"but got x.shape=\("):
            conv(bad)
    with pytest.raises(ValueError, match="`kernel_size` must be >= 1"):
        kanlab.create_layer("conv2d", 3, 5, 0)
