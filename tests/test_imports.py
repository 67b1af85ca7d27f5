"""Import boundaries: layers and models stay free of Lightning, Optuna and timm."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["kanlab", "kanlab.layers", "kanlab.models", "kanlab.config"])
def test_light_imports(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "heavy = [m for m in ('lightning', 'pytorch_lightning', 'optuna', 'timm')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} pulled in {out.stdout.strip()}"


def test_timm_only_in_interop() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "kanlab"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if ("import timm" in p.read_text() or "from timm" in p.read_text())
        and p.relative_to(root).as_posix() != "interop/timm.py"
    ]
    assert offenders == []


def test_lightning_and_optuna_boundaries() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "kanlab"
    rules = {
        "lightning": ("lit/", "data/"),
        "optuna": ("search/", "results/", "cli.py"),
    }
    for lib, allowed in rules.items():
        offenders = []
        for p in root.rglob("*.py"):
            rel = p.relative_to(root).as_posix()
            text = p.read_text()
            if (f"import {lib}" in text or f"from {lib}" in text) and not rel.startswith(allowed):
                offenders.append(rel)
        assert offenders == [], f"{lib} imported outside {allowed}: {offenders}"
