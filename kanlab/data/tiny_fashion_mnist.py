"""A tiny real-data image set for fast tests: 1,000 train / 200 val / 200 test Fashion-MNIST."""

from __future__ import annotations

from kanlab.data.fashion_mnist import FashionMNISTDataModule
from kanlab.registry import DATAMODULES

__all__ = ["TinyFashionMNISTDataModule"]


@DATAMODULES.register("tiny_fashion_mnist", task="classification")
class TinyFashionMNISTDataModule(FashionMNISTDataModule):
    """Fashion-MNIST cut to 1,200 training-pool images (1,000 train + 200 val) and 200 test.

    The images are a seeded draw (``seed``) from the real sets, so a model learns something in
    one epoch; meant for tests and smoke runs. Same files and options as ``fashion_mnist``.
    """

    name = "tiny_fashion_mnist"
    pool_limits = (1200, 200)
    default_val_fraction = 200 / 1200
