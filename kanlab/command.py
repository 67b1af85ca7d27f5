"""What every ``kanlab`` subcommand shares: the :class:`Command` base and common arguments.

Subcommand modules (``kanlab.lit.cli``, ``kanlab.search.cli``, …) import this module, never
:mod:`kanlab.cli`: the dispatcher names them by string (``kanlab.cli._COMMANDS``), so an
import back would close a cycle in the import graph (``tests/test_import_graph.py``). A
command that runs other commands (``kanlab demo``) calls :attr:`Command.dispatch`, which the
dispatcher sets to itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kanlab.errors import UsageError
from kanlab.specs import default_results_dir

__all__ = ["Command", "UsageError", "add_overrides_argument", "console", "results_dir"]


def _no_dispatcher(argv: Sequence[str]) -> int:
    raise RuntimeError("This command runs other commands: call it through kanlab.cli.main.")


class Command:
    """Base class of a subcommand: the class docstring is its help text."""

    #: ``kanlab.cli.main``, set by the dispatcher before :meth:`run`.
    dispatch: Callable[[Sequence[str]], int] = staticmethod(_no_dispatcher)

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


def console(*, width: int = 120) -> Any:
    """A rich console on stdout (``width`` columns when stdout is not a terminal).

    A closed pipe (``kanlab list | head``) raises ``BrokenPipeError`` up to
    :func:`kanlab.cli.main`, which exits 0 quietly; rich's own handling would exit 1.
    """
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return _Console(width=None if sys.stdout.isatty() else width, highlight=False)
