"""The named steps of ``kanlab.lit.train.train``, each on its own (synthetic data, CPU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from kanlab.config import ConfigError, config_hash, load_experiment, to_dict
from kanlab.errors import InputError
from kanlab.lit.run_files import RunIdentity, open_run_files
from kanlab.lit.train import (
    build_parts,
    build_row,
    build_trainer,
    check_forward,
    checkpoint_to_resume,
    fit_and_test,
    show_progress,
    write_env,
)
from kanlab.provenance import code_version

RAW: dict[str, Any] = {
    "name": "steps", "seed": 0,
    "model": {"name": "mlp", "widths": [2, 8, 1]},
    "data": {"name": "synthetic", "n_train": 32, "n_val": 16, "n_test": 16, "batch_size": 16},
    "optim": {"name": "adamw", "lr": 1e-2},
    "trainer": {"max_epochs": 1, "progress_bar": False, "accelerator": "cpu"},
}


def _ident(*overrides: str) -> RunIdentity:
    cfg = load_experiment(RAW, overrides)
    return RunIdentity(cfg, to_dict(cfg), config_hash(cfg))


def test_checkpoint_to_resume(tmp_path: Path) -> None:
    assert checkpoint_to_resume(False, None) is None
    with pytest.raises(InputError, match="`resume` needs a run directory with last.ckpt"):
        checkpoint_to_resume(True, tmp_path)
    (tmp_path / "last.ckpt").write_bytes(b"")
    assert checkpoint_to_resume(True, tmp_path) == tmp_path / "last.ckpt"


def test_show_progress_follows_the_argument_then_the_config() -> None:
    cfg = _ident().cfg
    assert show_progress(cfg, True) is True and show_progress(cfg, False) is False
    assert show_progress(cfg, None) is False  # progress_bar: false in the config


def test_build_parts_is_seeded_and_checked() -> None:
    first, second = build_parts(_ident().cfg), build_parts(_ident().cfg)
    assert first.params_built == 2 * 8 + 8 + 8 + 1 and first.select_from == 0
    for a, b in zip(first.system.parameters(), second.system.parameters(), strict=True):
        assert torch.equal(a, b)  # the same seed builds the same weights
    with pytest.raises(ConfigError, match=r"`model` \(mlp\) fails on synthetic inputs"):
        build_parts(_ident("model.widths=[3, 8, 1]").cfg)


def test_check_forward_names_the_class_count_it_is_given() -> None:
    cfg = _ident().cfg
    model = torch.nn.Linear(2, 1)
    check_forward(cfg, model, (2,), num_classes=0)  # regression: any output width
    with pytest.raises(ConfigError, match="must output 4 values per input"):
        check_forward(cfg, model, (2,), num_classes=4)


def test_steps_from_trainer_to_row(tmp_path: Path) -> None:
    ident = _ident()
    parts = build_parts(ident.cfg)
    files = open_run_files(ident, tmp_path, None, resume=False)
    trainer = build_trainer(ident, parts, files.run_dir, tmp_path, [files.ctrl_c], show=False,
                            trial_attrs={"study": "s", "number": 4})
    device = trainer.strategy.root_device
    code = code_version()
    env = write_env(ident, trainer, device, files.run_dir, code)
    assert json.loads((files.run_dir / "env.json").read_text())["config_hash"] == \
        ident.config_hash == env["config_hash"]
    fitted = fit_and_test(ident.cfg, parts, trainer, files, None, trial=True)
    assert fitted.epochs_run == 1 and fitted.use_best and not fitted.stopped
    assert (files.run_dir / "best.ckpt").is_file()
    ckpt = torch.load(files.run_dir / "best.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["kanlab_config_hash"] == ident.config_hash
    assert ckpt["kanlab_config"] == ident.resolved
    model = parts.system.model.eval()
    row = build_row(ident, parts, fitted, model, env, device=device, code=code.to_dict(),
                    run_dir=files.run_dir, results_dir=tmp_path, started=0.0,
                    trial_attrs={"study": "s", "number": 4})
    assert row["config_hash"] == ident.config_hash and row["config"] == ident.resolved
    assert row["run_dir"] == str(files.run_dir.relative_to(tmp_path))
    assert row["flops"] == 2 * (2 * 8 + 8 * 1) and row["latency_ms"] > 0
    assert row["epochs"] == 1 and row["status"] == "completed" and row["trial"]["number"] == 4
    assert set(row["metrics"]) >= {"val/loss", "test/loss", "epoch_time_s"}
