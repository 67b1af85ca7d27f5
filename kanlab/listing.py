"""``kanlab list`` and ``kanlab info``: the catalog on the command line.

``list`` reads the registries that :mod:`kanlab.catalog` declared (names, one-line summaries,
metadata) and imports neither torch nor Lightning nor Optuna. ``info`` imports the one entry
it shows: its documentation and its hyperparameter rows (name, type, default) are read from
the class itself at call time.
"""

from __future__ import annotations

import argparse
import inspect
import re
import typing
from collections.abc import Mapping
from typing import Any

from kanlab.catalog import REGISTRIES
from kanlab.command import Command, UsageError, add_overrides_argument, console
from kanlab.registry import Entry, normalize_key, suggest

__all__ = ["InfoCommand", "ListCommand", "hparam_rows", "meta_text"]

_PLAIN = (str, bool, int, float, type(None))
_HIDDEN = ("summary", "wiring", "params")  # shown elsewhere, or internal


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return isinstance(value, _PLAIN)


def meta_text(meta: Mapping[str, Any]) -> str:
    """``k=v, …`` of an entry's plain metadata (the summary and wiring are shown elsewhere)."""
    shown = {k: v for k, v in meta.items() if k not in _HIDDEN and _plain(v)}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))


def _stable(text: str) -> str:
    """``repr`` without memory addresses (a default that is a function)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def hparam_rows(target: Any) -> tuple[tuple[str, str, str], ...]:
    """``(name, type, default)`` of each keyword a class or factory takes (not self/*args)."""
    func = target.__init__ if inspect.isclass(target) else target
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return ()
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable annotations: show the raw ones
        hints = {}
    rows = []
    for p in sig.parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        tp = hints.get(p.name, p.annotation)
        if isinstance(tp, type):
            tp_text = tp.__name__
        else:
            tp_text = "" if tp is inspect.Parameter.empty else str(tp).replace("typing.", "")
        default = "(required)" if p.default is p.empty else repr(p.default)
        rows.append((p.name, _stable(tp_text), _stable(default)))
    return tuple(rows)


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in REGISTRIES:
        raise UsageError(
            f"Unknown kind {kind!r}.{suggest(kind, list(REGISTRIES))} "
            f"Available: {', '.join(REGISTRIES)}."
        )


class ListCommand(Command):
    """List registered components (all kinds, or one kind) with one-line descriptions.

    Kinds: layers, activations, models, datamodules, optimizers, schedulers, callbacks,
    samplers, pruners; and the shipped specs: experiments, studies (names that `kanlab train`
    and `kanlab search` accept in place of a path).
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("kind", nargs="?",
                            help="layers, activations, models, …, experiments, studies")

    def run(self, args: argparse.Namespace) -> int:
        from rich.table import Table

        from kanlab.specs import SPEC_KINDS, list_specs

        if args.kind not in SPEC_KINDS:
            _check_kind(args.kind)
        out = console()
        for kind, registry in REGISTRIES.items():
            if args.kind not in (None, kind):
                continue
            entries = registry.entries()
            table = Table(title=f"{kind} ({len(entries)})", title_justify="left")
            table.add_column("name", style="bold", no_wrap=True)
            table.add_column("description")
            table.add_column("meta", style="dim")
            for entry in entries:
                table.add_row(entry.name, entry.summary, meta_text(entry.meta))
            out.print(table)
        for kind in SPEC_KINDS:
            if args.kind not in (None, kind):
                continue
            specs = list_specs(kind)
            table = Table(title=f"{kind} ({len(specs)})", title_justify="left")
            table.add_column("name", style="bold", no_wrap=True)
            table.add_column("description")
            for spec in specs:
                table.add_row(spec.name, spec.summary)
            out.print(table)
        return 0


def _find(name: str, kind: str | None) -> tuple[str, Entry[Any]]:
    """The registry kind and entry of ``name`` (nothing imported)."""
    key = normalize_key(name)
    pool = {kind: REGISTRIES[kind]} if kind else REGISTRIES
    hits = [(k, reg.entry(key)) for k, reg in pool.items() if key in reg]
    if not hits:
        everything = sorted({n for reg in pool.values() for n in reg.names()})
        raise UsageError(f"Unknown component {name!r}.{suggest(key, everything)}")
    if len(hits) > 1:
        raise UsageError(f"{name!r} is registered in several kinds "
                         f"({', '.join(k for k, _ in hits)}); pass --kind.")
    return hits[0]


def _check_hparams(kind: str, entry: Entry[Any], rows: tuple[tuple[str, str, str], ...],
                   hparams: dict[str, Any]) -> None:
    """``info NAME --set k=v``: unknown keys and (for activations) bad values are errors."""
    known = [row[0] for row in rows]
    for key in hparams:
        if key not in known:
            raise UsageError(f"Unknown hyperparameter {key!r} for {entry.name}."
                             f"{suggest(key, known)} Available: {', '.join(known)}.")
    if kind == "activations":  # built by keywords alone: let the class check the values
        try:
            entry.target(**hparams)
        except (TypeError, ValueError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise UsageError(f"{entry.name} --set: {message}") from None


class InfoCommand(Command):
    """Show a component's documentation (formula, shapes) and hyperparameters with defaults."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="registry key, e.g. crrelu, b_spline_kan, kan_mlp")
        parser.add_argument("--kind", help="registry to look in when a name is ambiguous")
        add_overrides_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        from rich.table import Table

        from kanlab.config import parse_overrides

        _check_kind(args.kind)
        kind, entry = _find(args.name, args.kind)
        hparams = dict(parse_overrides(args.overrides))
        target = entry.target  # info shows the class itself: imported here
        rows = hparam_rows(target)
        if hparams:
            _check_hparams(kind, entry, rows, hparams)
        out = console()
        where = entry.source.replace(":", ".")
        out.print(f"[bold]{entry.name}[/bold] ({kind[:-1]}: {where})", markup=True)
        if meta_text(entry.meta):
            out.print(meta_text(entry.meta), markup=False)
        out.print()
        # third-party classes (torch optimisers, Optuna samplers) are documented upstream
        own = str(getattr(target, "__module__", "")).startswith("kanlab")
        doc = (inspect.getdoc(target) or "") if own else ""
        out.print(doc or f"{entry.summary} (documented by {where})", markup=False)
        if rows:
            table = Table(title="hyperparameters", title_justify="left")
            for col in ("name", "type", "default"):
                table.add_column(col)
            for row in rows:
                table.add_row(*row)
            out.print()
            out.print(table)
        extra = getattr(target, "info_extra", None)
        if callable(extra):  # computed (EAFO's sympy-derived correction)
            out.print()
            out.print(extra(**hparams), markup=False, soft_wrap=True)
        return 0
