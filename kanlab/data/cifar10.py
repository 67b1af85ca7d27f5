"""CIFAR-10 (Krizhevsky), 50k/10k colour 32x32 images, 10 classes."""

from __future__ import annotations

from typing import ClassVar

from torchvision import datasets

from kanlab.data._base import ImageDataModule
from kanlab.registry import DATAMODULES

__all__ = ["CIFAR10DataModule"]


@DATAMODULES.register("cifar10", task="classification")
class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10: 32x32 RGB images, 10 classes; ``augment: basic`` = random crop + flip.

    Files: ``<data_dir>/cifar-10-batches-py/`` (torchvision checks their md5s).
    """

    name = "cifar10"
    dataset_cls: ClassVar[type[datasets.CIFAR10]] = datasets.CIFAR10
    dims = (3, 32, 32)
    num_classes = 10
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)
    default_val_fraction = 5000 / 50000
    augmentable = True
    files_hint = "the extracted cifar-10-python.tar.gz (folder cifar-10-batches-py/)"
