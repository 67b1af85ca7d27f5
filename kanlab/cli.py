"""The ``kanlab`` command line: a thin shell over the Python API.

``main(argv) -> int`` runs in-process (tests call it directly). Each subcommand is a class with
``add_arguments`` and ``run``; its help is the class docstring. Commands whose code lives in a
subpackage (training, search, results) are imported only when used, so ``kanlab list`` stays
fast and Lightning/Optuna load only for the commands that need them.

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
from kanlab.registry import Entry, Registry, suggest

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
    """``--results-dir`` > ``$KANLAB_RESULTS`` > ``./results``."""
    chosen = getattr(args, "results_dir", None) or os.environ.get("KANLAB_RESULTS") or "results"
    return Path(chosen)


# --------------------------------------------------------------------------- registries


def _registries() -> dict[str, Registry[Any]]:
    """Every registry by plural name; importing fills them (data and search are optional)."""
    import kanlab  # noqa: F401  (layers, models, optimizers)
    from kanlab import registry as reg

    kinds: dict[str, Registry[Any]] = {
        "layers": reg.LAYERS,
        "activations": reg.ACTIVATIONS,
        "models": reg.MODELS,
        "datamodules": reg.DATAMODULES,
        "optimizers": reg.OPTIMIZERS,
        "schedulers": reg.SCHEDULERS,
        "callbacks": reg.CALLBACKS,
    }
    for module in ("kanlab.components", "kanlab.search"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a subpackage that is not installed/built yet
            logger.debug("skipping %s: %s", module, exc)
            continue
        kinds.update(getattr(mod, "EXTRA_REGISTRIES", {}))
    return kinds


def _meta_text(entry: Entry[Any]) -> str:
    shown = {k: v for k, v in entry.meta.items() if k not in ("summary", "wiring")}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))


class ListCommand(Command):
    """List registered components (all kinds, or one kind) with one-line descriptions."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("kind", nargs="?", help="layers, activations, models, datamodules, …")

    def run(self, args: argparse.Namespace) -> int:
        from rich.console import Console
        from rich.table import Table

        kinds = _registries()
        if args.kind is not None and args.kind not in kinds:
            raise UsageError(
                f"Unknown kind {args.kind!r}.{suggest(args.kind, list(kinds))} "
                f"Available: {', '.join(kinds)}."
            )
        console = Console(width=None if sys.stdout.isatty() else 120)
        for kind, registry in kinds.items():
            if args.kind not in (None, kind):
                continue
            table = Table(title=f"{kind} ({len(registry)})", title_justify="left")
            table.add_column("name", style="bold", no_wrap=True)
            table.add_column("description")
            table.add_column("meta", style="dim")
            for entry in registry.entries():
                table.add_row(entry.name, entry.summary, _meta_text(entry))
            console.print(table)
        return 0


def _find(name: str, kinds: dict[str, Registry[Any]], kind: str | None) -> tuple[str, Entry[Any]]:
    pool = {kind: kinds[kind]} if kind else kinds
    hits = [(k, reg.entry(name)) for k, reg in pool.items() if name in reg]
    if not hits:
        everything = sorted({n for reg in pool.values() for n in reg.names()})
        raise UsageError(f"Unknown component {name!r}.{suggest(name, everything)}")
    if len(hits) > 1:
        where = ", ".join(k for k, _ in hits)
        raise UsageError(f"{name!r} is registered in several kinds ({where}); pass --kind.")
    return hits[0]


def _hparam_rows(target: Any) -> list[tuple[str, str, str]]:
    func = target.__init__ if inspect.isclass(target) else target
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    try:
        hints = typing.get_type_hints(func)
    except Exception:
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
        rows.append((p.name, tp_text, default))
    return rows


class InfoCommand(Command):
    """Show a component's documentation (formula, shapes) and hyperparameters with defaults."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="registry key, e.g. crrelu, b_spline_kan, kan_mlp")
        parser.add_argument("--kind", help="registry to look in when a name is ambiguous")
        add_overrides_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        from rich.console import Console
        from rich.table import Table

        from kanlab.config import parse_overrides

        kinds = _registries()
        if args.kind is not None and args.kind not in kinds:
            raise UsageError(
                f"Unknown kind {args.kind!r}.{suggest(args.kind, list(kinds))} "
                f"Available: {', '.join(kinds)}."
            )
        kind, entry = _find(args.name, kinds, args.kind)
        console = Console(width=None if sys.stdout.isatty() else 120, highlight=False)
        target = entry.target
        console.print(f"[bold]{entry.name}[/bold] ({kind[:-1]}: {target.__module__}."
                      f"{target.__qualname__})", markup=True)
        meta = _meta_text(entry)
        if meta:
            console.print(meta, markup=False)
        console.print()
        console.print(inspect.getdoc(target) or "(no documentation)", markup=False)
        rows = _hparam_rows(target)
        if rows:
            table = Table(title="hyperparameters", title_justify="left")
            for col in ("name", "type", "default"):
                table.add_column(col)
            for row in rows:
                table.add_row(*row)
            console.print()
            console.print(table)
        extra = getattr(target, "info_extra", None)
        if callable(extra):
            hparams = dict(parse_overrides(args.overrides))
            console.print()
            console.print(extra(**hparams), markup=False, soft_wrap=True)  # LaTeX stays whole
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
        help="where every written file goes (default $KANLAB_RESULTS or ./results)",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of calling ``sys.exit``."""
    argv = list(sys.argv[1:] if argv is None else argv)
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
            return 0
        return command.run(args)
    except KeyboardInterrupt:
        print("kanlab: interrupted", file=sys.stderr)
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
