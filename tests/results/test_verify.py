"""``kanlab reproduce DIR --verify``: re-run recorded runs at this code, compare bit for bit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kanlab.cli import main
from kanlab.errors import InputError, SetupError
from kanlab.provenance import CodeVersion, code_version, machine
from kanlab.results.reproduce import Job, _done, reproduce
from kanlab.results.verify import (
    VERIFIED,
    bits_known_on,
    compared_fields,
    tied_codes,
    verify,
)

FIT = {
    "name": "fit", "seed": 0, "model": {"name": "mlp", "widths": [2, 8, 1]},
    "data": {"name": "synthetic", "function": "xy", "n_train": 64, "n_val": 32, "n_test": 32,
             "batch_size": 16},
    "optim": {"name": "adam", "lr": 1e-2},
    "trainer": {"max_epochs": 2, "progress_bar": False},
}


def _bench(tmp_path: Path) -> Path:
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "fit.yaml").write_text(yaml.safe_dump(FIT))
    bench = tmp_path / "results" / "synthetic"
    bench.mkdir(parents=True)
    (bench / "reproduce.yaml").write_text(yaml.safe_dump({
        "seeds": [0, 1], "runs": [{"experiment": "experiments/fit.yaml",
                                   "overrides": ["name=fit"]}]}))
    return bench


def test_verify_reproduces_recorded_runs_and_names_what_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = _bench(tmp_path)
    monkeypatch.chdir(tmp_path)
    reproduce(bench, workers=1, allow_dirty=True, echo=lambda line: None)
    rows = [json.loads(line) for line in (bench / "runs.jsonl").read_text().splitlines()]
    assert all(isinstance(r["threads"], int) for r in rows)

    report = verify(bench, sample=0, record=False, echo=lambda line: None)
    assert report.ok and [(c["name"], c["seed"]) for c in report.compared] == [
        ("fit", 0), ("fit", 1)]
    assert "metrics.test/loss" in report.compared[0]["compared"]
    assert "metrics.epoch_time_s" not in report.compared[0]["compared"]  # timings aside

    rows[1]["metrics"]["test/loss"] += 1e-9  # a numerics change of one ulp-ish
    (bench / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    moved = verify(bench, sample=0, record=False, echo=lambda line: None)
    assert not moved.ok
    ((run,),) = [moved.moved]
    assert (run.name, run.seed) == ("fit", 1) and list(run.fields) == ["metrics.test/loss"]
    assert "fit seed=1: metrics.test/loss" in run.describe()
    assert not (bench / VERIFIED).exists()

    (bench / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:1]))
    if code_version().git_dirty:  # a record must name committed code
        with pytest.raises(SetupError, match="uncommitted changes"):
            verify(bench, sample=1, echo=lambda line: None)
        return
    done = verify(bench, sample=1, echo=lambda line: None)
    (record,) = [json.loads(line) for line in (bench / VERIFIED).read_text().splitlines()]
    assert record["code_sha"] == code_version().code_sha and record["sample"] == 1
    assert record["rows_code_sha"] == rows[0]["code_sha"] and done.record == record
    assert {k: record[k] for k in machine()} == machine()  # the one machine description


def test_verify_with_workers_trains_the_sample_in_parallel_with_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two spawned workers give the report one process gives, in sample order; the bits do
    not depend on what trains beside a run."""
    bench = _bench(tmp_path)
    monkeypatch.chdir(tmp_path)
    reproduce(bench, workers=1, allow_dirty=True, echo=lambda line: None)
    lines: list[str] = []
    parallel = verify(bench, sample=0, record=False, echo=lines.append, workers=2)
    serial = verify(bench, sample=0, record=False, echo=lambda line: None, workers=1)
    assert parallel.ok and parallel.compared == serial.compared
    assert [line.split()[:3] for line in lines[1:]] == [
        ["same", "fit", "seed=0"], ["same", "fit", "seed=1"]]


@pytest.mark.parametrize(("workers", "against", "match"), [
    (0, None, "`--workers` must be an integer >= 1, but got --workers=0"),
    (True, None, "`--workers` must be an integer >= 1, but got --workers=True"),
    (2, "HEAD", "`--workers` must be 1 with --against .*, but got --workers=2"),
])
def test_verify_refuses_bad_workers(
    tmp_path: Path, workers: Any, against: str | None, match: str,
) -> None:
    with pytest.raises(InputError, match=match):
        verify(_bench(tmp_path), workers=workers, against=against, record=False)


def test_a_verification_record_ties_old_rows_to_the_current_code(tmp_path: Path) -> None:
    (tmp_path / VERIFIED).write_text(
        json.dumps({"code_sha": "n" * 40, "rows_code_sha": "o" * 40, "runs": []}) + "\n"
        + json.dumps({"code_sha": "x" * 40, "rows_code_sha": "y" * 40, "runs": []}) + "\n")
    assert tied_codes(tmp_path, "n" * 40) == {"n" * 40, "o" * 40}
    assert tied_codes(tmp_path, None) == frozenset()
    code = CodeVersion("c" * 40, "n" * 40, False)
    rows = [{"config_hash": "h", "seed": 0, "status": "completed", "code_sha": "o" * 40,
             "git_dirty": False},
            {"config_hash": "h", "seed": 1, "status": "completed", "code_sha": "y" * 40,
             "git_dirty": False}]
    jobs = [Job(Path("e.yaml"), (), s, "e", "h") for s in (0, 1)]
    assert _done(jobs, rows, code, False) == []
    assert [j.seed for j in _done(jobs, rows, code, False, tied_codes(tmp_path, "n" * 40))] == [0]


def test_rows_and_plain_records_say_where_the_bits_come_out(tmp_path: Path) -> None:
    """Rows name their instruction set; plain records of these rows add theirs; a record made
    with ``--against``, or of other rows, adds none."""
    rows = [{"cpu_capability": "AVX2"}, {"cpu_capability": None}, {}]
    records = [{"cpu_capability": "AVX512", "rows_code_sha": "r"},
               {"cpu_capability": "NEON", "rows_code_sha": "r", "against": {"git_sha": "a"}},
               {"cpu_capability": "VSX", "rows_code_sha": "other"}]
    (tmp_path / VERIFIED).write_text("".join(json.dumps(r) + "\n" for r in records))
    assert bits_known_on(tmp_path, rows, "r") == {"AVX2", "AVX512"}
    assert bits_known_on(tmp_path, [{}], "s") == set()  # nothing known: no claim either way


def test_plain_verify_on_another_instruction_set_points_to_against(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Rows whose bits come out on another instruction set: a plain --verify says so before it
    trains, and its refusal names the --against command with the last tied commit."""
    bench = _bench(tmp_path)
    monkeypatch.chdir(tmp_path)
    reproduce(bench, workers=1, allow_dirty=True, echo=lambda line: None)
    rows = [json.loads(line) for line in (bench / "runs.jsonl").read_text().splitlines()]
    here = machine()["cpu_capability"]
    assert {r["cpu_capability"] for r in rows} == {here}  # each row records it
    assert verify(bench, sample=1, record=False, echo=lambda line: None).hint is None

    other = f"NOT-{here}"
    for row in rows:  # rows of another machine, whose numbers differ from this machine's
        row["cpu_capability"] = other
        row["metrics"]["test/loss"] += 1.0
    (bench / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (bench / VERIFIED).write_text(json.dumps({
        "code_sha": "n" * 40, "git_sha": "abcdef1" + "0" * 33, "cpu_capability": other,
        "rows_code_sha": rows[0]["code_sha"], "runs": []}) + "\n")
    lines: list[str] = []
    report = verify(bench, sample=1, record=False, echo=lines.append)
    assert not report.ok and report.hint is not None
    assert lines[0] == f"note: {report.hint}"
    assert f"dispatches to {here}" in report.hint and f"bit for bit on {other}" in report.hint
    assert "--verify --against abcdef1" in report.hint

    if code_version().git_dirty:  # the CLI records: committed code only
        return
    assert main(["reproduce", str(bench), "--verify", "--sample", "1"]) == 1
    err = capsys.readouterr().err
    assert "moved at this code" in err and "--against abcdef1" in err, err
    assert "re-run the table" not in err  # the CPU, not the code, may have moved them


def test_compared_fields_leave_out_timings() -> None:
    row = {"metrics": {"test/acc": 0.9, "epoch_time_s": 3.0, "val/acc": 0.8}, "best_epoch": 2,
           "epochs": 5, "params": 10, "wall_time_s": 9.0, "latency_ms": 1.0, "step_time_s": 0.1}
    assert compared_fields(row) == {"metrics.test/acc": 0.9, "metrics.val/acc": 0.8,
                                    "best_epoch": 2, "epochs": 5, "params": 10}


def test_cli_usage_errors(tmp_path: Path) -> None:
    bench = _bench(tmp_path)
    assert main(["reproduce", str(bench), "--verify", "--sample", "-1"]) == 2
    assert main(["reproduce", str(bench), "--verify"]) == 2  # no runs recorded yet


def test_verify_against_a_commit_compares_with_its_runs_on_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--against HEAD``: each sampled run trains at the current code and, in a worktree of
    HEAD, at HEAD's code; the two are compared (config hash included), not the row."""
    from kanlab.results.reference import Reference

    bench = _bench(tmp_path)
    monkeypatch.chdir(tmp_path)
    reproduce(bench, workers=1, allow_dirty=True, echo=lambda line: None)
    rows = [json.loads(line) for line in (bench / "runs.jsonl").read_text().splitlines()]
    for row in rows:  # rows of another machine: their numbers are not this machine's
        row["metrics"]["test/loss"] += 1.0
    (bench / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines: list[str] = []
    report = verify(bench, sample=1, record=False, echo=lines.append, against="HEAD")
    assert report.ok and "config_hash" in report.compared[0]["compared"], lines
    assert "and at " in lines[0] and lines[-1].startswith("same fit seed=")

    run = Reference.run
    monkeypatch.setattr(Reference, "run", lambda self, job, threads: {
        **run(self, job, threads), "best_epoch": -1})
    moved = verify(bench, sample=1, record=False, echo=lambda line: None, against="HEAD")
    assert [list(m.fields) for m in moved.moved] == [["best_epoch"]]
    monkeypatch.setattr(Reference, "run", run)

    if code_version().git_dirty:
        return
    done = verify(bench, sample=1, echo=lambda line: None, against="HEAD")
    (record,) = [json.loads(line) for line in (bench / VERIFIED).read_text().splitlines()]
    head = code_version()
    assert record["against"] == {"git_sha": head.git_sha, "code_sha": head.code_sha}
    assert record["rows_code_sha"] == rows[0]["code_sha"] and done.record == record


def test_verify_against_refuses_unknown_and_untied_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _bench(tmp_path)
    monkeypatch.chdir(tmp_path)
    row = {"name": "fit", "seed": 0, "config_hash": "h", "status": "completed", "threads": 1,
           "code_sha": "f" * 40, "git_dirty": False, "metrics": {}}
    (bench / "runs.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError, match=r"`--against` must name a commit of .* but got "
                                         r"--against='no-such-ref'"):
        verify(bench, record=False, echo=lambda line: None, against="no-such-ref")
    with pytest.raises(InputError, match=r"whose code is tied to .* \(their code fffffff, or "):
        verify(bench, record=False, echo=lambda line: None, against="HEAD")
    assert main(["reproduce", str(bench), "--against", "HEAD"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["kanlab: error: `--against` compares with --verify only, but got "
                   "--against='HEAD' without --verify."]


def test_sigterm_during_verify_against_leaves_no_worktree_and_no_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, live_processes: Any,
) -> None:
    import signal
    import subprocess
    import sys
    import time

    if code_version().git_dirty:
        pytest.skip("`kanlab reproduce --verify` records, so it refuses uncommitted kanlab/")
    bench = _bench(tmp_path)
    monkeypatch.chdir(tmp_path)
    reproduce(bench, workers=1, allow_dirty=True, echo=lambda line: None)
    top = Path(__file__).resolve().parents[2]

    def worktrees() -> list[str]:
        out = subprocess.run(["git", "-C", str(top), "worktree", "list"], capture_output=True,
                             text=True, check=True).stdout
        return [line for line in out.splitlines() if "kanlab-against-" in line]

    before = worktrees()
    parent = subprocess.Popen([sys.executable, "-m", "kanlab", "reproduce", str(bench),
                               "--verify", "--against", "HEAD", "--sample", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while parent.poll() is None and time.monotonic() < deadline and not any(
            p.ppid == parent.pid and "sys.argv.pop(1)" in p.cmdline for p in live_processes()):
        time.sleep(0.2)  # until the reference run has started in its worktree
    assert len(worktrees()) == len(before) + 1
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) != 0
    assert worktrees() == before
    assert not [p for p in live_processes() if "sys.argv.pop(1)" in p.cmdline
                and str(tmp_path) in p.cmdline]
