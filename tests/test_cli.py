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
