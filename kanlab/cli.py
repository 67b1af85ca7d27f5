"""The ``kanlab`` command line: a thin shell over the Python API.

``main(argv) -> int`` runs in-process (tests call it directly). Each subcommand is a class with
``add_arguments`` and ``run``; its help is the class docstring. Commands whose code lives in a
subpackage (training, search, results) are imported only when used, and ``list``/``info`` read
the generated registry index (:mod:`kanlab._index`), so ``--help``, ``--version``, ``list``,
``info`` and ``leaderboard`` never import torch or Lightning (``study`` imports Optuna only).
Output into a closed pipe (``kanlab list | head``) ends quietly with exit code 0.

Exit codes: 0 success; 2 for :class:`~kanlab.errors.InputError` (usage, config, override and
registry validation) and :class:`~kanlab.errors.SetupError` (missing data, unreachable storage)
and argparse errors, one line on stderr; 1 for anything else (a bug or a failed training),
one line with a hint to rerun with ``--debug`` for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kanlab._malloc import tune_malloc
from kanlab.errors import InputError, SetupError, UsageError
from kanlab.registry import suggest
from kanlab.specs import default_results_dir

__all__ = ["Command", "UsageError", "add_overrides_argument", "main", "results_dir"]

logger = logging.getLogger("kanlab")


class Command:
    """Base class of a subcommand: the class docstring is its help text."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's arguments."""

    def run(self, args: argparse.Namespace) -> int:
        """Execute; return the exit code."""
        raise NotImplementedError


def add_overrides_argument(parser: argparse.ArgumentParser) -> None:
    """``--set a.b=1 c=2`` and ``--set a.b=1 --set c=2`` (both forms accumulate)."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by dotted path (repeatable), e.g. optim.lr=3e-4",
    )


def results_dir(args: argparse.Namespace) -> Path:
    """``--results-dir`` > ``$KANLAB_RESULTS`` > ``./results/local`` (gitignored).

    User runs never land in the committed benchmark folders (``results/<benchmark>``) unless
    ``--results-dir results`` says so, as ``kanlab reproduce`` does.
    """
    chosen = getattr(args, "results_dir", None)
    return Path(chosen) if chosen else default_results_dir()


# --------------------------------------------------------------------------- registries


def _check_kind(kind: str | None) -> None:
    from kanlab._index import REGISTRIES

    if kind is not None and kind not in REGISTRIES:
        raise UsageError(
            f"Unknown kind {kind!r}.{suggest(kind, list(REGISTRIES))} "
            f"Available: {', '.join(REGISTRIES)}."
        )


def console(*, width: int = 120) -> Any:
    """A rich console on stdout (``width`` columns when stdout is not a terminal).

    A closed pipe (``kanlab list | head``) raises ``BrokenPipeError`` up to :func:`main`,
    which exits 0 quietly; rich's own handling would exit 1.
    """
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return _Console(width=None if sys.stdout.isatty() else width, highlight=False)


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

        from kanlab._index_data import INDEX  # names without importing torch (kanlab/_index.py)
        from kanlab.specs import SPEC_KINDS, list_specs

        if args.kind not in SPEC_KINDS:
            _check_kind(args.kind)
        out = console()
        for kind, rows in INDEX.items():
            if args.kind not in (None, kind):
                continue
            table = Table(title=f"{kind} ({len(rows)})", title_justify="left")
            table.add_column("name", style="bold", no_wrap=True)
            table.add_column("description")
            table.add_column("meta", style="dim")
            for row in rows:
                table.add_row(row["name"], row["summary"], row["meta"])
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


def _find(name: str, kind: str | None) -> tuple[str, dict[str, Any]]:
    """The registry kind and index entry of ``name`` (nothing imported)."""
    from kanlab._index_data import INDEX
    from kanlab.registry import normalize_key

    key = normalize_key(name)
    pool = {kind: INDEX[kind]} if kind else INDEX
    hits = [(k, row) for k, rows in pool.items() for row in rows if row["name"] == key]
    if not hits:
        everything = sorted({row["name"] for rows in pool.values() for row in rows})
        raise UsageError(f"Unknown component {name!r}.{suggest(key, everything)}")
    if len(hits) > 1:
        raise UsageError(f"{name!r} is registered in several kinds "
                         f"({', '.join(k for k, _ in hits)}); pass --kind.")
    return hits[0]


def _check_hparams(kind: str, row: dict[str, Any], hparams: dict[str, Any]) -> None:
    """``info NAME --set k=v``: unknown keys and (for activations) bad values are errors."""
    from kanlab._index import registry

    known = [h[0] for h in row["hparams"]]
    for key in hparams:
        if key not in known:
            raise UsageError(f"Unknown hyperparameter {key!r} for {row['name']}."
                             f"{suggest(key, known)} Available: {', '.join(known)}.")
    if kind == "activations":  # built by keywords alone: let the class check the values
        target = registry(kind).get(row["name"])
        try:
            target(**hparams)
        except (TypeError, ValueError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise UsageError(f"{row['name']} --set: {message}") from None


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
        if hparams:
            _check_hparams(kind, entry, hparams)
        out = console()
        where = entry["target"].replace(":", ".")
        out.print(f"[bold]{entry['name']}[/bold] ({kind[:-1]}: {where})", markup=True)
        if entry["meta"]:
            out.print(entry["meta"], markup=False)
        out.print()
        out.print(entry["doc"] or f"{entry['summary']} (documented by {where})",
                      markup=False)
        rows = entry["hparams"]
        if rows:
            table = Table(title="hyperparameters", title_justify="left")
            for col in ("name", "type", "default"):
                table.add_column(col)
            for row in rows:
                table.add_row(*row)
            out.print()
            out.print(table)
        if entry["extra"]:  # computed (EAFO's sympy-derived correction): import the class
            from kanlab._index import registry

            extra = getattr(registry(kind).get(entry["name"]), "info_extra")  # noqa: B009
            out.print()
            out.print(extra(**hparams), markup=False, soft_wrap=True)
        return 0


# name -> (module:Class, one-line help); the class is imported only when the command runs.
_COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("kanlab.cli:ListCommand", "List registered components."),
    "info": ("kanlab.cli:InfoCommand", "Show a component's formula and hyperparameters."),
    "train": ("kanlab.lit.cli:TrainCommand", "Train one experiment YAML and record the run."),
    "sae": ("kanlab.sae.cli:SAECommand", "Train a sparse autoencoder on a model's activations."),
    "search": ("kanlab.search.cli:SearchCommand", "Run an Optuna study from a study YAML."),
    "worker": ("kanlab.search.cli:WorkerCommand", "Join a running study as one more worker."),
    "study": ("kanlab.search.cli:StudyCommand", "Inspect or export studies (list/show/best/…)."),
    "leaderboard": ("kanlab.results.cli:LeaderboardCommand", "Render a leaderboard from runs."),
    "plot": ("kanlab.results.cli:PlotCommand", "Plot activations, KAN edges, studies (PNG)."),
    "symbolic": ("kanlab.results.cli:SymbolicCommand", "Print fitted KAN edges as formulas."),
    "match": ("kanlab.results.cli:MatchCommand", "Size a baseline to a model's params/FLOPs."),
    "reproduce": ("kanlab.results.cli:ReproduceCommand",
                  "Re-run a results directory's configurations at this code."),
    "demo": ("kanlab.demo:DemoCommand", "Run the small demo search and print its leaderboard."),
}


def _load(name: str) -> Command:
    path, _ = _COMMANDS[name]
    module_name, cls_name = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("kanlab"):
            raise UsageError(f"Command {name!r} is not available in this build ({exc}).") from None
        raise
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise UsageError(f"Command {name!r} is not available in this build.")
    return typing.cast(Command, cls())


def _parser(chosen: str | None) -> tuple[argparse.ArgumentParser, Command | None]:
    from kanlab import __version__

    parser = argparse.ArgumentParser(
        prog="kanlab",
        description="kanlab: KAN layers and activation functions — train, search, compare.",
    )
    parser.add_argument("--version", action="version", version=f"kanlab {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    common.add_argument(
        "--results-dir",
        help="where every written file goes (default $KANLAB_RESULTS or ./results/local)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    command: Command | None = None
    for name, (_, help_text) in _COMMANDS.items():
        if name == chosen:
            command = _load(name)
            doc = inspect.getdoc(command) or help_text
            p = sub.add_parser(name, parents=[common], help=help_text, description=doc,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
            command.add_arguments(p)
        else:
            sub.add_parser(name, parents=[common], help=help_text, add_help=False)
    return parser, command


def _shipped(token: str) -> bool:
    """Whether ``token`` names a shipped experiment or study (``kanlab list experiments``)."""
    from kanlab.specs import SPEC_KINDS, list_specs

    return any(token == spec.name for kind in SPEC_KINDS for spec in list_specs(kind))


def _positionals_before_set(argv: list[str]) -> list[str]:
    """Move file paths that ``--set``'s ``nargs="+"`` would swallow in front of ``--set``.

    ``kanlab train --set a=1 file.yaml`` means ``kanlab train file.yaml --set a=1``; argparse
    would read ``file.yaml`` as an override and then miss the positional argument. A token
    after ``--set`` without ``=`` that names a YAML file, an existing path or a shipped spec
    (``fashion_mnist/mlp``, ``demo``) is moved.
    """
    out: list[str] = []
    moved: list[str] = []
    in_set = False
    first_set = -1
    for token in argv:
        if token == "--set":
            in_set = True
            first_set = len(out) if first_set < 0 else first_set
        elif token.startswith("-"):
            in_set = False
        elif in_set and "=" not in token and (
            token.endswith((".yaml", ".yml")) or os.path.exists(token) or _shipped(token)
        ):
            moved.append(token)
            continue
        out.append(token)
    return out[:first_set] + moved + out[first_set:] if moved else out


def _reader_went_away() -> int:
    """``kanlab list | head``: the reader closed the pipe; stop quietly with exit code 0."""
    try:  # later writes (and the interpreter's final flush) go nowhere instead of raising
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of calling ``sys.exit``."""
    argv = _positionals_before_set(list(sys.argv[1:] if argv is None else argv))
    tune_malloc()  # this process trains: keep freed activations for reuse (kanlab/_malloc.py)
    debug = "--debug" in argv
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    if chosen is not None and chosen not in _COMMANDS:
        print(
            f"kanlab: error: unknown command {chosen!r}.{suggest(chosen, list(_COMMANDS))} "
            f"Commands: {', '.join(_COMMANDS)}.",
            file=sys.stderr,
        )
        return 2
    try:
        parser, command = _parser(chosen)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse already printed usage + one error line
            return int(exc.code or 0)
        if command is None:
            parser.print_help()
            code = 0
        else:
            code = command.run(args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _reader_went_away()
    except KeyboardInterrupt as exc:
        from kanlab._sigint import forget_unhandled

        forget_unhandled()  # exit status 130, also after a Ctrl-C inside an import
        import shlex

        text = str(exc).strip() or (
            f"interrupted — rerun the same command to resume: kanlab {shlex.join(argv)}")
        print(f"kanlab: {text}", file=sys.stderr)
        return 130
    except (InputError, SetupError) as exc:  # validation and environment: the user acts
        if debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"kanlab: error: {message}", file=sys.stderr)
        return 2
    except Exception as exc:
        if debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"kanlab: error: {type(exc).__name__}: {message} (rerun with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
