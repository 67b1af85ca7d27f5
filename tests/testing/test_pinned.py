"""Pinned numerics: every layer family's seconds-long run gives its committed numbers exactly.

The numbers come from ``tests/testing/pinned_runs.json``, written by
``OMP_NUM_THREADS=1 python -m kanlab.testing.pinned tests/testing/pinned_runs.json
--data-dir DIR`` (see :mod:`kanlab.testing.pinned`); a failure here means the code's numerics
changed: if that is meant, regenerate the file and re-run (or ``--verify``) the tables.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from kanlab.testing.pinned import PINNED, machine, run_pinned

PINNED_FILE = Path(__file__).with_name("pinned_runs.json")
DATA = json.loads(PINNED_FILE.read_text())
_CONV = {"conv2d", "kan_conv2d", "s_conv_kan"}


def test_the_file_pins_every_run_and_every_layer_family() -> None:
    from kanlab.registry import LAYERS

    assert sorted(DATA["runs"]) == sorted(PINNED)
    families = {n for n in LAYERS.names() if n not in ("linear", "topk_moe")}
    assert families <= set(PINNED), families - set(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_run_reproduces_its_committed_numbers(name: str, request: Any) -> None:
    here = machine()
    pinned = DATA["machine"]
    if (here["torch"], here["cpu_capability"]) != (pinned["torch"], pinned["cpu_capability"]):
        pytest.skip(f"pinned on torch {pinned['torch']} / {pinned['cpu_capability']}, here "
                    f"{here['torch']} / {here['cpu_capability']}: float rounding may differ")
    data_dir = request.getfixturevalue("data_dir") if name in _CONV else None
    got = run_pinned(name, data_dir)
    want = DATA["runs"][name]
    moved = {k: (v, got.get(k)) for k, v in want.items()
             if not (v == got.get(k) or (isinstance(v, float) and math.isnan(v)
                                         and isinstance(got.get(k), float)
                                         and math.isnan(got[k])))}
    assert not moved and set(got) == set(want), f"{name}: numerics moved {moved}"
