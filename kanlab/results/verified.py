"""A table's verification records (``DIR/verified.jsonl``): which rows' code versions the
current code is tied to.

``kanlab reproduce DIR --verify`` (:mod:`kanlab.results.verify`) appends a record when the
current code reproduces a sample of a table's runs bit for bit; the leaderboard (``--strict``)
and ``kanlab reproduce`` read it here. This module imports nothing of kanlab's, so both can.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["VERIFIED", "read_verified", "tied_codes"]

VERIFIED = "verified.jsonl"
"""The verification record's file name in a results directory."""


def read_verified(bench: str | Path) -> list[dict[str, Any]]:
    """The records of ``bench/verified.jsonl`` (``[]`` without one)."""
    path = Path(bench) / VERIFIED
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def tied_codes(bench: str | Path, code_sha: str | None) -> frozenset[str]:
    """The rows' code versions that a verification record ties to ``code_sha`` (itself
    included): rows at any of them count as the current code's."""
    if not code_sha:
        return frozenset()
    tied = {code_sha}
    for rec in read_verified(bench):
        if rec.get("code_sha") == code_sha and rec.get("rows_code_sha"):
            tied.add(str(rec["rows_code_sha"]))
    return frozenset(tied)
