"""The ``kanlab`` command line: a thin shell over the Python API.

``main(argv) -> int`` runs in-process (tests call it directly). Each subcommand is a class with
``add_arguments`` and ``run``; its help is the class docstring. Each command's module is
imported only when that command runs, and ``list`` reads the catalog (:mod:`kanlab.catalog`),
so ``--help``, ``--version``, ``list`` and ``leaderboard`` never import torch or Lightning
(``study`` imports Optuna only; ``info`` imports the one entry it shows). Only the commands
that train in this process tune the allocator (:mod:`kanlab._malloc`).
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

from kanlab._malloc import tune_malloc
from kanlab.command import Command, UsageError, add_overrides_argument, console, results_dir
from kanlab.errors import InputError, SetupError
from kanlab.registry import suggest

__all__ = ["Command", "UsageError", "add_overrides_argument", "console", "main", "results_dir"]


# name -> (module:Class, one-line help); the class is imported only when the command runs.
_COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("kanlab.listing:ListCommand", "List registered components."),
    "info": ("kanlab.listing:InfoCommand", "Show a component's formula and hyperparameters."),
    "train": ("kanlab.lit.cli:TrainCommand", "Train one experiment YAML and record the run."),
    "sae": ("kanlab.sae.cli:SAECommand", "Train a sparse autoencoder on a model's activations."),
    "search": ("kanlab.search.cli:SearchCommand", "Run an Optuna study from a study YAML."),
    "worker": ("kanlab.search.cli:WorkerCommand", "Join a running study as one more worker."),
    "study": ("kanlab.search.cli:StudyCommand", "Inspect or export studies (list/show/best/…)."),
    "storage": ("kanlab.search.serve:StorageCommand",
                "Serve a study database to many workers (gRPC proxy)."),
    "leaderboard": ("kanlab.results.cli:LeaderboardCommand", "Render a leaderboard from runs."),
    "plot": ("kanlab.results.cli:PlotCommand", "Plot activations, KAN edges, studies (PNG)."),
    "symbolic": ("kanlab.results.cli:SymbolicCommand", "Print fitted KAN edges as formulas."),
    "match": ("kanlab.results.cli:MatchCommand", "Size a baseline to a model's params/FLOPs."),
    "reproduce": ("kanlab.results.cli:ReproduceCommand",
                  "Re-run a results directory's configurations at this code."),
    "demo": ("kanlab.demo:DemoCommand", "Run the small demo search and print its leaderboard."),
    "export": ("kanlab.export:ExportCommand", "Export a trained run's model to ONNX."),
}

# Commands that train models in this process: only they keep freed memory for reuse
# (kanlab/_malloc.py); light commands (list, info, leaderboard, ...) leave the allocator alone.
_TRAINING = frozenset({"train", "sae", "search", "worker", "reproduce", "demo"})


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
    from kanlab._version import __version__

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


def _positionals_before_set(argv: list[str]) -> list[str]:
    """Move the positional arguments that ``--set``'s ``nargs="+"`` would swallow before it.

    ``kanlab train --set a=1 exp.yaml`` means ``kanlab train exp.yaml --set a=1``; argparse
    would read ``exp.yaml`` as an override and then miss the positional argument. The rule is
    syntax only: an override has the form ``KEY=VALUE``, so after the first value of a
    ``--set`` (kept whatever it is, so that ``--set k`` is reported as a malformed override),
    a token without ``=`` ends the list and is moved in front of the first ``--set``.
    Whether a file of that name exists plays no part.
    """
    out: list[str] = []
    moved: list[str] = []
    taken = -1  # values taken by the current --set; -1 outside one
    first_set = -1
    for token in argv:
        if token == "--set":
            taken = 0
            first_set = len(out) if first_set < 0 else first_set
        elif token.startswith("-"):
            taken = -1
        elif taken > 0 and "=" not in token:
            moved.append(token)
            continue
        elif taken >= 0:
            taken += 1
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
    if chosen in _TRAINING:
        tune_malloc()  # this process trains: keep freed activations for reuse
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
            command.dispatch = main  # commands that run commands (demo) call back here
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
