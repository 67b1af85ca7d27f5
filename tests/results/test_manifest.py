"""``reproduce.yaml``: one module reads and checks it for ``kanlab reproduce`` and
``kanlab leaderboard``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kanlab.errors import ConfigError
from kanlab.results import reproduce
from kanlab.results.manifest import MANIFEST, Manifest, read_manifest, table_options

REPO = Path(__file__).resolve().parents[2]


def _write(bench: Path, manifest: object) -> Path:
    bench.mkdir(parents=True, exist_ok=True)
    (bench / MANIFEST).write_text(yaml.safe_dump(manifest))
    return bench


def test_reproduce_reads_the_manifest_module_not_its_own_copy() -> None:
    assert reproduce.read_manifest is read_manifest and reproduce.Manifest is Manifest


@pytest.mark.parametrize("name", sorted(p.parent.name
                                        for p in (REPO / "results").glob(f"*/{MANIFEST}")))
def test_committed_manifests_give_both_commands_the_same_table_options(name: str) -> None:
    bench = REPO / "results" / name
    manifest = read_manifest(bench)
    assert manifest.runs and all(run.seeds for run in manifest.runs)
    assert dict(manifest.leaderboard) == table_options(bench)


def test_the_table_options_are_read_where_the_experiments_are_absent(tmp_path: Path) -> None:
    """``kanlab leaderboard`` regenerates a copied results directory (no experiment YAMLs);
    ``kanlab reproduce`` needs them, and says which."""
    bench = _write(tmp_path / "copy", {
        "seeds": [0, 1],
        "runs": [{"experiment": "experiments/not_here.yaml"}],
        "leaderboard": {"baseline": "mlp", "equivalence_margin": 1},
    })
    assert table_options(bench) == {"baseline": "mlp", "equivalence_margin": 1.0}
    with pytest.raises(ConfigError, match=r"`runs.0.experiment` must be an experiment YAML"):
        read_manifest(bench)


@pytest.mark.parametrize(("options", "message"), [
    ({"baseline": ""}, r"`leaderboard.baseline` in .* must be a non-empty string, but got ''"),
    ({"equivalence_margin": 0}, r"must be a number > 0, but got 0\."),
    ({"equivalence_margin": True}, r"must be a number > 0, but got True\."),
    ({"split": "model.arch"}, r"but got 'split'\. Did you mean 'split_by'"),
    ("mlp", r"`leaderboard` in .* must be a mapping of baseline, split_by, equivalence_margin"),
])
def test_bad_table_options_are_refused_alike_by_both_readers(
    tmp_path: Path, options: object, message: str,
) -> None:
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: x\n")
    bench = _write(tmp_path / "bench", {"seeds": [0], "runs": [{"experiment": str(experiment)}],
                                        "leaderboard": options})
    with pytest.raises(ConfigError, match=message) as by_leaderboard:
        table_options(bench)
    with pytest.raises(ConfigError, match=message) as by_reproduce:
        read_manifest(bench)
    assert str(by_leaderboard.value) == str(by_reproduce.value)


def test_without_a_manifest_the_table_has_no_options(tmp_path: Path) -> None:
    assert table_options(tmp_path) == {}
    with pytest.raises(ConfigError, match=r"`DIR` must hold a reproduce.yaml manifest"):
        read_manifest(tmp_path)


def test_runs_inherit_the_top_level_seeds_and_overrides_before_their_own(tmp_path: Path) -> None:
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: x\n")
    bench = _write(tmp_path / "bench", {
        "seeds": [2, 0, 2],
        "overrides": ["trainer.max_epochs=1"],
        "runs": [{"experiment": str(experiment), "overrides": ["name=a"]},
                 {"experiment": str(experiment), "seeds": [5]}],
    })
    first, second = read_manifest(bench).runs
    assert first.seeds == (2, 0) and first.overrides == ("trainer.max_epochs=1", "name=a")
    assert second.seeds == (5,) and second.overrides == ("trainer.max_epochs=1",)
    assert read_manifest(bench).leaderboard == {}
