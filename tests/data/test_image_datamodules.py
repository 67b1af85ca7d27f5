"""Image data modules: offline Fashion-MNIST, seeded disjoint splits, loaders, augmentation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from kanlab.data._base import DataUnavailableError, TensorImageDataset, random_crop_flip
from kanlab.data.fashion_mnist import DEBIAN_DIR
from kanlab.registry import DATAMODULES

needs_debian = pytest.mark.skipif(
    not (DEBIAN_DIR / "train-labels-idx1-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist not installed",
)


@needs_debian
def test_offline_extraction_from_debian_package(fmnist_dir: Path) -> None:
    raw = fmnist_dir / "FashionMNIST" / "raw"
    labels = raw / "train-labels-idx1-ubyte"
    assert labels.is_file() and not labels.is_symlink()
    assert hashlib.md5(labels.read_bytes()).hexdigest() == "9018921c3c673c538a1fc5bad174d6f9"
    assert (raw / "train-images-idx3-ubyte").stat().st_size == 47_040_016


def test_full_splits_sizes_and_statistics(fmnist_dir: Path) -> None:
    dm = DATAMODULES.build({"name": "fashion_mnist", "data_dir": str(fmnist_dir)})
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (55_000, 5_000, 10_000)
    pixels = dm.train_set.images.float() / 255
    assert pixels.mean().item() == pytest.approx(0.2860, abs=2e-3)
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (128, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.long


def test_split_is_seeded_and_disjoint(fmnist_dir: Path) -> None:
    def split(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        dm = DATAMODULES.build({"name": "tiny_fashion_mnist", "data_dir": str(fmnist_dir),
                                "seed": seed})
        dm.setup()
        return dm.train_set.images.flatten(1), dm.val_set.images.flatten(1)

    train_a, val_a = split(0)
    train_b, val_b = split(0)
    assert torch.equal(train_a, train_b) and torch.equal(val_a, val_b)
    assert (len(train_a), len(val_a)) == (1000, 200)
    rows = {bytes(r.numpy()) for r in train_a}
    assert not any(bytes(r.numpy()) in rows for r in val_a)  # no image in both
    assert not torch.equal(split(1)[1], val_a)


def test_loaders_shuffle_train_and_keep_every_eval_sample(fmnist_dir: Path) -> None:
    dm = DATAMODULES.build({"name": "tiny_fashion_mnist", "data_dir": str(fmnist_dir),
                            "batch_size": 64, "subset": 0.5})
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (500, 100, 100)
    for loader in (dm.val_dataloader(), dm.test_dataloader()):
        assert not loader.drop_last
        assert sum(len(y) for _, y in loader) == len(loader.dataset)
    torch.manual_seed(0)
    first = next(iter(dm.train_dataloader()))[1]
    second = next(iter(dm.train_dataloader()))[1]
    assert not torch.equal(first, second)  # shuffled
    assert isinstance(dm.train_dataloader().sampler, torch.utils.data.RandomSampler)


def test_normalize_minus_one_one(fmnist_dir: Path) -> None:
    dm = DATAMODULES.build({"name": "tiny_fashion_mnist", "data_dir": str(fmnist_dir),
                            "normalize": "minus_one_one"})
    dm.setup()
    x, _ = dm.test_set.__getitems__(list(range(50)))
    assert x.min().item() == pytest.approx(-1.0) and x.max().item() <= 1.0


def test_bad_options_and_missing_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="`normalize` must be one of.*Did you mean 'dataset'"):
        DATAMODULES.build({"name": "mnist", "normalize": "datset"})
    with pytest.raises(ValueError, match="`augment` must be 'none'"):
        DATAMODULES.build({"name": "mnist", "augment": "basic"})
    with pytest.raises(ValueError, match="`val_size` must be > 0"):
        DATAMODULES.build({"name": "mnist", "val_size": 0})
    monkeypatch.setenv("KANLAB_OFFLINE", "1")
    dm = DATAMODULES.build({"name": "cifar10", "data_dir": str(tmp_path)})
    with pytest.raises(DataUnavailableError, match="cifar-10-batches-py"):
        dm.prepare_data()


def test_random_crop_flip_keeps_shape_and_content() -> None:
    torch.manual_seed(0)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.uint8).reshape(2, 3, 8, 8)
    out = random_crop_flip(x, padding=0)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))
    padded = random_crop_flip(x, padding=4)
    assert padded.shape == x.shape and padded.dtype == torch.uint8


def test_cifar_path_with_fake_arrays() -> None:
    images = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    ds = TensorImageDataset(images, torch.arange(10), mean=(0.5, 0.5, 0.5), std=(0.25,) * 3,
                            augment=True)
    x, y = ds.__getitems__([0, 3, 5])
    assert x.shape == (3, 3, 32, 32) and y.tolist() == [0, 3, 5]
    assert x.min() >= -2.0 and x.max() <= 2.0


def test_synthetic_tasks() -> None:
    dm = DATAMODULES.build({"name": "synthetic", "function": "exp_sin_sq", "n_train": 10})
    dm.setup()
    x, y = dm.splits[0].tensors
    expected = torch.exp(torch.sin(torch.pi * x[:, 0]) + x[:, 1] ** 2).unsqueeze(1)
    torch.testing.assert_close(y, expected)
    assert dm.dims == (2,) and DATAMODULES.entry("synthetic").meta["task"] == "regression"
    with pytest.raises(ValueError, match="Did you mean 'exp_sin_sq'"):
        DATAMODULES.build({"name": "synthetic", "function": "exp_sin_sqq"})


@needs_debian
def test_quick_subset_keeps_the_protocols_validation_share(fmnist_dir: Path) -> None:
    """``--set data.subset=2000`` on a val_size=5000 protocol still runs (val keeps 5000/60000)."""
    dm = DATAMODULES.build({"name": "fashion_mnist", "data_dir": str(fmnist_dir),
                            "val_size": 5000, "subset": 2000})
    dm.setup("fit")
    assert len(dm.val_set) == round(5000 / 60000 * 2000)
    assert len(dm.train_set) + len(dm.val_set) == 2000
    fits = DATAMODULES.build({"name": "fashion_mnist", "data_dir": str(fmnist_dir),
                              "val_size": 500, "subset": 2000})
    fits.setup("fit")
    assert len(fits.val_set) == 500


def _reference_split(n: int, n_val: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The documented split of a full training pool: val first, from randperm(n) seeded."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:n_val], order[n_val:]


def test_in_memory_batches_equal_torchvisions_per_image_path(fmnist_dir: Path) -> None:
    """Same samples, same order for a seed, same bits as torchvision's ToTensor + Normalize
    behind ``DataLoader(Subset(...), shuffle=True)``; the global random stream ends in the same
    state (so dropout masks and later epochs draw the same numbers)."""
    from torch.utils.data import DataLoader, Subset, TensorDataset
    from torchvision import datasets, transforms

    dm = DATAMODULES.build({"name": "fashion_mnist", "data_dir": str(fmnist_dir),
                            "batch_size": 64, "val_size": 5000, "seed": 3,
                            "normalize": "minus_one_one"})
    dm.setup("fit")
    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    tv = datasets.FashionMNIST(str(fmnist_dir), train=True, download=False, transform=to_tensor)
    val_idx, train_idx = _reference_split(60_000, 5000, seed=3)
    ref_train = Subset(tv, train_idx.tolist())

    torch.manual_seed(11)
    ours = [(x.clone(), y.clone()) for x, y in dm.train_dataloader()]
    ours_state = torch.get_rng_state()
    torch.manual_seed(11)
    order = torch.cat([i for (i,) in DataLoader(TensorDataset(torch.arange(55_000)),
                                                batch_size=64, shuffle=True)])
    assert torch.equal(torch.get_rng_state(), ours_state)
    torch.manual_seed(11)
    ref_loader = iter(DataLoader(ref_train, batch_size=64, shuffle=True))
    for i, (x, y) in enumerate(ours[:6]):  # pixels bit for bit: the per-image path is slow
        rx, ry = next(ref_loader)
        assert x.dtype == rx.dtype == torch.float32
        assert torch.equal(x, rx) and torch.equal(y, ry), f"batch {i}"
    assert [len(y) for _, y in ours] == [64] * 859 + [24]  # 55,000 = 859 x 64 + 24
    targets = torch.as_tensor(tv.targets)
    assert torch.equal(torch.cat([y for _, y in ours]), targets[train_idx[order]])
    raw = torch.as_tensor(tv.data)[train_idx[order[-24:]]].unsqueeze(1)
    assert torch.equal(ours[-1][0], (raw.float() / 255 - 0.5) / 0.5)

    val = list(dm.val_dataloader())  # in order, every image, same bits
    ref_val = DataLoader(Subset(tv, val_idx.tolist()), batch_size=64)
    assert sum(len(y) for _, y in val) == 5000
    for (x, y), (rx, ry) in zip(val[:3], ref_val, strict=False):
        assert torch.equal(x, rx) and torch.equal(y, ry)
    assert torch.equal(torch.cat([y for _, y in val]), targets[val_idx])


def test_dataset_normalised_once_gives_the_same_bits_as_per_batch() -> None:
    images = torch.randint(0, 256, (40, 3, 5, 5), dtype=torch.uint8)
    ds = TensorImageDataset(images, torch.arange(40), mean=(0.49, 0.48, 0.45),
                            std=(0.25, 0.24, 0.26))
    before = ds.__getitems__([7, 3, 39])
    ds.prepare("cpu")
    assert ds.data is not None and ds.data[0].dtype == torch.float32
    after = ds.__getitems__([7, 3, 39])
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])
    augmented = TensorImageDataset(images, torch.arange(40), mean=(0.5,), std=(0.5,),
                                   augment=True)
    augmented.prepare("cpu")
    assert augmented.data is None  # crops need the uint8 images of each batch
