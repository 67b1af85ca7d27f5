from __future__ import annotations

import pytest

from kanlab.cli import main


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("list", "info", "train", "search", "leaderboard", "reproduce"):
        assert command in out


def test_list_all_and_one_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "models" in out and "mlp" in out and "adamw" in out
    assert main(["list", "optimizers"]) == 0
    out = capsys.readouterr().out
    assert "adamw" in out and "mlp" not in out


def test_info_prints_doc_and_hyperparameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "mlp"]) == 0
    out = capsys.readouterr().out
    assert "act(Linear(norm(x)))" in out and "widths" in out and "(784, 64, 10)" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lst"], "unknown command 'lst'. Did you mean 'list'?"),
        (["list", "layres"], "Unknown kind 'layres'. Did you mean 'layers'?"),
        (["info", "mpl"], "Unknown component 'mpl'. Did you mean 'mlp'?"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_debug_shows_traceback() -> None:
    with pytest.raises(ValueError, match="Unknown component"):
        main(["info", "mpl", "--debug"])


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 2
    assert "required" in capsys.readouterr().err


# Commands whose every option must have a help line (plot/symbolic: the plots' own tests).
HELPED = ("train", "sae", "search", "worker", "study", "match", "leaderboard", "info", "list",
          "export")


@pytest.mark.parametrize("command", HELPED)
def test_every_option_has_a_help_line(command: str) -> None:
    import argparse

    from kanlab.cli import _parser

    parser, _ = _parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [a.dest for a in sub.choices[command]._actions
               if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == []


def test_worker_help_shows_no_default_for_its_required_storage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["worker", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "SQLite file path (required)" in text and "(default <results>" not in text


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "--set", "a=1", "x.yaml"], ["train", "x.yaml", "--set", "a=1"]),
        (["train", "--set", "a=1", "b=2", "x.yml", "--debug"],
         ["train", "x.yml", "--set", "a=1", "b=2", "--debug"]),
        (["train", "x.yaml", "--set", "a=1"], ["train", "x.yaml", "--set", "a=1"]),
        (["info", "topk", "--set", "k"], ["info", "topk", "--set", "k"]),  # left to --set
        # syntax only: a shipped spec's name (no file) is moved too; files play no part
        (["train", "--set", "a=1", "fashion_mnist/af_kan"],
         ["train", "fashion_mnist/af_kan", "--set", "a=1"]),
        (["search", "--set", "a=1", "b=2", "kan_grid", "--workers", "2"],
         ["search", "kan_grid", "--set", "a=1", "b=2", "--workers", "2"]),
        (["train", "--set", "a=1", "fashion_mnist/mlp"],  # a shipped experiment's name
         ["train", "fashion_mnist/mlp", "--set", "a=1"]),
        (["search", "--set", "a=1", "demo", "--n-trials", "2"],
         ["search", "demo", "--set", "a=1", "--n-trials", "2"]),
    ],
)
def test_a_file_after_set_is_a_positional(argv: list[str], expected: list[str]) -> None:
    from kanlab.cli import _positionals_before_set

    assert _positionals_before_set(argv) == expected
