"""The bad-input suite: every command-line input a user can get wrong, one case each.

Each case runs ``kanlab`` in-process and checks the house rules: one line on stderr that names
the bad value (the expected text below), exit code 2, no traceback, and nothing left behind
in the results dir (no run dirs, runs.jsonl rows, study databases or files; a case's own
set-up files excepted). ``test_the_suite_counts_its_cases`` keeps the count honest.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from kanlab.cli import main

TINY_DATA = {"name": "tiny_fashion_mnist", "batch_size": 100}
TINY_MLP = {"name": "tiny", "seed": 0,
            "model": {"name": "mlp", "widths": [784, 64, 10]},
            "data": TINY_DATA, "trainer": {"max_epochs": 1}}
TOY_BASE = {"name": "toybase", "model": {"name": "mlp", "widths": [2, 8, 1]},
            "data": {"name": "synthetic", "function": "xy"}}


def _toy_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "toy", "base": TOY_BASE, "objective": "kanlab.search._toy:objective",
        "n_trials": 2, "sampler": {"name": "random", "seed": 0},
        "space": {"optim.lr": {"float": [1.0e-4, 1.0e-1], "log": True}},
    }
    spec.update(changes)
    return spec


def _train_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "tinysearch", "base": TINY_MLP, "n_trials": 1,
        "sampler": {"name": "random", "seed": 0},
        "space": {"model.activation": {"categorical": ["relu", "silu"]}},
    }
    spec.update(changes)
    return spec


def _fill(text: str, values: dict[str, str]) -> str:
    """``{key}`` placeholders filled (not ``str.format``: YAML flow mappings use braces)."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _write(path: Path, data: dict[str, Any], values: dict[str, str] | None = None) -> str:
    path.write_text(_fill(yaml.safe_dump(data, sort_keys=False), values or {}))
    return str(path)


def _toy_study(tmp: Path, results: Path, name: str = "other") -> str:
    """A finished toy study ``name`` in ``<results>/studies/<name>.db``; returns the db path."""
    spec = _write(tmp / f"{name}.yaml", _toy_spec(name=name))
    assert main(["search", spec, "--results-dir", str(results)]) == 0
    return str(results / "studies" / f"{name}.db")


def _two_objective_free_db(tmp: Path, results: Path) -> dict[str, str]:
    return {"db": _toy_study(tmp, results)}


def _corrupted_runs(results: Path) -> dict[str, str]:
    (results / "bench").mkdir(parents=True)
    (results / "bench" / "runs.jsonl").write_text("garbage\n")
    return {}


def _a_file(tmp: Path) -> dict[str, str]:
    path = tmp / "afile"
    path.write_text("not a directory\n")
    return {"afile": str(path)}


@dataclass(frozen=True)
class Case:
    """``argv`` (``{tmp}``, ``{results}`` and set-up keys are filled in) -> one line + code."""

    id: str
    argv: list[str]
    message: str
    code: int = 2
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    setup: Callable[[Path, Path], dict[str, str]] | None = None
    env: dict[str, str] = field(default_factory=dict)
    data: bool = False  # refused after tiny_fashion_mnist is prepared: skipped without it


CASES: list[Case] = [
    # --- names and usage (kept from the first CLI tests)
    Case("unknown-command", ["lst"], "unknown command 'lst'. Did you mean 'list'?"),
    Case("unknown-kind", ["list", "layres"], "Unknown kind 'layres'. Did you mean 'layers'?"),
    Case("unknown-component", ["info", "mpl"], "Unknown component 'mpl'. Did you mean 'mlp'?"),
    # --- info --set is checked, never ignored
    Case("info-set-bad-type", ["info", "topk", "--set", "k=abc"],
         "topk --set: `k` must be an int >= 1, but got k='abc'"),
    Case("info-set-unknown-key", ["info", "topk", "--set", "kk=3"],
         "Unknown hyperparameter 'kk' for topk. Did you mean 'k'?"),
    # --- search: validated before any storage, trial or run dir
    Case("search-metric-typo", ["search", "{spec}"],
         "but got metric='val/accc'. Did you mean 'val/acc'?",
         files={"spec": _train_spec(metric="val/accc")}),
    Case("search-timeout-negative", ["search", "{spec}", "--timeout", "-5"],
         "`--timeout` must be > 0 seconds, but got timeout=-5.0",
         files={"spec": _toy_spec()}),
    Case("search-topk-k-above-width", ["search", "{spec}"],
         "`k` must be <= the size of dim -1 (64), but got k=100",
         files={"spec": _train_spec(space={"model.activation": {
             "categorical": ["relu", {"name": "topk", "k": 100}]}})}, data=True),
    Case("search-accelerator-gpu", ["search", "{spec}", "--set", "trainer.accelerator=gpu"],
         "`trainer.accelerator=gpu` (devices=1) cannot run on this machine",
         files={"spec": _train_spec()}),
    Case("search-data-missing", ["search", "{spec}"], "Dataset 'cifar10' is not in",
         files={"spec": _train_spec(base={
             **TINY_MLP, "model": {"name": "mlp", "widths": [3072, 16, 10]},
             "data": {"name": "cifar10", "data_dir": "{tmp}/empty"}})},
         env={"KANLAB_OFFLINE": "1"}),
    Case("search-resume-other-set", ["search", "{spec}", "--set", "optim.lr=0.5"],
         "Study 'other' holds trials of another configuration (optim.lr differ",
         files={"spec": _toy_spec(name="other")}, setup=_two_objective_free_db),
    Case("worker-into-another-studys-db", ["worker", "{spec}", "--storage", "{db}"],
         "holds no study 'toy' (it holds: other)",
         files={"spec": _toy_spec()}, setup=_two_objective_free_db),
    Case("worker-gpu-beyond-visible", ["worker", "{spec}", "--storage", "{tmp}/x.db",
                                       "--device", "99"],
         "pass --device cpu to train on the CPU.", files={"spec": _toy_spec()}),
    Case("study-show-unknown", ["study", "show", "--study", "nope"],
         "No study 'nope': "),
    # --- train: validated before a run dir exists
    Case("train-topk-k-above-width",
         ["train", "{exp}", "--set", "model.activation={name: topk, k: 100}"],
         "`k` must be <= the size of dim -1 (64), but got k=100", files={"exp": TINY_MLP},
         data=True),
    Case("train-accelerator-gpu", ["train", "{exp}", "--set", "trainer.accelerator=gpu"],
         "`trainer.accelerator=gpu` (devices=1) cannot run on this machine",
         files={"exp": TINY_MLP}, data=True),
    Case("train-file-after-set", ["train", "--set", "model.widthz=[784, 8, 10]", "{exp}"],
         "Unknown key `model.widthz`", files={"exp": TINY_MLP}),
    # --- bad values never become results (issue 30): rejected before anything is written
    Case("train-lr-infinite", ["train", "{exp}", "--set", "optim.lr=.inf"],
         "`optim.lr` must be a finite number, but got optim.lr=inf.", files={"exp": TINY_MLP}),
    Case("train-lr-nan", ["train", "{exp}", "--set", "optim.lr=.nan"],
         "`optim.lr` must be a finite number, but got optim.lr=nan.", files={"exp": TINY_MLP}),
    Case("train-lr-zero", ["train", "{exp}", "--set", "optim.lr=0"],
         "`optim.lr` must be > 0 and finite, but got optim.lr=0.0.",
         files={"exp": TINY_MLP}),
    Case("train-hparam-infinite", ["train", "{exp}", "--set", "model.activation={name: crrelu, "
                                   "eps: .inf}"],
         "`model.activation.eps` must be a finite number, but got model.activation.eps=inf.",
         files={"exp": TINY_MLP}),
    Case("search-lr-infinite", ["search", "{spec}", "--set", "optim.lr=-.inf"],
         "`optim.lr` must be a finite number, but got optim.lr=-inf.",
         files={"spec": _train_spec()}),
    Case("train-output-width-vs-classes", ["train", "{exp}", "--set", "model.widths=[784, 64, 5]"],
         "`model` (mlp) must output 10 values per input (the classes of tiny_fashion_mnist), "
         "but got output shape (5,); set its last width to 10.", files={"exp": TINY_MLP},
         data=True),
    Case("search-output-width-vs-classes",
         ["search", "{spec}", "--set", "model.widths=[784, 8, 3]"],
         "`model` (mlp) must output 10 values per input", files={"spec": _train_spec()},
         data=True),
    Case("train-name-with-parent", ["train", "{exp}", "--set", "name=../escape"],
         "`name` must be a plain file name (no '/', '\\' or leading '.'), but got "
         "name='../escape'.", files={"exp": TINY_MLP}),
    Case("search-study-with-parent", ["search", "{spec}", "--study", "../../outside"],
         "`--study` must be a plain file name (no '/', '\\' or leading '.'), but got "
         "--study='../../outside'.", files={"spec": _toy_spec()}),
    Case("search-study-with-slash", ["search", "{spec}"],
         "`name` must be a plain file name (no '/', '\\' or leading '.'), but got "
         "name='team/toy'.", files={"spec": _toy_spec(name="team/toy")}),
    Case("study-show-path-name", ["study", "show", "--study", "../x"],
         "`--study` must be a plain file name"),
    Case("train-results-dir-is-a-file", ["train", "{exp}", "--results-dir", "{afile}/results"],
         "`--results-dir` must be a directory that can take files, but",
         files={"exp": TINY_MLP}, setup=lambda tmp, results: _a_file(tmp)),
    Case("search-results-dir-is-a-file", ["search", "{spec}", "--results-dir", "{afile}/r"],
         "`--results-dir` must be a directory that can take files, but",
         files={"spec": _toy_spec()}, setup=lambda tmp, results: _a_file(tmp)),
    # --- sae: validated before the host model trains
    Case("sae-k-above-width", ["sae", "{sae}", "--set", "activation.k=1000"],
         "`activation` (topk) does not fit width=128: `k` must be <= the size of dim -1 (128)",
         files={"sae": {"task": "sae", "name": "s", "model": {"name": "mlp",
                                                              "widths": [784, 64, 10]},
                        "data": TINY_DATA, "hook": "net.1", "width": 128, "steps": 10,
                        "activation": {"name": "topk", "k": 8}}}),
    # --- plots and match: no internals in the wording
    Case("plot-study-unknown", ["plot", "study", "--study", "nope", "--storage", "{db}"],
         "Unknown study 'nope' in sqlite:///", setup=_two_objective_free_db),
    Case("plot-study-pareto-single", ["plot", "study", "--study", "other", "--storage", "{db}",
                                      "--what", "pareto"],
         "`--what pareto` needs a study with several objectives", setup=_two_objective_free_db),
    Case("plot-activation-unknown-key", ["plot", "activation", "crrelu", "topk",
                                         "--set", "kk=2"],
         "Unknown key `kk` for activation(s) crrelu, topk. Did you mean 'k'?"),
    Case("match-model-misspelt", ["match", "mpl"],
         "`MODEL_SPEC`: Unknown model 'mpl'. Did you mean 'mlp'?"),
    Case("match-baseline-misspelt", ["match", "mlp", "--baseline", "{name: kan_mpl}"],
         "`--baseline`: Unknown model 'kan_mpl'. Did you mean 'kan_mlp'?"),
    Case("leaderboard-corrupted-row", ["leaderboard", "{results}/bench", "--output", "-"],
         "runs.jsonl:1 is not valid JSON (Expecting value); fix or delete that line.",
         setup=lambda tmp, results: _corrupted_runs(results)),
    Case("match-model-without-widths", ["match", "kan_convnet"],
         "`MODEL_SPEC` 'kan_convnet' has no `widths`"),
]


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_left(
    case: Case, tmp_path: Path, results_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
) -> None:
    if case.data:
        request.getfixturevalue("fmnist_dir")
    values = {"tmp": str(tmp_path), "results": str(results_dir)}
    for key, data in case.files.items():
        values[key] = _write(tmp_path / f"{key}.yaml", data, values)
    if case.setup is not None:
        values.update(case.setup(tmp_path, results_dir))
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    before = _files(results_dir)
    capsys.readouterr()
    argv = [_fill(a, values) for a in case.argv]
    assert main(argv) == case.code
    err = capsys.readouterr().err
    assert case.message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert _files(results_dir) - before == set()
    if "db" in values:  # a refused resume or worker added no trial to the study
        import optuna

        study = optuna.load_study(study_name="other", storage=f"sqlite:///{values['db']}")
        assert len(study.trials) == 2


@pytest.mark.skipif(importlib.util.find_spec("torch_xla") is not None,
                    reason="torch_xla is installed: the TPU accelerator is available")
@pytest.mark.usefixtures("fmnist_dir")  # tiny_fashion_mnist: skipped without it
def test_an_accelerator_whose_package_is_missing_is_one_line_exit_2(
    tmp_path: Path, results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = _write(tmp_path / "exp.yaml", TINY_MLP)
    assert main(["train", exp, "--set", "trainer.accelerator=tpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kanlab: error: `trainer.accelerator=tpu` needs a package this "
                          "machine lacks: ") and len(err.strip().splitlines()) == 1, err
    assert _files(results_dir) == set()


def test_a_sampler_whose_extra_is_missing_names_the_extra(
    tmp_path: Path, results_dir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "cmaes", None)  # as on an install without kanlab[cmaes]
    spec = _write(tmp_path / "spec.yaml", _toy_spec(sampler={"name": "cmaes", "seed": 0}))
    assert main(["search", spec]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "kanlab: error: `sampler: cmaes` needs the package 'cmaes', which is not installed: "
        "pip install 'kanlab[cmaes]'."]
    assert _files(results_dir) == set()


def test_the_suite_counts_its_cases() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 38
