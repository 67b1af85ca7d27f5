"""Pinned numerics: every layer family's seconds-long run gives its committed numbers exactly.

The numbers come from ``tests/testing/pinned_runs*.json``, each written by
``OMP_NUM_THREADS=1 python -m kanlab.testing.pinned tests/testing/<file> --data-dir DIR``
(see :mod:`kanlab.testing.pinned`); a failure here means the code's numerics changed: if that
is meant, regenerate the files and re-run (or ``--verify``) the tables.

Float rounding depends on the torch build and the CPU's kernels, so each file pins one
machine: ``pinned_runs.<capability>.<vendor>-<family>.json`` the torch build, instruction set
and CPU vendor and family (``/proc/cpuinfo``) it was made on, ``pinned_runs.json`` the torch
build and instruction set its ``machine`` names (an AVX512 CPU whose vendor it did not record)
on any CPU that has no file of its own. The vendor matters because MKL picks its GEMM kernels
by vendor: on an AMD CPU it runs the same non-AVX512 path whatever torch's own kernels use, so
on an AMD family-25 AVX512 VM 11 of the 13 runs moved against ``pinned_runs.json`` (8 of them
give the bits of the AVX2 AMD file). A run is checked against the file made on its machine
(the vendor's own file first), and skipped, with the reason, where none is, or where that file
marks it stale (a numerics change re-pinned on another machine class; see
:mod:`kanlab.testing.pinned`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from kanlab.testing.pinned import PINNED, machine, run_pinned


def made_host(path: Path) -> str:
    """The ``<vendor>-<family>`` a file's name pins (``pinned_runs[.<capability>.<host>].json``;
    ``""``: any CPU of the file's instruction set)."""
    parts = path.name.split(".")
    return parts[2] if len(parts) == 4 else ""


# the files naming a vendor and family first: pins_for takes the first that matches
PINNED_FILES = sorted(Path(__file__).parent.glob("pinned_runs*.json"),
                      key=lambda path: (made_host(path) == "", path.name))
PINS = {path: json.loads(path.read_text()) for path in PINNED_FILES}
_CONV = {"conv2d", "kan_conv2d", "s_conv_kan"}


def cpu_host() -> str:
    """``<vendor>-<family>`` of this CPU from ``/proc/cpuinfo`` (``""`` where it is missing)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    fields: dict[str, str] = {}
    for line in text.splitlines()[:30]:  # the first CPU's entry
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    vendor, family = fields.get("vendor_id"), fields.get("cpu family")
    return f"{vendor}-{family}" if vendor and family else ""


def pins_for(here: dict[str, Any], host: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The pinned data made on this machine (a file naming this CPU's vendor and family before
    one naming none), or None and what each file was made on."""
    seen = []
    for path, data in PINS.items():
        made, pinned_host = data["machine"], made_host(path)
        if ((made["torch"], made["cpu_capability"]) == (here["torch"], here["cpu_capability"])
                and pinned_host in ("", host)):
            return data, []
        seen.append(f"{path.name}: torch {made['torch']} / {made['cpu_capability']}"
                    + (f" / {pinned_host}" if pinned_host else ""))
    return None, seen


@pytest.mark.parametrize("path", PINNED_FILES, ids=lambda p: p.name)
def test_each_file_pins_every_run_and_every_layer_family(path: Path) -> None:
    from kanlab.registry import LAYERS

    data = PINS[path]
    assert sorted(data["runs"]) == sorted(PINNED)
    assert set(data.get("stale", {})) <= set(PINNED)
    assert all(isinstance(why, str) and why for why in data.get("stale", {}).values())
    families = {n for n in LAYERS.names() if n not in ("linear", "topk_moe")}
    assert families <= set(PINNED), families - set(PINNED)
    parts = path.name.split(".")
    assert len(parts) in (2, 4), f"{path.name}: pinned_runs[.<capability>.<vendor>-<family>].json"
    if len(parts) == 4:  # the name states the machine the file's own record names
        assert parts[1] == data["machine"]["cpu_capability"]


def test_a_pin_applies_only_to_the_machine_it_was_made_on() -> None:
    avx2 = next(p for p in PINNED_FILES if ".AVX2." in p.name)
    made, host = PINS[avx2]["machine"], made_host(avx2)
    assert pins_for(made, host)[0] == PINS[avx2]
    data, seen = pins_for(made, "OtherVendor-1")  # same build and ISA, another vendor's CPU
    assert data is None and any(s.startswith(avx2.name) for s in seen)
    data, seen = pins_for({"torch": "0.0", "cpu_capability": "NONE"}, host)
    assert data is None and len(seen) == len(PINNED_FILES)


def test_a_vendors_own_pin_wins_over_the_one_naming_no_vendor() -> None:
    generic = next(p for p in PINNED_FILES if not made_host(p))
    made = PINS[generic]["machine"]
    own = [p for p in PINNED_FILES if made_host(p)
           and PINS[p]["machine"]["cpu_capability"] == made["cpu_capability"]]
    assert own, f"no vendor's own file next to {generic.name}"
    for path in own:
        assert pins_for(made, made_host(path))[0] is PINS[path]
    assert pins_for(made, "OtherVendor-1")[0] is PINS[generic]  # a CPU with no file of its own


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_run_reproduces_its_committed_numbers(name: str, request: Any) -> None:
    here, host = machine(), cpu_host()
    data, seen = pins_for(here, host)
    if data is None:
        pytest.skip(f"pinned on {'; '.join(seen)}; here torch {here['torch']} / "
                    f"{here['cpu_capability']} / {host}: float rounding may differ")
    stale = data.get("stale", {})
    if name in stale:
        pytest.skip(f"{name}: pinned before a numerics change ({stale[name]}); regenerate "
                    "this machine's file (python -m kanlab.testing.pinned)")
    data_dir = request.getfixturevalue("data_dir") if name in _CONV else None
    got = run_pinned(name, data_dir)
    want = data["runs"][name]
    moved = {k: (v, got.get(k)) for k, v in want.items()
             if not (v == got.get(k) or (isinstance(v, float) and math.isnan(v)
                                         and isinstance(got.get(k), float)
                                         and math.isnan(got[k])))}
    assert not moved and set(got) == set(want), f"{name}: numerics moved {moved}"
