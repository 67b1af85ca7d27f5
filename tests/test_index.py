"""The light registry index (kanlab/_index_data.py) matches the real registries."""

from __future__ import annotations

from typing import Any

from kanlab._index import REGISTRIES, build_index
from kanlab._index_data import INDEX


def test_index_matches_the_registries() -> None:
    built = build_index()
    assert list(built) == list(REGISTRIES)
    for kind, rows in built.items():
        assert [r["name"] for r in INDEX[kind]] == [r["name"] for r in rows], (
            f"the {kind} registry changed: regenerate the index with `python -m kanlab._index`"
        )
    assert _own(INDEX) == _own(built), (
        "an entry changed: regenerate the index with `python -m kanlab._index`"
    )


def _own(index: dict[str, tuple[dict[str, Any], ...]]) -> dict[str, list[dict[str, Any]]]:
    """The index as kanlab decides it: third-party entries (torch optimisers, Optuna samplers)
    by name and metadata only. Their modules, docstrings and signatures belong to releases
    upstream, which the suite must not compare against."""
    return {
        kind: [
            row if row["target"].startswith("kanlab")
            else {k: row[k] for k in ("name", "meta")}
            for row in rows
        ]
        for kind, rows in index.items()
    }


def test_index_names_every_entry_with_its_module() -> None:
    for kind, rows in INDEX.items():
        assert rows, kind
        for row in rows:
            module, _, qualname = row["target"].partition(":")
            assert module and qualname, row["name"]
            assert row["summary"], f"{kind} {row['name']} has no one-line description"
