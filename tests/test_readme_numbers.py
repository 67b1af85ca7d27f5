"""Every measured figure in README.md and results/**/README.md is traced to a committed file.

A measured figure is a speed-up (``7.3×``), a time in ms, a run time in hours (``6.2 h of run
time``), minutes or seconds per run; tables (generated elsewhere and tested there) and code
blocks are left aside. A paragraph that quotes figures names its source with a comment,
``<!-- source: results/bench/search.json -->`` (several allowed): committed files under
``results/`` (bench output written by ``python -m bench NAME --record``, leaderboards, run
rows). The test re-reads them: every number of every figure in the paragraph must occur in
one of its sources, to the precision written (6.2 matches 6.20 or 6.2184).

Figures quoted before this rule existed and not yet backed by a committed file are listed in
:data:`UNTRACED` (file -> figures): the list may only shrink. A figure that disappears from a
README must leave it, and a new figure needs a source.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIGURE = re.compile(
    r"(?<![\w.])(?:~|about )?\d+(?:\.\d+)?(?:[–-]\d+(?:\.\d+)?)?"
    r"(?:×| ?ms\b| h of (?:run time|wall)| h elapsed| min(?:utes)? on| s per)")
SOURCE = re.compile(r"<!--\s*source:\s*(\S+)\s*-->")
NUMBER = re.compile(r"\d+(?:\.\d+)?")

# Quoted before issue 25 and not yet backed by committed bench output (python -m bench ...
# --record writes it): remove an entry once its paragraph names a source.
UNTRACED: dict[str, set[str]] = {}


def _readmes() -> list[str]:
    found = sorted(str(p.relative_to(REPO)) for p in REPO.glob("results/**/README.md"))
    return ["README.md", *found]


def _paragraphs(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return [p for p in re.split(r"\n\s*\n", text) if not p.lstrip().startswith("|")]


def _committed(path: str) -> bool:
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "--error-unmatch", path],
                         capture_output=True, text=True)
    return out.returncode == 0


def _occurs(number: str, source_numbers: set[str]) -> bool:
    digits = len(number.split(".")[1]) if "." in number else 0
    target = float(number)
    return any(abs(round(float(n), digits) - target) < 10 ** -(digits + 3)
               for n in source_numbers)


@pytest.mark.parametrize("readme", _readmes())
def test_every_measured_figure_names_a_committed_source(readme: str) -> None:
    untraced: set[str] = set()
    for para in _paragraphs((REPO / readme).read_text()):
        figures = FIGURE.findall(para)
        sources = SOURCE.findall(para)
        if not figures:
            continue
        if not sources:
            untraced.update(figures)
            continue
        numbers: set[str] = set()
        for src in sources:
            assert src.startswith("results/") and _committed(src), (
                f"{readme}: source {src} must be a committed file under results/")
            numbers.update(NUMBER.findall((REPO / src).read_text()))
        for fig in figures:
            for n in NUMBER.findall(fig):
                assert _occurs(n, numbers), f"{readme}: {fig!r} is not in {', '.join(sources)}"
    assert untraced == UNTRACED.get(readme, set()), (
        f"{readme}: figures without a source comment must be exactly the listed legacy ones; "
        f"new: {sorted(untraced - UNTRACED.get(readme, set()))}, "
        f"gone (remove from UNTRACED): {sorted(UNTRACED.get(readme, set()) - untraced)}")
