from __future__ import annotations

import pytest
import torch
from torch import nn

from kanlab.measure import count_params, latency_ms, matmul_flops


def test_count_params_trainable_only() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    assert count_params(model) == 4 * 3 + 3 + 3 * 2 + 2
    model[0].weight.requires_grad_(False)
    assert count_params(model) == 3 + 3 * 2 + 2


def test_linear_flops_are_2_in_out_per_sample() -> None:
    model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    assert matmul_flops(model, torch.randn(8, 784)) == 2 * (784 * 64 + 64 * 10)
    assert model.training  # mode restored


def test_latency_is_positive_and_validated() -> None:
    model = nn.Linear(16, 4)
    assert latency_ms(model, torch.randn(2, 16), repeats=3, warmup=1) > 0
    with pytest.raises(ValueError, match="`repeats` must be >= 1"):
        latency_ms(model, torch.randn(2, 16), repeats=0)
