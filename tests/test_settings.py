"""Environment switches: read in kanlab/settings.py only, documented in README, never over an
explicit argument; the allocator is left alone by light commands."""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kanlab import settings
from kanlab.command import results_dir

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "kanlab"


def _environment_reads(path: Path) -> list[str]:
    """``KANLAB_*`` names a module reads from ``os.environ``/``os.getenv``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.Call, ast.Subscript)):
            text = ast.unparse(node.func if isinstance(node, ast.Call) else node.value)
            if "environ" in text or "getenv" in text:
                found += [c.value for c in ast.walk(node) if isinstance(c, ast.Constant)
                          and isinstance(c.value, str) and c.value.startswith("KANLAB_")]
    return found


def test_only_settings_reads_the_environment() -> None:
    readers = {p.relative_to(PACKAGE).as_posix(): _environment_reads(p)
               for p in PACKAGE.rglob("*.py")}
    assert {p for p, names in readers.items() if names} == {"settings.py"}


def test_every_switch_named_in_the_package_is_a_setting_or_a_test_hook() -> None:
    named = set()
    for path in PACKAGE.rglob("*.py"):
        named |= set(re.findall(r"KANLAB_[A-Z_]*[A-Z]\b", path.read_text()))
    assert named == set(settings.SWITCHES) | set(settings.TEST_HOOKS) | set(settings.INTERNAL)


def test_readme_tables_list_every_switch() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Environment", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(KANLAB_\w+)` \|", section, flags=re.M)
    assert rows == [*settings.SWITCHES, *settings.TEST_HOOKS, *settings.INTERNAL]


def test_the_toy_hooks_are_documented_in_kanlab_testing() -> None:
    import kanlab.testing

    for name in settings.TEST_HOOKS:
        assert name in (kanlab.testing.__doc__ or ""), name


def test_values_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*settings.SWITCHES, *settings.TEST_HOOKS):
        monkeypatch.delenv(name, raising=False)
    assert settings.results_dir() is None and settings.compile_kernels() is None
    assert not settings.offline() and settings.malloc_tuning()
    assert (settings.toy_epochs(), settings.toy_sleep(), settings.toy_fail()) == (3, 0.0, None)
    monkeypatch.setenv("KANLAB_OFFLINE", "Yes")
    monkeypatch.setenv("KANLAB_COMPILE", "0")
    monkeypatch.setenv("KANLAB_MALLOC", " 0 ")
    monkeypatch.setenv("KANLAB_DB_PASSWORD", " p w ")
    assert settings.offline() and settings.compile_kernels() is False
    assert not settings.malloc_tuning()
    assert settings.db_password() == " p w "  # a password is taken as it is


def test_an_explicit_results_dir_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KANLAB_RESULTS", str(tmp_path / "env"))
    assert results_dir(argparse.Namespace(results_dir=str(tmp_path / "arg"))) == tmp_path / "arg"
    assert results_dir(argparse.Namespace(results_dir=None)) == tmp_path / "env"


@pytest.mark.skipif(sys.platform != "linux", reason="glibc mallopt is Linux-only")
@pytest.mark.parametrize(("argv", "tuned"), [(["list"], False), (["info", "adamw"], False),
                                             (["--version"], False), (["train", "--help"], True)])
def test_only_commands_that_train_tune_the_allocator(argv: list[str], tuned: bool) -> None:
    code = (
        "import contextlib, io\n"
        "from kanlab import _malloc\n"
        "from kanlab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({argv!r})\n"
        "print(_malloc.tuned())\n"
    )
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "KANLAB_MALLOC")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, cwd=REPO)
    assert out.stdout.strip().splitlines()[-1] == str(tuned)
