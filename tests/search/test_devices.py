"""Device assignment for search workers (``--devices``/``--device``) and its recording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kanlab.cli import main
from kanlab.errors import SetupError, UsageError
from kanlab.search import run_study
from kanlab.search.devices import (
    CPU,
    Placement,
    assign,
    default_workers,
    parse_devices,
    pin_process,
    visible_gpus,
)


def test_parse_devices_lists_and_cpu() -> None:
    assert parse_devices("cpu", available=0) == [CPU]
    assert parse_devices(" 0, 2 ,3", available=4) == [Placement((0,)), Placement((2,)),
                                                      Placement((3,))]


@pytest.mark.parametrize(("text", "error", "message"), [
    ("gpu0", UsageError, "`--devices` must be 'cpu' or comma-separated GPU indices"),
    ("-1", UsageError, "but got devices='-1'"),
    ("", UsageError, "comma-separated GPU indices"),
    ("0,0", UsageError, "must list each GPU once"),
    ("0,4", SetupError, "asks for GPU 4, but this machine has GPUs 0..3 visible"),
])
def test_parse_devices_rejects_bad_lists(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_devices(text, available=4)


def test_assign_one_gpu_per_worker_round_robin() -> None:
    gpus = parse_devices("0,1,2,3", available=4)
    assert [p.label for p in assign(4, gpus)] == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert [p.label for p in assign(6, gpus)] == ["cuda:0", "cuda:1", "cuda:2", "cuda:3",
                                                  "cuda:0", "cuda:1"]
    assert [p.label for p in assign(2, gpus)] == ["cuda:0", "cuda:1"]
    assert assign(3, [CPU]) == [CPU, CPU, CPU]


def test_default_is_one_worker_per_visible_gpu_else_cpu() -> None:
    gpus = visible_gpus()
    workers, placements = default_workers(None, None)
    if gpus == 0:
        assert (workers, placements) == (1, [CPU])
    else:
        assert workers == gpus and [p.indices for p in placements] == [(i,) for i in range(gpus)]
    assert default_workers(3, "cpu") == (3, [CPU, CPU, CPU])
    assert default_workers(None, None, cpu_only=True) == (1, [CPU])


def test_pin_process_maps_through_the_callers_visible_devices() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "4,5,6,7"}
    local = pin_process(Placement((2,)), env)
    assert env["CUDA_VISIBLE_DEVICES"] == "6"
    assert local.label == "cuda:2"  # recorded in the caller's numbering
    assert local.trainer_settings() == ("gpu", "0,")  # the child's only device
    env = {}
    assert pin_process(Placement((1, 3)), env).trainer_settings() == ("gpu", "0,1,")
    assert env["CUDA_VISIBLE_DEVICES"] == "1,3"
    env = {"CUDA_VISIBLE_DEVICES": "0"}
    assert pin_process(CPU, env) == CPU and env["CUDA_VISIBLE_DEVICES"] == ""
    # A worker in the calling process passes the indices to Lightning instead.
    assert Placement((2,)).trainer_settings() == ("gpu", "2,")
    assert CPU.trainer_settings() == ("cpu", 1)


def test_cli_refuses_bad_device_lists_before_any_storage(
    write_spec: Any, results_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec()
    assert main(["search", str(spec), "--devices", "zero"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "devices='zero'" in err
    missing = str(visible_gpus())  # one past the last visible GPU
    assert main(["search", str(spec), "--devices", missing]) == 2
    assert f"asks for GPU {missing}" in capsys.readouterr().err
    assert main(["worker", str(spec), "--storage", "x.db", "--device", "0,0"]) == 2
    assert "`--device` must list each GPU once" in capsys.readouterr().err
    assert not (results_dir / "studies").exists()


def test_trials_record_their_worker_and_device(make_spec: Any) -> None:
    study = run_study(make_spec(n_trials=3), placements=[CPU])
    assert {(t.user_attrs["device"], t.user_attrs["worker"]) for t in study.trials} == {
        ("cpu", 0)}
