"""Where kanlab reads its shipped specs and writes user results.

The experiment and study YAMLs live once, in the repository's top-level ``experiments/`` and
``search/``. The wheel carries them as package data under ``kanlab/_specs/`` (mapped there by
``setup.py`` at build time, not copied by hand), with the same relative layout, so a study's
``base: ../experiments/…`` resolves inside the package as in the repo. A checkout (or an
editable install) reads the top-level directories; an installed wheel reads its package data.

Names: ``kanlab train fashion_mnist/af_kan`` and ``kanlab search kan_grid`` take a shipped
spec by name (the path under ``experiments/``/``search/`` without ``.yaml``); a path to a
file still works and wins.

User results go to ``--results-dir`` > ``$KANLAB_RESULTS`` > ``./results/local`` (gitignored),
never into the committed benchmark folders unless asked for (``--results-dir results``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kanlab import settings
from kanlab.errors import InputError
from kanlab.registry import suggest

__all__ = [
    "SPEC_KINDS",
    "ShippedSpec",
    "default_results_dir",
    "list_specs",
    "resolve_spec",
    "spec_root",
]

# `kanlab list` kind -> directory (in the repo root and under kanlab/_specs/ in the wheel).
SPEC_KINDS: dict[str, str] = {"experiments": "experiments", "studies": "search"}
_SINGULAR = {"experiments": "experiment", "studies": "study"}
_PACKAGE = Path(__file__).resolve().parent


def default_results_dir() -> Path:
    """``$KANLAB_RESULTS`` or ``results/local`` (relative to the working directory)."""
    return settings.results_dir() or Path("results") / "local"


def spec_root(kind: str) -> Path:
    """The directory holding the shipped specs of ``kind`` (package data, else the repo's)."""
    folder = SPEC_KINDS[kind]
    shipped = _PACKAGE / "_specs" / folder
    if shipped.is_dir():
        return shipped
    return _PACKAGE.parent / folder


@dataclass(frozen=True)
class ShippedSpec:
    """One shipped YAML: its name (``fashion_mnist/af_kan``), file and description."""

    name: str
    path: Path
    summary: str


def _summary(path: Path) -> str:
    """The ``description:`` value, else the first sentence of the leading comment (no YAML
    parse: stays fast)."""
    comment: list[str] = []
    in_comment = True
    for line in path.read_text().splitlines():
        if line.startswith("description:"):
            return line.partition(":")[2].strip().strip("'\"")
        text = line.lstrip("#").strip()
        if in_comment and line.startswith("#") and text:
            comment.append(text)
        else:
            in_comment = in_comment and not comment  # the first comment paragraph only
    joined = " ".join(comment)
    end = joined.find(". ")
    return joined if end < 0 else joined[:end + 1]


def list_specs(kind: str) -> list[ShippedSpec]:
    """Every shipped spec of ``kind`` (``experiments`` or ``studies``), sorted by name."""
    root = spec_root(kind)
    if not root.is_dir():
        return []
    return [
        ShippedSpec(p.relative_to(root).with_suffix("").as_posix(), p, _summary(p))
        for p in sorted(root.rglob("*.yaml"))
    ]


def resolve_spec(arg: str, kind: str) -> Path:
    """A YAML path as given, else the shipped spec named ``arg``.

    ``arg`` may be a file path, a name (``kan_grid``, ``fashion_mnist/af_kan``), or a repo-style
    path (``search/kan_grid.yaml``) run outside a checkout.

    Raises:
        InputError: no such file and no shipped spec of that name (with the closest name).
    """
    path = Path(arg).expanduser()
    if path.is_file():
        return path
    root = spec_root(kind)
    name = arg.removesuffix(".yaml").removesuffix(".yml")
    prefix = SPEC_KINDS[kind] + "/"
    if name.startswith(prefix):
        name = name[len(prefix):]
    candidate = root / f"{name}.yaml"
    if candidate.is_file():
        return candidate
    names = [s.name for s in list_specs(kind)]
    raise InputError(
        f"`{_SINGULAR[kind]}` must be a YAML file or the name of a shipped {_SINGULAR[kind]}, "
        f"but got {arg!r}.{suggest(name, names)} Shipped: {', '.join(names)} "
        f"(kanlab list {kind})."
    )
