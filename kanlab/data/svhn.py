"""SVHN street-view house numbers (Netzer et al.), 73k/26k colour 32x32 digits, 10 classes."""

from __future__ import annotations

from typing import ClassVar

import torch
from torchvision import datasets

from kanlab.data._base import ImageDataModule
from kanlab.registry import DATAMODULES

__all__ = ["SVHNDataModule"]


@DATAMODULES.register("svhn", task="classification")
class SVHNDataModule(ImageDataModule):
    """SVHN (cropped digits, without the "extra" split): 32x32 RGB, 10 classes.

    ``augment: basic`` is random crop + horizontal flip, as for CIFAR (flipped digits are a
    common if questionable augmentation; prefer ``none`` for digit-faithful runs).
    Files: ``<data_dir>/{train,test}_32x32.mat``.
    """

    name = "svhn"
    dataset_cls: ClassVar[type[datasets.SVHN]] = datasets.SVHN
    dims = (3, 32, 32)
    num_classes = 10
    mean = (0.4377, 0.4438, 0.4728)
    std = (0.1980, 0.2010, 0.1970)
    default_val_fraction = 0.1
    augmentable = True
    files_hint = "train_32x32.mat and test_32x32.mat"

    def _split(self, train: bool) -> datasets.SVHN:
        return self.dataset_cls(str(self.data_dir), split="train" if train else "test")

    def _read(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        ds = self._split(train)
        return torch.as_tensor(ds.data), torch.as_tensor(ds.labels, dtype=torch.long)

    def _present(self) -> bool:
        return all((self.data_dir / f"{s}_32x32.mat").is_file() for s in ("train", "test"))

    def _download(self) -> None:
        for split in ("train", "test"):
            self.dataset_cls(str(self.data_dir), split=split, download=True)
