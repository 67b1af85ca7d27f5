"""Shared base of the image data modules: whole-dataset tensors, batches by index.

Small image sets (MNIST, Fashion-MNIST, CIFAR, SVHN) fit in memory, so each split is held as one
tensor and a batch is gathered with one indexing op, instead of running a PIL transform per
image in worker processes (which dominates an epoch of a small MLP on CPU).

Without augmentation a split is normalised **once**, when its loader is first built, and held
as one float tensor on the training device (the Lightning trainer's root device, else the CPU);
a batch is then one index gather on that device. With augmentation (random crop with 4-pixel
zero padding + horizontal flip, on whole batches) the split stays uint8 and each batch is
augmented and normalised after the gather.

Semantics, the same as torchvision's per-image path (tested bit for bit on Fashion-MNIST):

- **Values**: ``x.float() / 255``, then ``(x - mean) / std`` in float32, the float operations
  of ``ToTensor()`` + ``Normalize(mean, std)``; elementwise, so normalising the whole split once
  gives the same bits as normalising each batch or each image.
- **Split**: ``torch.Generator().manual_seed(seed)`` draws the ``subset``/``pool_limits`` part
  of the training pool (``randperm(n)[:keep]``), then the validation/training order
  (``randperm(len(pool))``: the first ``n_val`` are validation, the rest training), then the
  test part; the same for every experiment seed.
- **Order**: the loaders are ``torch.utils.data.DataLoader``s, ``shuffle=True`` for training
  (a ``RandomSampler`` drawing from torch's global generator: the same permutation, and the same
  draws from the global stream, as ``DataLoader(Subset(torchvision_dataset, train_indices),
  shuffle=True)``), in order for validation and test; batches of ``batch_size``, the last one
  short (nothing dropped).
"""

from __future__ import annotations

import gzip
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import lightning.pytorch as pl
import torch
from filelock import FileLock
from torch.utils.data import DataLoader, Dataset

from kanlab import settings
from kanlab.checks import check_at_least, check_choice
from kanlab.errors import SetupError

__all__ = [
    "DataUnavailableError",
    "ImageDataModule",
    "TensorImageDataset",
    "default_data_dir",
    "gunzip_into",
    "offline",
]

logger = logging.getLogger(__name__)

NORMALIZE = ("dataset", "minus_one_one", "none")
AUGMENT = ("none", "basic")


class DataUnavailableError(SetupError, FileNotFoundError):
    """The dataset is not on disk and cannot be downloaded (reported as one line, exit 2)."""


def default_data_dir() -> Path:
    """``$KANLAB_DATA`` or ``~/.cache/kanlab``."""
    return settings.data_dir() or Path.home() / ".cache" / "kanlab"


def offline() -> bool:
    """``$KANLAB_OFFLINE`` set to a true value: never try to download."""
    return settings.offline()


def identity_collate(batch: Any) -> Any:
    """Batches come out of ``TensorImageDataset.__getitems__`` already stacked."""
    return batch


class TensorImageDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images held as one tensor; batches are one index gather.

    Holds the uint8 images; :meth:`prepare` normalises them once into one float tensor on a
    device (not with ``augment``, which needs the uint8 images of each batch), after which
    :meth:`__getitems__` only gathers rows. Before it, and with ``augment``, each fetched batch
    is normalised after the gather (same values: the operations are elementwise).

    Args:
        images: ``(N, C, H, W)`` uint8.
        targets: ``(N,)`` int64 class labels.
        mean: Per-channel mean of the [0, 1]-scaled pixels.
        std: Per-channel standard deviation.
        augment: Random crop (zero padding 4) and horizontal flip on each fetched batch.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        augment: bool = False,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"`images` must be a (N, C, H, W) uint8 tensor, but got "
                f"dtype={images.dtype}, shape={tuple(images.shape)}."
            )
        self.images = images
        self.targets = targets
        channels = images.shape[1]
        self.mean = torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)  # (1, C, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)    # (1, C, 1, 1)
        if self.mean.shape[1] not in (1, channels):
            raise ValueError(f"`mean` must have 1 or {channels} values, but got mean={mean}.")
        self.augment = augment
        # the normalised split and its labels on one device, once prepare() ran
        self.data: tuple[torch.Tensor, torch.Tensor] | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, C, H, W)`` -> float32 ``(x / 255 - mean) / std`` (ToTensor + Normalize)."""
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        return x.float().div_(255.0).sub_(mean).div_(std)

    def prepare(self, device: torch.device | str = "cpu") -> None:
        """Hold the normalised split as one float tensor on ``device`` (no-op with ``augment``
        or when it is already there)."""
        device = torch.device(device)
        if self.augment or (self.data is not None and self.data[0].device == device):
            return
        self.data = (self.normalise(self.images.to(device)), self.targets.to(device))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        if self.data is not None:
            data, targets = self.data
            idx = idx.to(data.device)
            return data.index_select(0, idx), targets.index_select(0, idx)  # (B, C, H, W), (B,)
        x = self.images[idx]                                             # (B, C, H, W) uint8
        if self.augment:
            x = random_crop_flip(x, padding=4)
        return self.normalise(x), self.targets[idx]                      # (B, C, H, W) float


def random_crop_flip(x: torch.Tensor, *, padding: int) -> torch.Tensor:
    """Per-image random crop of a zero-padded batch plus a random horizontal flip."""
    b, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4)                  # (B, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * padding + 1, (b, 1))                       # (B, 1)
    dx = torch.randint(0, 2 * padding + 1, (b, 1))                       # (B, 1)
    rows = (dy + torch.arange(h)).reshape(b, 1, h, 1)                    # (B, 1, H, 1)
    cols = (dx + torch.arange(w)).reshape(b, 1, 1, w)                    # (B, 1, 1, W)
    batch = torch.arange(b).reshape(b, 1, 1, 1)                          # (B, 1, 1, 1)
    chan = torch.arange(c).reshape(1, c, 1, 1)                           # (1, C, 1, 1)
    out = padded[batch, chan, rows, cols]                                # (B, C, H, W)
    flip = torch.rand(b) < 0.5                                           # (B,)
    out[flip] = out[flip].flip(-1)
    return out


class ImageDataModule(pl.LightningDataModule):
    """Base of the image-classification data modules (train / val carved from train / test).

    Subclasses set the class attributes (``dataset_cls``, ``dims``, ``num_classes``, ``mean``,
    ``std``, ...) and, where torchvision's dataset differs, ``_read``.

    Validation is a seeded random part of the training set; test is the official test split,
    touched only by ``trainer.test``. Train shuffles; val and test keep every sample.

    Args:
        batch_size: Samples per batch (train and eval).
        val_size: Validation images carved from the training set: a count, a fraction in
            (0, 1), or ``None`` for the dataset's default fraction.
        subset: Use only this many images (int) or this fraction (float) of both the training
            pool and the test set, drawn with ``seed``; for quick runs. An integer
            ``val_size`` that does not fit the subset keeps its share of the full training set
            (``data.subset=2000`` on a 5000-of-60000 protocol gives 167 validation images).
        num_workers: DataLoader worker processes (0 loads in the main process, which is
            fastest for these in-memory tensors).
        data_dir: Where the files live (default ``$KANLAB_DATA`` or ``~/.cache/kanlab``).
        normalize: ``dataset`` (the dataset's mean/std), ``minus_one_one`` ((x - 0.5) / 0.5,
            the All-KAN protocol) or ``none`` (pixels in [0, 1]).
        augment: ``none`` or ``basic`` (random crop with padding 4 + horizontal flip; only for
            datasets where flips make sense: CIFAR, SVHN).
        seed: Seed of the validation split and of ``subset`` (fixed across experiment seeds, so
            repeats of one configuration share the split).

    Raises:
        ValueError: for a bad option value.
        DataUnavailableError: when the files are missing and cannot be downloaded.
    """

    dataset_cls: ClassVar[Any] = None
    dims: ClassVar[tuple[int, int, int]] = (1, 28, 28)
    num_classes: ClassVar[int] = 10
    mean: ClassVar[tuple[float, ...]] = (0.5,)
    std: ClassVar[tuple[float, ...]] = (0.5,)
    default_val_fraction: ClassVar[float] = 0.1
    augmentable: ClassVar[bool] = False
    pool_limits: ClassVar[tuple[int | None, int | None]] = (None, None)
    files_hint: ClassVar[str] = ""
    task: ClassVar[str] = "classification"
    name = "images"

    def __init__(
        self,
        *,
        batch_size: int = 128,
        val_size: int | float | None = None,
        subset: int | float | None = None,
        num_workers: int = 0,
        data_dir: str | None = None,
        normalize: Literal["dataset", "minus_one_one", "none"] = "dataset",
        augment: Literal["none", "basic"] = "none",
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_at_least("batch_size", batch_size, 1)
        check_at_least("num_workers", num_workers, 0)
        check_choice("normalize", normalize, NORMALIZE)
        check_choice("augment", augment, AUGMENT)
        if augment == "basic" and not self.augmentable:
            raise ValueError(
                f"`augment` must be 'none' for {type(self).__name__} (crop + flip is for "
                f"CIFAR/SVHN), but got augment={augment!r}."
            )
        for key, value in (("val_size", val_size), ("subset", subset)):
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ValueError(f"`{key}` must be > 0, but got {key}={value!r}.")
            if isinstance(value, float) and not value < 1:
                raise ValueError(
                    f"`{key}` must be a count or a fraction in (0, 1), but got {key}={value!r}."
                )
        self.save_hyperparameters()
        self.batch_size = batch_size
        self.val_size = val_size
        self.subset = subset
        self.num_workers = num_workers
        self.data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
        self.normalize = normalize
        self.augment = augment
        self.seed = seed
        self.test_in_val = False  # set by kanlab.lit.train for trainer.test_every_epoch
        self.train_set: TensorImageDataset | None = None
        self.val_set: TensorImageDataset | None = None
        self.test_set: TensorImageDataset | None = None

    # ------------------------------------------------------------------ files

    def _read(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split as ``(N, C, H, W)`` uint8 images and ``(N,)`` int64 labels."""
        ds = self.dataset_cls(str(self.data_dir), train=train, download=False)
        images = torch.as_tensor(ds.data)
        if images.dim() == 3:
            images = images.unsqueeze(1)                                 # (N, 1, H, W)
        elif images.shape[-1] in (1, 3):
            images = images.permute(0, 3, 1, 2).contiguous()             # NHWC -> NCHW
        return images, torch.as_tensor(ds.targets, dtype=torch.long)

    def _present(self) -> bool:
        try:
            self.dataset_cls(str(self.data_dir), train=True, download=False)
            self.dataset_cls(str(self.data_dir), train=False, download=False)
        except (RuntimeError, OSError):
            return False
        return True

    def _offline_source(self) -> bool:
        """Put the files in place without a network; ``True`` when it did."""
        return False

    def _download(self) -> None:
        self.dataset_cls(str(self.data_dir), train=True, download=True)
        self.dataset_cls(str(self.data_dir), train=False, download=True)

    def prepare_data(self) -> None:
        """Make sure the files exist: on disk, from a local package, else downloaded."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.data_dir / f".{self.name}.lock")):
            if self._present() or self._offline_source():
                return
            if offline():
                raise self._unavailable("$KANLAB_OFFLINE is set")
            try:
                self._download()
            except (OSError, RuntimeError) as exc:  # URLError is an OSError
                raise self._unavailable(str(exc).strip().splitlines()[0]) from None

    def _unavailable(self, reason: str) -> DataUnavailableError:
        return DataUnavailableError(
            f"Dataset {self.name!r} is not in {str(self.data_dir)!r} and cannot be downloaded "
            f"({reason}); put {self.files_hint or 'the torchvision files'} there "
            "(data.data_dir or $KANLAB_DATA)."
        )

    # ------------------------------------------------------------------ splits

    def _norm_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if self.normalize == "dataset":
            return self.mean, self.std
        if self.normalize == "minus_one_one":
            return (0.5,), (0.5,)
        return (0.0,), (1.0,)

    @staticmethod
    def _count(size: int | float, total: int) -> int:
        return int(round(size * total)) if isinstance(size, float) else int(size)

    def _limit(self, n: int, limit: int | None, generator: torch.Generator) -> torch.Tensor:
        """Indices of the part of a split that is used (``subset``/``pool_limits``)."""
        keep = n if limit is None else min(n, limit)
        if self.subset is not None:
            keep = min(keep, self._count(self.subset, keep))
        if keep == n:
            return torch.arange(n)
        return torch.randperm(n, generator=generator)[:keep]

    def setup(self, stage: str | None = None) -> None:
        """Load the arrays once and carve the seeded validation split."""
        if self.train_set is not None:
            return
        generator = torch.Generator().manual_seed(self.seed)
        mean, std = self._norm_stats()
        images, targets = self._read(train=True)
        pool = self._limit(len(targets), self.pool_limits[0], generator)
        if self.val_size is None:
            n_val = self._count(self.default_val_fraction, len(pool))
        else:
            n_val = self._count(self.val_size, len(pool))
            if self.subset is not None and isinstance(self.val_size, int) and n_val >= len(pool):
                # A protocol's val count on a quick subset: keep its share of the full set.
                n_val = self._count(self.val_size / len(targets), len(pool))
        if not 0 < n_val < len(pool):
            raise ValueError(
                f"`val_size` must leave training images, but got val_size={self.val_size!r} "
                f"for a pool of {len(pool)} images."
            )
        order = pool[torch.randperm(len(pool), generator=generator)]
        val_idx, train_idx = order[:n_val], order[n_val:]
        augment = self.augment == "basic"
        self.train_set = TensorImageDataset(
            images[train_idx], targets[train_idx], mean=mean, std=std, augment=augment
        )
        self.val_set = TensorImageDataset(images[val_idx], targets[val_idx], mean=mean, std=std)
        test_images, test_targets = self._read(train=False)
        test_idx = self._limit(len(test_targets), self.pool_limits[1], generator)
        self.test_set = TensorImageDataset(
            test_images[test_idx], test_targets[test_idx], mean=mean, std=std
        )

    # ------------------------------------------------------------------ loaders

    def _loader(self, dataset: Dataset[Any] | None, *, train: bool) -> DataLoader[Any]:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before the loaders.")
        if isinstance(dataset, TensorImageDataset):
            dataset.prepare(self._device())
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=train,
            drop_last=False,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=identity_collate,
        )

    def _device(self) -> torch.device:
        """The training device: the attached trainer's root device, else the CPU (batches from
        worker processes stay on the CPU: CUDA tensors cannot be shared with them)."""
        trainer = self.trainer
        if trainer is None or self.num_workers > 0:
            return torch.device("cpu")
        return torch.device(trainer.strategy.root_device)

    def train_dataloader(self) -> DataLoader[Any]:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader[Any] | list[DataLoader[Any]]:
        val = self._loader(self.val_set, train=False)
        if self.test_in_val:  # recorded only (test-selected column), never used for selection
            return [val, self._loader(self.test_set, train=False)]
        return val

    def test_dataloader(self) -> DataLoader[Any]:
        return self._loader(self.test_set, train=False)


def gunzip_into(sources: Sequence[Path], target_dir: Path) -> None:
    """Decompress ``.gz`` files into ``target_dir`` (copies, never links system files)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    for src in sources:
        dest = target_dir / src.name.removesuffix(".gz")
        tmp = dest.with_suffix(".part")
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, length=1 << 20)
        tmp.replace(dest)
    logger.info("extracted %d files into %s", len(sources), target_dir)
