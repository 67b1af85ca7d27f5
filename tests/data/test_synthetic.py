"""The synthetic function-fitting suite: formulas at hand-computable points, seeded splits."""

from __future__ import annotations

import math

import pytest
import torch

from kanlab.data.synthetic import FUNCTIONS, SyntheticDataModule


def _f(name: str, *rows: list[float]) -> list[float]:
    n, fn, _ = FUNCTIONS[name]
    x = torch.tensor(rows, dtype=torch.float64)
    assert x.shape[1] == n
    return [float(v) for v in fn(x)]


def test_kan_paper_toy_functions_at_hand_computable_points() -> None:
    assert _f("bessel_j0_20x", [0.0]) == pytest.approx([1.0])           # J0(0) = 1
    # J0 has its first zero at 2.404825557695773: x = that / 20
    assert _f("bessel_j0_20x", [2.404825557695773 / 20]) == pytest.approx([0.0], abs=1e-9)
    assert _f("xy", [0.5, -0.4]) == pytest.approx([-0.2])
    assert _f("exp_sin_sq", [0.5, 1.0]) == pytest.approx([math.exp(2.0)])  # sin(pi/2) + 1
    assert _f("exp_sin_4d", [0.0, 0.0, 0.0, 0.0]) == pytest.approx([1.0])
    # sin(pi (1/2)) = 1 in both halves: exp((1 + 1) / 2) = e
    r = math.sqrt(0.25)
    assert _f("exp_sin_4d", [r, r, r, r]) == pytest.approx([math.e])
    assert _f("exp_mean_sin_sq_100d", [0.0] * 100, [1.0] * 100) == pytest.approx([1.0, math.e])
    half = [1.0] * 50 + [0.0] * 50                                       # mean of sin^2 = 1/2
    assert _f("exp_mean_sin_sq_100d", half) == pytest.approx([math.exp(0.5)])


def test_legendre_and_arctan_functions() -> None:
    # P_3^1(x) = -(3/2)(5x^2 - 1) sqrt(1 - x^2): 3/2 at 0, 0 at +-1
    assert _f("legendre_p31", [0.0], [1.0], [-1.0]) == pytest.approx([1.5, 0.0, 0.0])
    scipy_special = pytest.importorskip("scipy.special")
    xs = [-0.9, -0.3, 0.2, 0.7]
    assert _f("legendre_p31", *[[v] for v in xs]) == pytest.approx(
        [float(scipy_special.lpmv(1, 3, v)) for v in xs])
    # at x1 = 1/2, x2 = 0, x5 = 0 both arctans vanish: (2/(3pi))(pi/2) * 2 = 2/3
    assert _f("arctan_5d", [0.5, 0.0, 0.0, 0.0, 0.0]) == pytest.approx([2 / 3])
    # x3 = x4 = -1 zeroes both prefactors
    assert _f("arctan_5d", [0.1, 0.9, -1.0, -1.0, 0.3]) == pytest.approx([0.0], abs=1e-12)


def test_splits_are_deterministic_by_seed_and_test_is_clean() -> None:
    def splits(seed: int, noise: float = 0.0) -> list[tuple[torch.Tensor, ...]]:
        dm = SyntheticDataModule(function="exp_mean_sin_sq_100d", n_train=50, n_val=20,
                                 n_test=30, noise=noise, seed=seed)
        dm.setup()
        return [d.tensors for d in dm.splits]

    a, b, c = splits(0), splits(0), splits(1)
    assert all(torch.equal(x, y) for sa, sb in zip(a, b, strict=True)
               for x, y in zip(sa, sb, strict=True))
    assert not torch.equal(a[0][0], c[0][0])
    x, y = a[2]
    assert x.shape == (30, 100) and y.shape == (30, 1)
    assert torch.allclose(y[:, 0], FUNCTIONS["exp_mean_sin_sq_100d"][1](x))  # noise-free test
    noisy = splits(0, noise=0.1)
    assert not torch.equal(noisy[0][1], a[0][1])
