"""Lazy registry entries: data modules and callbacks known (and checked) without Lightning."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import kanlab.components  # noqa: F401  (lazy entries)
from kanlab._lazy import read_signature
from kanlab.registry import CALLBACKS, DATAMODULES, Entry, Registry

REPO = Path(__file__).resolve().parents[1]
LAZY = [(r, e) for r in (DATAMODULES, CALLBACKS) for e in r.entries()]


def test_loading_a_config_imports_no_lightning() -> None:
    code = (
        "import sys\n"
        "from kanlab.config import load_experiment\n"
        "cfg = load_experiment('experiments/fashion_mnist/b_spline_kan.yaml',\n"
        "                      ['trainer.callbacks=[{name: grid_update, every_n_epochs: 2}]'])\n"
        "assert cfg.trainer.callbacks[0].name == 'grid_update'\n"
        "print(','.join(m for m in ('lightning', 'pytorch_lightning', 'optuna')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == ""


def test_validation_of_a_lazy_entry_still_rejects_bad_keys() -> None:
    code = (
        "import sys\n"
        "from kanlab.config import load_experiment\n"
        "try:\n"
        "    load_experiment('experiments/fashion_mnist/b_spline_kan.yaml',\n"
        "                    ['data.batch_sise=3'])\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
        "print('lightning' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    message, lightning = out.stdout.strip().splitlines()
    assert "data.batch_sise" in message and "batch_size" in message
    assert lightning == "False"


@pytest.mark.parametrize(("registry", "entry"), LAZY, ids=[f"{r.kind}-{e.name}" for r, e in LAZY])
def test_source_signature_matches_the_class(
    registry: Registry[typing.Any], entry: Entry[typing.Any]
) -> None:
    """What config validation reads from source is what the imported class takes."""
    read = read_signature(entry.source)
    assert read is not None, f"{entry.source}: signature not readable from source"
    real = inspect.signature(entry.target)
    hints = typing.get_type_hints(entry.target.__init__)
    assert list(read.parameters) == list(real.parameters)
    for name, p in read.parameters.items():
        q = real.parameters[name]
        assert p.kind == q.kind, name
        assert p.default == q.default, name
        if name in hints:
            assert p.annotation == hints[name], name


def test_importing_the_module_replaces_the_lazy_entry() -> None:
    registry: Registry[typing.Any] = Registry("thing")
    registry.add_lazy("grid_update", "kanlab.lit.grid_update:GridUpdate", summary="s")
    assert not registry.entry("grid_update").loaded
    from kanlab.lit.grid_update import GridUpdate

    registry.add("grid_update", GridUpdate, extra=1)
    entry = registry.entry("grid_update")
    assert entry.loaded and entry.target is GridUpdate
    assert entry.meta == {"summary": "s", "extra": 1}


def test_a_different_class_under_a_lazy_key_is_refused() -> None:
    registry: Registry[typing.Any] = Registry("thing")
    registry.add_lazy("grid_update", "kanlab.lit.grid_update:GridUpdate")
    with pytest.raises(ValueError, match="already registered to kanlab.lit.grid_update.Grid"):
        registry.add("grid_update", dict)


def test_lazy_entries_carry_summary_and_metadata() -> None:
    entry = DATAMODULES.entry("fashion_mnist")
    assert entry.meta["task"] == "classification"
    assert entry.summary.startswith("Fashion-MNIST")
