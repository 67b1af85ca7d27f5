"""Checkpoints hold the config and the RNG state; a resumed fit draws what the first would."""

from __future__ import annotations

import random

import numpy as np
import torch

from kanlab.lit.checkpoint_state import ConfigInCheckpoint, RNGInCheckpoint


def test_config_and_its_hash_go_into_every_checkpoint() -> None:
    checkpoint: dict[str, object] = {}
    ConfigInCheckpoint({"name": "x"}, "abc123").on_save_checkpoint(None, None, checkpoint)  # type: ignore[arg-type]
    assert checkpoint == {"kanlab_config": {"name": "x"}, "kanlab_config_hash": "abc123"}


def _draws() -> tuple[list[float], float, float]:
    return torch.rand(3).tolist(), float(np.random.rand()), random.random()


def test_restored_rng_state_replays_the_same_draws() -> None:
    saved = RNGInCheckpoint().state_dict()
    expected = _draws()
    _draws()  # the stream moves on (a restarted process would start elsewhere)
    resumed = RNGInCheckpoint()
    resumed.load_state_dict(saved)
    resumed.on_fit_start(None, None)  # type: ignore[arg-type]
    assert _draws() == expected
    resumed.on_train_start(None, None)  # type: ignore[arg-type]
    resumed.on_sanity_check_end(None, None)  # type: ignore[arg-type]  # nothing pending
    assert _draws() != expected


def test_rng_state_keeps_the_checkpoint_key_of_earlier_runs() -> None:
    assert RNGInCheckpoint().state_key == "_RNGInCheckpoint"  # resumes runs saved before
