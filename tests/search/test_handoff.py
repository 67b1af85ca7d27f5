"""A validated study crosses into a worker process as bytes and is rebuilt, not re-validated."""

from __future__ import annotations

import pickle
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from kanlab.search._handoff import pack, unpack
from kanlab.search.study import Prepared, prepare


def test_a_prepared_study_comes_back_equal_without_reading_its_files_again(
    tmp_path: Path, results_dir: Path, make_spec: Any
) -> None:
    base = {"name": "b", "model": {"name": "mlp", "widths": [2, 8, 1], "activation": "relu"},
            "data": {"name": "synthetic", "function": "xy"}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = tmp_path / "study.yaml"
    spec.write_text(yaml.safe_dump(make_spec(base="base.yaml", fixed={"trainer.max_epochs": 1})))
    p = prepare(spec, overrides=["optim.weight_decay=0.01"], results_dir=results_dir)
    assert isinstance(p.plan.spec.sampler.params, types.MappingProxyType)  # frozen config
    with pytest.raises(TypeError, match="mappingproxy"):
        pickle.dumps(p)  # why pack exists

    blob = pack(p)
    # Validating again would fail now; the rebuilt study never reads these files.
    spec.write_text("name: [not, a, study")
    (tmp_path / "base.yaml").unlink()
    q = unpack(blob, Prepared)
    assert q == p
    assert q.plan.spec.space == p.plan.spec.space
    assert isinstance(q.plan.spec.sampler.params, types.MappingProxyType)
    assert q.plan.make_sampler(worker=1).__class__ is p.plan.make_sampler(worker=1).__class__
    assert q.plan.trial_config({"optim.lr": 0.01}, 3) == p.plan.trial_config({"optim.lr": 0.01}, 3)


def test_unpack_names_what_it_got_instead() -> None:
    with pytest.raises(TypeError, match=r"`blob` must hold a Prepared, but got dict\."):
        unpack(pack({"a": 1}), Prepared)
