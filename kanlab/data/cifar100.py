"""CIFAR-100 (Krizhevsky), 50k/10k colour 32x32 images, 100 fine classes."""

from __future__ import annotations

from typing import ClassVar

from torchvision import datasets

from kanlab.data._base import ImageDataModule
from kanlab.registry import DATAMODULES

__all__ = ["CIFAR100DataModule"]


@DATAMODULES.register("cifar100", task="classification")
class CIFAR100DataModule(ImageDataModule):
    """CIFAR-100: 32x32 RGB images, 100 classes; ``augment: basic`` = random crop + flip.

    Files: ``<data_dir>/cifar-100-python/`` (torchvision checks their md5s).
    """

    name = "cifar100"
    dataset_cls: ClassVar[type[datasets.CIFAR100]] = datasets.CIFAR100
    dims = (3, 32, 32)
    num_classes = 100
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
    default_val_fraction = 5000 / 50000
    augmentable = True
    files_hint = "the extracted cifar-100-python.tar.gz (folder cifar-100-python/)"
