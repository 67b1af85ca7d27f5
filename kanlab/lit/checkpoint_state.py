"""What every checkpoint holds besides the weights: the resolved config and the RNG state.

:class:`ConfigInCheckpoint` stores the config (and its hash) so a checkpoint is state + config;
:class:`RNGInCheckpoint` stores the random-number state so a resumed fit draws what the
uninterrupted run would have drawn. :func:`kanlab.lit.train.train` adds both to every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch

__all__ = ["ConfigInCheckpoint", "RNGInCheckpoint"]


class ConfigInCheckpoint(pl.Callback):
    """Store the resolved config in every checkpoint (checkpoints are state + config)."""

    def __init__(self, config: Mapping[str, Any], config_hash: str) -> None:
        self.config = config  # kanlab.config.to_dict of the run's config
        self.hash = config_hash

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["kanlab_config"] = self.config
        checkpoint["kanlab_config_hash"] = self.hash


class RNGInCheckpoint(pl.Callback):
    """The random-number state in every checkpoint, restored when a resumed fit starts.

    A resumed run then draws the shuffle order (each epoch's training iterator draws its
    permutation from torch's global generator) and any dropout masks the uninterrupted run
    would have drawn; ``seed_everything`` alone restarts the stream from the seed, so the first
    resumed epoch replayed epoch 0's order. Restored at fit start and again after a sanity
    check (whose loaders draw too), before Lightning creates the training iterator.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    @property
    def state_key(self) -> str:
        """The key checkpoints hold this state under: the class's name when it lived in
        ``kanlab.lit.train``, so runs saved before the move resume with their RNG state."""
        return "_RNGInCheckpoint"

    def state_dict(self) -> dict[str, Any]:
        import random

        import numpy as np

        name, keys, pos, has_gauss, cached = tuple(np.random.get_state())
        # tensors and plain values only: checkpoints load with torch.load(weights_only=True)
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss,
                      cached],
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = dict(state_dict)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()  # the sanity check's loaders drew from the restored stream

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pending = None

    def _restore(self) -> None:
        if self._pending is None:
            return
        import random

        import numpy as np

        state = self._pending
        torch.set_rng_state(state["torch"])
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        random.setstate(state["python"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
