"""The light commands answer without torch/Lightning, and closed pipes end quietly.

Each command runs in a fresh interpreter (``main([...])``), then the test reads
``sys.modules``: speed is a property of what gets imported, not a timed assertion.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "lightning", "pytorch_lightning", "optuna", "timm", "sympy", "matplotlib",
         "torchmetrics")


def _imports_after(argv: list[str], results: Path) -> tuple[int, set[str]]:
    code = (
        "import io, json, sys, contextlib\n"
        "from kanlab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = main({argv!r})\n"
        f"print(json.dumps([rc, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    env = {**os.environ, "KANLAB_RESULTS": str(results), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    rc, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    return rc, set(heavy)


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (["--help"], set()),
        (["--version"], set()),
        (["list"], set()),
        (["list", "layers"], set()),
        (["list", "studies"], set()),
        (["list", "experiments"], set()),
        (["list", "datamodules"], set()),
        (["list", "samplers"], set()),
        # info imports the one entry it shows (its docstring and signature), nothing else
        (["info", "relu"], {"torch", "sympy"}),
        (["info", "b_spline_kan"], {"torch", "sympy"}),
        (["info", "adamw"], {"torch"}),
        (["info", "tpe"], {"optuna"}),
        (["info", "topk", "--set", "k=3"], {"torch", "sympy"}),   # builds it to check values
        (["info", "eafo", "--set", "base=tanh"], {"torch", "sympy"}),  # derives the formula
        (["study", "list"], {"optuna"}),
        (["leaderboard"], set()),
    ],
)
def test_light_commands_import_only_what_they_need(
    argv: list[str], allowed: set[str], tmp_path: Path
) -> None:
    if argv[0] == "study":  # a real study to list
        import optuna

        (tmp_path / "studies").mkdir()
        optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/studies/s.db")
        argv = [*argv, "--study", "s"]
    rc, heavy = _imports_after(argv, tmp_path)
    assert rc == (2 if argv == ["leaderboard"] else 0)  # leaderboard: no runs yet
    assert heavy <= allowed, f"kanlab {' '.join(argv)} imported {sorted(heavy - allowed)}"


@pytest.mark.parametrize(
    ("argv", "code", "allowed"),
    [(["train", "--help"], 0, set()), (["train", "nope.yaml"], 2, set()),
     (["train", "fashion_mnist/mlp", "--set", "optim.lr=.inf"], 2, set()),
     # the model section is checked against its class's signature (torch, no Lightning)
     (["train", "--set", "optim.lr=-1", "fashion_mnist/mlp"], 2, {"torch", "sympy"})],
)
def test_train_help_and_config_errors_answer_without_lightning(
    argv: list[str], code: int, allowed: set[str], tmp_path: Path
) -> None:
    """`kanlab train --help` and config errors answer without Lightning or torchmetrics
    (4-5 s of imports before)."""
    rc, heavy = _imports_after(argv, tmp_path)
    assert rc == code
    assert heavy <= allowed, f"kanlab {' '.join(argv)} imported {sorted(heavy - allowed)}"


@pytest.mark.parametrize("argv", [["list"], ["info", "b_spline_kan"], ["--help"]])
def test_output_into_a_closed_pipe_exits_0_quietly(argv: list[str]) -> None:
    """``kanlab list | head -1``: no BrokenPipeError, no traceback, exit code 0."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write, as `head` after its lines
    try:
        proc = subprocess.run([sys.executable, "-m", "kanlab", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, env=env, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr.decode() == ""
