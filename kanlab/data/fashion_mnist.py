"""Fashion-MNIST (Xiao et al.), 60k/10k grey 28x28 clothing images, 10 classes."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from torchvision import datasets

from kanlab import settings
from kanlab.data._base import gunzip_into
from kanlab.data.mnist import MNIST_RAW_FILES, MNISTDataModule
from kanlab.registry import DATAMODULES

__all__ = ["DEBIAN_DIR", "DEBIAN_PACKAGE", "FashionMNISTDataModule", "debian_dir"]

# Debian/Ubuntu package `dataset-fashion-mnist`: the four idx files, gzip-compressed (its .gz
# md5s differ from torchvision's because Debian recompressed them; the content is the same).
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def debian_dir() -> Path:
    """Where the Debian package puts the files; ``$KANLAB_SYSTEM_DATASETS/fashion-mnist`` when
    that is set (tests point it at an empty directory to act as a machine without it)."""
    root = settings.system_datasets()
    return root / "fashion-mnist" if root else DEBIAN_DIR


@DATAMODULES.register("fashion_mnist", task="classification")
class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST: 28x28 grey clothing images, 10 classes; mean/std 0.2860/0.3530.

    Offline: when the files are missing and the Debian package ``dataset-fashion-mnist`` is
    installed, its ``.gz`` files are decompressed into ``<data_dir>/FashionMNIST/raw/``
    (copied, never linked), so no network is needed.
    """

    name = "fashion_mnist"
    dataset_cls: ClassVar[type[datasets.MNIST]] = datasets.FashionMNIST
    mean = (0.2860,)
    std = (0.3530,)
    files_hint = (
        "the four uncompressed idx files under <data_dir>/FashionMNIST/raw/ "
        "(or install the Debian package dataset-fashion-mnist)"
    )

    def _offline_source(self) -> bool:
        sources = [debian_dir() / f"{f}.gz" for f in MNIST_RAW_FILES]
        if not all(p.is_file() for p in sources):
            return False
        gunzip_into(sources, self.data_dir / self.dataset_cls.__name__ / "raw")
        return True
