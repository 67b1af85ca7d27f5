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


def _readme_commands() -> list[list[str]]:
    """Every ``kanlab …`` command of the README's bash blocks, as argv (comments dropped)."""
    import shlex

    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # OMP_NUM_THREADS=1 …
                words = words[1:]
            if words[:1] == ["kanlab"]:
                commands.append(words[1:words.index("&&")] if "&&" in words else words[1:])
    return commands


def _study_names() -> set[str]:
    import yaml

    from kanlab.specs import list_specs

    specs = [s.path for s in list_specs("studies")]
    specs += list((README.parent / "results").glob("*/study_*.yaml"))
    return {yaml.safe_load(p.read_text())["name"] for p in specs}


@pytest.mark.parametrize("argv", _readme_commands(), ids=" ".join)
def test_readme_command_names_what_exists(argv: list[str]) -> None:
    """Each README command's command, spec, run dir and study name exist as written."""
    from kanlab.cli import _COMMANDS
    from kanlab.specs import resolve_spec

    assert argv[0] in _COMMANDS
    if argv[0] in ("train", "search", "worker") and not argv[1].startswith("-"):
        kind = "experiments" if argv[0] == "train" else "studies"
        path = argv[1] if (README.parent / argv[1]).is_file() else resolve_spec(argv[1], kind)
        assert Path(README.parent / path).is_file() or Path(path).is_file()
    if "--study" in argv and argv[0] == "study":  # `search --study NEW` starts a new one
        assert argv[argv.index("--study") + 1] in _study_names()
    if "--resume" in argv:
        assert argv[argv.index("--resume") + 1].startswith("results/local/")  # user runs


def _inline_quick_commands() -> list[list[str]]:
    """The README's inline `kanlab list …` / `kanlab info …` examples (placeholders left out)."""
    spans = re.findall(r"`kanlab ((?:list|info)[^`]*)`", README.read_text().replace("\n", " "))
    return [span.split() for span in spans if not re.search(r"[A-Z]{3,}", span)]


@pytest.mark.parametrize("argv", _inline_quick_commands(), ids=" ".join)
def test_readme_quick_commands_run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from kanlab.cli import main

    assert main(argv) == 0
    assert capsys.readouterr().out
