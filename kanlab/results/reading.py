"""Reading a benchmark directory: ``runs.jsonl`` rows, exported studies and anchors.

A benchmark directory (``results/<benchmark>/``) holds the append-only ``runs.jsonl`` written
by training, optional exported studies (``studies/*.json``, from ``kanlab study export``) and an
optional ``anchors.yaml`` of external reference numbers. Its ``reproduce.yaml`` is read by
:mod:`kanlab.results.manifest`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kanlab.errors import InputError
from kanlab.results.records import Anchor, StudySummary

__all__ = ["brief", "describe_model", "read_anchors", "read_runs", "read_studies"]


def read_runs(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``runs.jsonl``.

    A row cut short (a run killed while appending it: the JSON ends early) is skipped with
    a warning on stderr, so one lost row does not hide the table; any other malformed line
    raises :class:`~kanlab.errors.InputError` naming the file and line (exit code 2).
    """
    p = Path(path)
    rows = []
    for i, line in enumerate(p.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if line.lstrip().startswith("{") and not line.rstrip().endswith("}"):
                print(f"kanlab: warning: {p}:{i}: skipped a row cut short (its write was "
                      "interrupted).", file=sys.stderr)
                continue
            raise InputError(f"{p}:{i} is not valid JSON ({exc.msg}); fix or delete that "
                             "line.") from None
        if not isinstance(row, dict):
            raise InputError(f"{p}:{i} must hold a JSON object, but got "
                             f"{type(row).__name__}; fix or delete that line.")
        rows.append(row)
    return rows


def describe_model(config: Mapping[str, Any]) -> str:
    """Short model description from a resolved config: ``kan_mlp 784-64-10 fast_kan``,
    ``timm_backbone resnet18 crrelu``."""
    model = config.get("model") or {}
    if not isinstance(model, Mapping):
        return str(model)
    parts = [str(model.get("name", "?"))]
    if model.get("arch") is not None:  # a wrapped network (timm_backbone)
        parts.append(str(model["arch"]))
    widths = model.get("widths")
    if isinstance(widths, (list, tuple)):
        parts.append("-".join(str(w) for w in widths))
    for key in ("layer", "activation", "activations", "sparsity_layer", "act_layer"):
        value = model.get(key)
        if value is None:
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        names = []
        for item in items:
            if isinstance(item, Mapping):
                hp = {k: brief(v) for k, v in item.items() if k != "name"}
                extra = ",".join(f"{k}={hp[k]}" for k in sorted(hp))
                names.append(f"{item.get('name')}({extra})" if extra else str(item.get("name")))
            else:
                names.append(str(item))
        parts.append("/".join(dict.fromkeys(names)))
    return " ".join(parts)


def brief(value: Any) -> str:
    """Hyperparameter text for the model column: nested specs shown by name only."""
    if isinstance(value, Mapping):
        return str(value.get("name", "{...}"))
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(brief(v) for v in value) + "]"
    return str(value)


def read_studies(bench_dir: str | Path) -> list[StudySummary]:
    """Summaries of ``<bench_dir>/studies/*.json`` exports, sorted by study name."""
    out = []
    for path in sorted(Path(bench_dir).glob("studies/*.json")):
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "trials" not in data:
            continue
        directions = tuple(str(d).lower() for d in data.get("directions") or ["maximize"])
        metrics = tuple(str(m) for m in data.get("metrics") or [])
        trials = data["trials"]
        states = [str(t.get("state", "")).upper() for t in trials]
        complete = [t for t, s in zip(trials, states, strict=True) if s == "COMPLETE"]
        complete = [t for t in complete if t.get("values")]
        best: Mapping[str, Any] | None = None
        pareto = _pareto(complete, directions)
        if len(directions) == 1 and complete:
            sign = 1.0 if directions[0].startswith("max") else -1.0
            best = max(complete, key=lambda t: (sign * float(t["values"][0]), -int(t["number"])))
        elif pareto:
            best = pareto[0]
        out.append(
            StudySummary(
                name=str(data.get("study") or path.stem),
                directions=directions,
                metrics=metrics,
                n_complete=len(complete),
                n_pruned=states.count("PRUNED"),
                n_failed=states.count("FAIL"),
                best_values=tuple(float(v) for v in best["values"]) if best else None,
                best_params=dict(best.get("params") or {}) if best else {},
                best_number=int(best["number"]) if best else None,
                n_pareto=len(pareto),
            )
        )
    return out


def _pareto(trials: list[Mapping[str, Any]], directions: Sequence[str]) -> list[Mapping[str, Any]]:
    signs = [1.0 if d.startswith("max") else -1.0 for d in directions]

    def score(t: Mapping[str, Any]) -> list[float]:
        return [s * float(v) for s, v in zip(signs, t["values"], strict=False)]

    front = []
    for t in trials:
        st = score(t)
        dominated = any(
            all(a >= b for a, b in zip(score(o), st, strict=True)) and score(o) != st
            for o in trials
        )
        if not dominated:
            front.append(t)
    return sorted(front, key=lambda t: [-v for v in score(t)] + [int(t["number"])])


def read_anchors(bench_dir: str | Path) -> list[Anchor]:
    """External reference numbers from ``<bench_dir>/anchors.yaml`` (``anchors:`` list)."""
    path = Path(bench_dir) / "anchors.yaml"
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    items = data.get("anchors", []) if isinstance(data, dict) else data
    out = []
    for i, item in enumerate(items):
        for key in ("name", "test_acc", "protocol", "source"):
            if key not in item:
                raise ValueError(
                    f"{path}: anchor {i} needs a {key!r} key, but got {sorted(item)}."
                )
        out.append(
            Anchor(
                name=str(item["name"]),
                test_acc=float(item["test_acc"]),
                std=float(item["std"]) if item.get("std") is not None else None,
                params=int(item["params"]) if item.get("params") is not None else None,
                protocol=str(item["protocol"]),
                source=str(item["source"]),
            )
        )
    return out
