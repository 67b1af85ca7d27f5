from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kanlab.cli import main
from kanlab.search import load_study

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "search").glob("*.yaml"))


def _bad(make_spec: Any, **changes: Any) -> dict[str, Any]:
    spec = make_spec(**changes)
    return {k: v for k, v in spec.items() if v is not None}


BAD_SPECS: list[tuple[dict[str, Any], str]] = [
    ({"space": {"model.activaton": {"categorical": ["relu"]}}}, "Did you mean 'activation'"),
    ({"space": {"model.activation": {"categorical": ["relu", "crelu"]}}},
     "Unknown activation 'crelu'"),
    ({"space": {"model.activation": {"categorical": []}}}, "non-empty list"),
    ({"space": {"optim.lr": {"float": [0.1, 0.01]}}}, "low <= high"),
    ({"space": {"optim.lr": {"float": [0.0, 0.1], "log": True}}}, "low > 0"),
    ({"space": {"model.widths.5": {"int": [1, 4]}}}, "must index a list"),
    ({"space": {"trainer.max_epochs": {"float": [1.5, 2.5]}}}, "must be an integer"),
    ({"sampler": {"name": "tpee"}}, "Did you mean 'tpe'"),
    ({"pruner": {"name": "medain"}}, "Did you mean 'median'"),
    ({"pruner": {"name": "median", "n_warmup": 2}}, "Did you mean 'n_warmup_steps'"),
    ({"metrics": ["val/acc", "params"], "directions": ["maximize", "minimize"]},
     "`pruner` must be none for a multi-objective study"),
    ({"directions": ["maximize", "minimize"]}, "one entry per metric"),
    ({"direction": "maximise"}, "Did you mean 'maximize'"),
    ({"n_trials": 0}, "`n_trials` must be >= 1"),
    ({"base": "no/such/base.yaml"}, "does not exist"),
    ({"base": {"name": "b", "model": {"name": "mlpp"}, "data": {"name": "synthetic"}}},
     "Did you mean 'mlp'"),
    ({"sampler": {"name": "grid"}}, "needs a `step` for the grid sampler"),
    ({"objective": "no_colon"}, "`objective` must be 'train' or 'module:function'"),
    ({"spaces": {}}, "Did you mean 'space'"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_SPECS)
def test_bad_specs_fail_in_one_line_before_any_storage(
    changes: dict[str, Any], message: str, make_spec: Any, tmp_path: Path,
    results_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    spec = make_spec(**changes)
    if "spaces" in changes:
        spec.pop("space")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["search", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (results_dir / "studies").exists()


@pytest.mark.parametrize(
    ("argv", "message", "code"),
    [
        (["--storage", "mysql://u@h/db"], "postgresql+psycopg:// or journal:/// URL", 2),
        (["--storage", "journal:///no/such/dir/x.log"], "does not exist", 2),
        (["--storage", "sqlite:////no/such/dir/x.db"], "does not exist", 2),
        (["--storage", "sqlite://"], "must name a SQLite file", 2),
        (["--storage", "postgresql+psycopg:///kanlab"], "must name a host", 2),
        (["--storage", "postgresql+psycopg://u:s3cret@127.0.0.1:1/db"], "Cannot open storage", 1),
        (["--n-trials", "0"], "`--n-trials` must be >= 1", 2),
        (["--workers", "0"], "`--workers` must be >= 1", 2),
        (["--set", "model.widthz=[2, 1]"], "Did you mean 'widths'", 2),
    ],
)
def test_bad_storage_and_options(
    argv: list[str], message: str, code: int, write_spec: Any, results_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["search", str(write_spec()), *argv]) == code
    err = capsys.readouterr().err
    assert message in err and "s3cret" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (results_dir / "studies").exists()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_studies_validate(path: Path) -> None:
    plan = load_study(path)
    assert plan.spec.space.all_params()
    assert plan.spec.n_trials >= 1


def test_search_show_export_with_real_training(
    tmp_path: Path, results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {
        "name": "tiny",
        "base": {"name": "tiny", "model": {"name": "mlp", "widths": [784, 8, 10]},
                 "data": {"name": "tiny_fashion_mnist", "batch_size": 200},
                 "trainer": {"max_epochs": 1}},
        "n_trials": 2,
        "sampler": {"name": "random"},
        "space": {"model.activation": {"categorical": ["relu", "crrelu"]}},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["search", str(path), "--set", "optim.lr=0.01"]) == 0
    out = capsys.readouterr().out
    assert "2 finished trials" in out and "optuna-dashboard sqlite:///" in out
    assert main(["study", "export", "--study", "tiny"]) == 0
    out_dir = results_dir / "tiny_fashion_mnist" / "studies"
    doc = json.loads((out_dir / "tiny.json").read_text())
    assert doc["study"] == "tiny" and doc["metrics"] == ["val/acc"]
    assert [t["state"] for t in doc["trials"]].count("COMPLETE") >= 1
    first = doc["trials"][0]["user_attrs"]
    assert first["config"]["optim"]["lr"] == 0.01
    assert first["rerun"].startswith("kanlab train") and "optim.lr=0.01" in first["rerun"]
    assert (out_dir / "tiny.csv").read_text().startswith("number,state,val/acc")
    best = yaml.safe_load((out_dir / "tiny_best.yaml").read_text())
    assert best["model"]["activation"] in ("relu", "crrelu")
    rows = (results_dir / "tiny_fashion_mnist" / "runs.jsonl").read_text().splitlines()
    row = json.loads(rows[0])
    assert row["trial"]["study"] == "tiny"
    assert row["trial"]["device"] == first["device"] == "cpu"  # no GPU here: the CPU default
    assert row["device"] == "cpu"
    assert main(["study", "show", "--study", "tiny"]) == 0
    assert "Best: trial" in capsys.readouterr().out


def test_list_shows_samplers_and_pruners(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "samplers"]) == 0
    assert "tpe" in capsys.readouterr().out
    assert main(["list", "pruners"]) == 0
    assert "median" in capsys.readouterr().out
