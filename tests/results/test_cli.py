"""``kanlab plot`` and ``kanlab symbolic``: every option and positional has a help line."""

from __future__ import annotations

import argparse

import pytest

from kanlab.results.cli import PlotCommand, SymbolicCommand


def _parsers(command: PlotCommand | SymbolicCommand) -> dict[str, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(prog="kanlab")
    command.add_arguments(parser)
    found = {"": parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


@pytest.mark.parametrize("command", [PlotCommand(), SymbolicCommand()],
                         ids=["plot", "symbolic"])
def test_every_argument_has_a_help_line(command: PlotCommand | SymbolicCommand) -> None:
    missing = [
        f"{kind or 'symbolic'} {'/'.join(action.option_strings) or action.dest}"
        for kind, parser in _parsers(command).items()
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
        and not (action.help or "").strip()
    ]
    assert missing == []


def test_plot_kinds_are_all_checked() -> None:
    kinds = set(_parsers(PlotCommand())) - {""}
    assert kinds == {"activation", "edges", "skan", "study", "topk", "leaderboard"}
    what = next(a for a in _parsers(PlotCommand())["study"]._actions if a.dest == "what")
    assert "study_<what>.png" in str(what.help)
