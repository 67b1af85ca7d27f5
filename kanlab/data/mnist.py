"""MNIST handwritten digits (LeCun et al.), 60k/10k grey 28x28 images, 10 classes."""

from __future__ import annotations

from typing import ClassVar

from torchvision import datasets

from kanlab.data._base import ImageDataModule
from kanlab.registry import DATAMODULES

__all__ = ["MNISTDataModule", "MNIST_RAW_FILES"]

MNIST_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@DATAMODULES.register("mnist", task="classification")
class MNISTDataModule(ImageDataModule):
    """MNIST digits: 28x28 grey images, 10 classes; validation carved from the 60k train set.

    Normalisation ``dataset`` uses mean/std 0.1307/0.3081. Files: torchvision's layout,
    ``<data_dir>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``.
    """

    name = "mnist"
    dataset_cls: ClassVar[type[datasets.MNIST]] = datasets.MNIST
    dims = (1, 28, 28)
    num_classes = 10
    mean = (0.1307,)
    std = (0.3081,)
    default_val_fraction = 5000 / 60000
    files_hint = "the four uncompressed idx files under <data_dir>/MNIST/raw/"

    def _present(self) -> bool:
        raw = self.data_dir / self.dataset_cls.__name__ / "raw"
        return all((raw / f).is_file() for f in MNIST_RAW_FILES)
