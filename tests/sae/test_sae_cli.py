"""``kanlab sae``: config validation and a real run on Fashion-MNIST hidden activations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from kanlab.cli import main
from kanlab.config import ConfigError
from kanlab.sae.config import SAEConfig, load_sae_config

REPO = Path(__file__).resolve().parents[2]
INLINE: dict[str, Any] = {
    "task": "sae",
    "name": "fmnist_sae",
    "model": {"name": "mlp", "widths": [784, 64, 10]},
    "data": {"name": "fashion_mnist", "subset": 2000, "batch_size": 100},
    "host_epochs": 1,
    "hook": "net.1",
    "width": 128,
    "activation": {"name": "topk", "k": 8, "relu": True},
    "lr": 2e-3,
    "steps": 300,
    "batch_size": 128,
    "dead_steps": 30,
}


def test_config_validation_messages() -> None:
    cfg = load_sae_config(INLINE, ["activation.k=4", "width=64"])
    assert isinstance(cfg, SAEConfig) and cfg.width == 64 and cfg.activation["k"] == 4
    with pytest.raises(ConfigError, match="`task` must be 'sae'"):
        load_sae_config({**INLINE, "task": "train"})
    with pytest.raises(ConfigError, match="Exactly one of `source`"):
        load_sae_config({**INLINE, "source": "somewhere"})
    with pytest.raises(ConfigError, match=r"Unknown key `widht`.*Did you mean 'width'"):
        load_sae_config({**INLINE, "widht": 3})
    with pytest.raises(ConfigError, match="activation.name.*Did you mean 'topk'"):
        load_sae_config(INLINE, ["activation.name=topkk"])


@pytest.mark.parametrize("path", sorted((REPO / "experiments").glob("*/sae_*.yaml")))
def test_committed_sae_yamls_load(path: Path) -> None:
    assert load_sae_config(path).task == "sae"


def test_a_shipped_name_resolves_and_a_misspelt_one_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kanlab.specs import resolve_spec

    assert load_sae_config(resolve_spec("fashion_mnist/sae_topk", "experiments")).task == "sae"
    assert main(["sae", "fashion_mnist/sae_topkk"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'fashion_mnist/sae_topk'" in err and len(err.strip().splitlines()) == 1


def test_bad_yaml_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**INLINE, "steps": 0}))
    assert main(["sae", str(path)]) == 2
    assert "`steps` must be >= 1" in capsys.readouterr().err


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Small matmuls run faster on one thread, above all on a busy machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_real_run_on_fashion_mnist_hidden_units(
    data_dir: str,
    results_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    one_thread: None,
) -> None:
    path = tmp_path / "sae.yaml"
    path.write_text(yaml.safe_dump(INLINE))
    assert main(["sae", str(path), "--set", f"data.data_dir={data_dir}"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    # Not a terminal: plain progress lines on stderr, stdout stays one JSON document.
    progress = captured.err.splitlines()
    assert any("training the host" in line for line in progress)
    assert any("collecting net.1 activations" in line for line in progress)
    assert any(line.endswith(("%",)) and "step 300/300" in line for line in progress)
    run_dir = Path(summary["run_dir"])
    assert run_dir.parent == results_dir / "fashion_mnist" / "sae"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / "sae.pt").is_file() and (run_dir / "config.yaml").is_file()
    val, down = metrics["val"], metrics["downstream"]
    assert metrics["selection"] == "as trained" and "val_plain_selection" not in metrics
    assert val["l0"] <= 8.0
    assert val["fvu"] < 0.5                                   # explains most of the variance
    assert 0.0 <= val["dead_fraction"] < 0.6
    assert down["clean_acc"] > 0.5                            # the host learnt something
    assert down["loss_recovered"] > 0.5
    assert down["sae_loss"] < down["zero_loss"]


def test_run_on_a_trained_run_directory(
    data_dir: str, results_dir: Path, one_thread: None
) -> None:
    from kanlab.config import load_experiment
    from kanlab.lit import train
    from kanlab.sae.run import run_sae

    exp = load_experiment(
        {
            "name": "host",
            "model": {"name": "mlp", "widths": [784, 32, 10]},
            "data": {"name": "fashion_mnist", "subset": 1000, "data_dir": data_dir},
            "trainer": {"max_epochs": 1, "progress_bar": False},
        }
    )
    host = train(exp, results_dir=results_dir)
    cfg = load_sae_config(
        {k: v for k, v in INLINE.items() if k not in ("model", "data", "host_epochs")},
        [f"source={host.run_dir}", "steps=50", "width=48", "activation.k=4"],
    )
    result = run_sae(cfg, results_dir=results_dir)
    assert result.metrics["d_in"] == 32 and result.metrics["benchmark"] == "fashion_mnist"
    assert result.metrics["val"]["l0"] <= 4.0
    assert result.metrics["downstream"]["clean_acc"] > 0.3
