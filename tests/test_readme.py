"""README examples are tests: every ```python block of README.md runs as written."""

from __future__ import annotations

import re
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
