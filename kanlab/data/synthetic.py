"""Synthetic function-fitting tasks (the KAN / S-KAN papers' kind), selectable by name."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from kanlab.checks import check_at_least, check_choice
from kanlab.registry import DATAMODULES

__all__ = ["FUNCTIONS", "SyntheticDataModule"]

Function = Callable[[torch.Tensor], torch.Tensor]


def _exp_sin_sq(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.sin(math.pi * x[:, 0]) + x[:, 1] ** 2)


def _exp_sin_4d(x: torch.Tensor) -> torch.Tensor:
    a = torch.sin(math.pi * (x[:, 0] ** 2 + x[:, 1] ** 2))
    b = torch.sin(math.pi * (x[:, 2] ** 2 + x[:, 3] ** 2))
    return torch.exp(0.5 * (a + b))


def _bessel_j0_20x(x: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = torch.special.bessel_j0(20 * x[:, 0])
    return out


def _exp_mean_sin_sq_100d(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.sin(math.pi * x / 2).pow(2).mean(dim=1))


def _legendre_p31(x: torch.Tensor) -> torch.Tensor:
    # scipy.special.lpmv(1, 3, x): Condon-Shortley phase included
    t = x[:, 0]
    return -1.5 * (5 * t**2 - 1) * torch.sqrt((1 - t**2).clamp_min(0))


def _arctan_5d(x: torch.Tensor) -> torch.Tensor:
    x1, x2, x3, x4, x5 = x.unbind(dim=1)
    a = torch.atan(20 * (x1 - 0.5 + x2 / 6) * torch.exp(x5)) + math.pi / 2
    b = torch.atan(20 * (x1 - 0.5 - x2 / 6) * torch.exp(x5)) + math.pi / 2
    return (2 + 2 * x3) / (3 * math.pi) * a + (2 + 2 * x4) / (3 * math.pi) * b


# name -> (number of inputs, f, formula); inputs are uniform on [-1, 1]^n.
# Sources of the function-fitting suite (results/function_fitting/README.md): the KAN paper's
# (Liu et al. 2024, arXiv:2404.19756) section 3.1 toy functions bessel_j0_20x, exp_sin_sq, xy,
# exp_mean_sin_sq_100d, exp_sin_4d; its special functions (section 3.2): legendre_p31 =
# scipy.special.lpmv(m=1, v=3); the openkan.org "Splines KAN" page's test formula: arctan_5d.
FUNCTIONS: dict[str, tuple[int, Function, str]] = {
    "bessel_j0_20x": (1, _bessel_j0_20x, "J0(20 x)"),
    "exp_mean_sin_sq_100d": (
        100, _exp_mean_sin_sq_100d, "exp((1/100) sum_i sin^2(pi x_i / 2))"
    ),
    "legendre_p31": (1, _legendre_p31, "P_3^1(x) = -(3/2)(5x^2 - 1) sqrt(1 - x^2)"),
    "arctan_5d": (
        5, _arctan_5d,
        "(2+2x3)/(3pi) [atan(20(x1 - 1/2 + x2/6) e^x5) + pi/2] "
        "+ (2+2x4)/(3pi) [atan(20(x1 - 1/2 - x2/6) e^x5) + pi/2]",
    ),
    "sin_pi": (1, lambda x: torch.sin(math.pi * x[:, 0]), "sin(pi x)"),
    "bessel_like": (1, lambda x: torch.sin(4 * x[:, 0]) / (1 + x[:, 0] ** 2), "sin(4x)/(1+x^2)"),
    "xy": (2, lambda x: x[:, 0] * x[:, 1], "x y"),
    "exp_sin_sq": (2, _exp_sin_sq, "exp(sin(pi x) + y^2)"),
    "exp_sin_4d": (
        4, _exp_sin_4d, "exp((sin(pi (x1^2 + x2^2)) + sin(pi (x3^2 + x4^2))) / 2)"
    ),
    "tanh_sum": (3, lambda x: torch.tanh(x.sum(dim=1)), "tanh(x1 + x2 + x3)"),
}


@DATAMODULES.register("synthetic", task="regression")
class SyntheticDataModule(pl.LightningDataModule):
    """Regression on a named closed-form function of uniform inputs on [-1, 1]^n.

    Functions (``function``): ``sin_pi`` sin(pi x); ``bessel_like`` sin(4x)/(1+x^2); ``xy``;
    ``exp_sin_sq`` exp(sin(pi x) + y^2) (the KAN paper's example); ``exp_sin_4d``
    exp((sin(pi(x1^2+x2^2)) + sin(pi(x3^2+x4^2)))/2); ``tanh_sum`` tanh(x1+x2+x3);
    ``bessel_j0_20x`` J0(20x); ``exp_mean_sin_sq_100d`` exp(mean_i sin^2(pi x_i/2)) over 100
    inputs; ``legendre_p31`` the associated Legendre function P_3^1(x) (scipy's ``lpmv(1, 3,
    x)``); ``arctan_5d`` a 5-input arctan composition (see :data:`FUNCTIONS` for formulas and
    sources).
    Targets may carry Gaussian noise of std ``noise`` (train and val only; test is clean).

    Shapes: batches ``(B, n)`` -> targets ``(B, 1)``; ``dims == (n,)``.

    Args:
        function: Name of the target function.
        n_train: Training samples.
        n_val: Validation samples.
        n_test: Test samples.
        noise: Std of the Gaussian noise added to train/val targets.
        batch_size: Samples per batch.
        num_workers: DataLoader workers.
        seed: Seed of the sampled inputs and noise.

    Raises:
        ValueError: for an unknown function or non-positive sizes.
    """

    task = "regression"
    num_classes = 0

    def __init__(
        self,
        *,
        function: str = "exp_sin_sq",
        n_train: int = 1000,
        n_val: int = 200,
        n_test: int = 1000,
        noise: float = 0.0,
        batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_choice("function", function, list(FUNCTIONS))
        for key, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test),
                           ("batch_size", batch_size)):
            check_at_least(key, value, 1)
        check_at_least("noise", noise, 0.0)
        self.save_hyperparameters()
        self.function = function
        self.n_inputs, self.fn, self.formula = FUNCTIONS[function]
        self.dims = (self.n_inputs,)
        self.sizes = (n_train, n_val, n_test)
        self.noise = noise
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.name = "synthetic"
        self.test_in_val = False
        self.splits: list[TensorDataset] = []

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (``ddp_spawn`` sends the data module to each rank): the target function,
        a lambda for some names, is looked up again by name."""
        state = dict(self.__dict__)
        state.pop("fn", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.fn = FUNCTIONS[self.function][1]

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        generator = torch.Generator().manual_seed(self.seed)
        for i, n in enumerate(self.sizes):
            x = torch.rand(n, self.n_inputs, generator=generator) * 2 - 1  # (n, in) on [-1, 1]
            y = self.fn(x).unsqueeze(1)                                    # (n, 1)
            if self.noise and i < 2:
                y = y + self.noise * torch.randn(y.shape, generator=generator)
            self.splits.append(TensorDataset(x, y))

    def _loader(self, index: int, *, train: bool = False) -> DataLoader[Any]:
        if not self.splits:
            raise RuntimeError("SyntheticDataModule.setup() must run before the loaders.")
        return DataLoader(
            self.splits[index], batch_size=self.batch_size, shuffle=train,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader[Any]:
        return self._loader(0, train=True)

    def val_dataloader(self) -> DataLoader[Any] | list[DataLoader[Any]]:
        if self.test_in_val:
            return [self._loader(1), self._loader(2)]
        return self._loader(1)

    def test_dataloader(self) -> DataLoader[Any]:
        return self._loader(2)
