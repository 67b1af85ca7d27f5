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


# name -> (number of inputs, f, formula); inputs are uniform on [-1, 1]^n.
FUNCTIONS: dict[str, tuple[int, Function, str]] = {
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
    exp((sin(pi(x1^2+x2^2)) + sin(pi(x3^2+x4^2)))/2); ``tanh_sum`` tanh(x1+x2+x3).
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
