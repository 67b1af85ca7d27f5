"""Constructor signatures of the Lightning-side entries, declared without Lightning.

Data modules and training callbacks are Lightning classes: importing one imports Lightning
(seconds). Loading and validating a config needs only their keyword parameters, so the catalog
(:mod:`kanlab.catalog`) points each such entry at a function here with the same signature
(metadata ``params="kanlab._signatures:..."``); :func:`kanlab.config.signature_of` reads it
instead of importing the class. ``tests/test_catalog.py`` checks that every function here
takes exactly what its class takes (names, kinds, defaults, types), so a change to a
constructor that is not made here too fails the suite.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["grid_update", "image_data", "skan_schedule", "synthetic_data"]


def image_data(
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
    """:class:`kanlab.data._base.ImageDataModule` (every image data set)."""


def synthetic_data(
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
    """:class:`kanlab.data.synthetic.SyntheticDataModule`."""


def grid_update(
    *,
    every_n_epochs: int = 1,
    until_epoch: int | None = None,
    margin: float | None = None,
) -> None:
    """:class:`kanlab.lit.grid_update.GridUpdate`."""


def skan_schedule(*, selective_epoch: int, pruned_epoch: int | None = None) -> None:
    """:class:`kanlab.lit.skan_schedule.SKANSchedule`."""
