"""README examples are tests: every ```python block of README.md runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), {})
    if "52552" in BLOCKS[index]:
        assert "52552" in capsys.readouterr().out


def test_readme_results_table_matches_the_generated_leaderboard() -> None:
    """The README's copy of the Fashion-MNIST table must equal the generated leaderboard.md."""
    board = README.parent / "results" / "fashion_mnist" / "leaderboard.md"
    rows = [line for line in README.read_text().splitlines()
            if line.startswith("| ") and (" | kan_mlp " in line or " | mlp " in line)]
    assert rows, "README shows no leaderboard rows"
    generated = set(board.read_text().splitlines())
    assert [row for row in rows if row not in generated] == []


FILES = dict(re.findall(r"```python file=(\S+)\n(.*?)```", README.read_text(), flags=re.S))


def test_adding_a_layer_section_runs_the_shipped_contract_suite(tmp_path: Path) -> None:
    """The "Adding a layer" files, written as a user would, pass under pytest: the layer
    registers itself and kanlab.testing's LayerContract runs on it."""
    assert set(FILES) == {"tiny_kan.py", "test_tiny_kan.py"}
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), str(README.parent), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         str(tmp_path / "test_tiny_kan.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    # the contract's tests ran (not only the layer's own two)
    counts = re.search(r"(\d+) passed", out.stdout)
    assert counts is not None and int(counts.group(1)) >= 9, out.stdout[-2000:]
    assert "skipped" not in out.stdout
