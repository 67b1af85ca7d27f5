"""ONNX export of every registry entry (dynamic batch; ONNX Runtime == eager to 1e-5) and
``kanlab export RUN_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import kanlab  # noqa: F401  (fills the registries)
from kanlab import export as kexport
from kanlab.cli import main
from kanlab.config import load_experiment
from kanlab.errors import SetupError
from kanlab.registry import ACTIVATIONS, LAYERS, MODELS

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")

TOL = 1e-5
# Input (C, H, W) of the models without `widths`; a new model must be added here (never skipped).
MODEL_INPUTS: dict[str, tuple[int, ...]] = {"kan_convnet": (1, 28, 28),
                                            "timm_backbone": (3, 32, 32)}
# Default run: one of each kind of path (fused KAN kernels, conv patches, stateful activation,
# batch-level top-k, timm). The rest run with -m slow.
FAST = {"layers": ["gr_kan", "fast_kan", "kan_conv2d"],
        "activations": ["crrelu", "batch_topk"],
        "models": ["kan_mlp"]}


def _entry(kind: str, name: str) -> tuple[nn.Module, tuple[int, ...]]:
    """A small built entry and the shape of one input row (without the batch dim)."""
    torch.manual_seed(0)
    registry = {"layers": LAYERS, "activations": ACTIVATIONS, "models": MODELS}[kind]
    hp = dict(registry.entry(name).meta.get("example_hparams", {}))
    if kind == "layers":
        if registry.entry(name).meta.get("kind") == "conv2d":
            return LAYERS.build({"name": name, **hp}, 3, 4, 3), (3, 8, 8)
        return LAYERS.build({"name": name, **hp}, 6, 4), (6,)
    if kind == "activations":
        return ACTIVATIONS.build({"name": name, **hp}), (8,)
    model = MODELS.build({"name": name, **hp})
    widths = getattr(model, "widths", None)
    if widths:
        return model, (int(widths[0]),)
    assert name in MODEL_INPUTS, f"add the input shape of model {name!r} to MODEL_INPUTS"
    return model, MODEL_INPUTS[name]


def _check(kind: str, name: str, tmp_path: Path) -> None:
    module, row = _entry(kind, name)
    gen = torch.Generator().manual_seed(1)
    module.train()
    with torch.no_grad():                           # a "trained" module: running stats set
        module(torch.randn(16, *row, generator=gen))
    path = kexport.export_onnx(module, torch.randn(4, *row, generator=gen),
                               tmp_path / f"{name}.onnx")
    assert not module.training
    inputs = [torch.randn(b, *row, generator=gen) for b in (1, 7)]       # two batch sizes
    err = kexport.onnxruntime_error(path, module, inputs)
    assert err <= TOL, f"{kind} {name}: ONNX Runtime differs from eager by {err:.2e}"


ALL = [(k, n) for k, reg in (("layers", LAYERS), ("activations", ACTIVATIONS),
                             ("models", MODELS)) for n in reg.names()]


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, names in FAST.items() for n in names])
def test_export_representatives(kind: str, name: str, tmp_path: Path) -> None:
    _check(kind, name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "name"), ALL)
def test_export_every_registry_entry(kind: str, name: str, tmp_path: Path) -> None:
    _check(kind, name, tmp_path)


def test_exported_fused_layer_is_its_formula_and_kernels_still_run_outside(
    tmp_path: Path,
) -> None:
    """While exporting, the fused path is off (plain formula); eager calls use the kernels."""
    from kanlab.layers._compile import exporting, kernels_allowed

    seen: list[bool] = []
    layer = LAYERS.build({"name": "gr_kan", "num_groups": 2}, 4, 3)
    layer.register_forward_pre_hook(lambda m, a: seen.append(exporting()))
    kexport.export_onnx(layer, torch.randn(3, 4), tmp_path / "g.onnx")
    assert seen and all(seen)
    assert kernels_allowed() and not exporting()


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kexport, "ONNX_MODULES", ("onnx", "kanlab_no_such_module"))
    with pytest.raises(SetupError, match=r"pip install 'kanlab\[onnx\]'"):
        kexport.export_onnx(nn.Linear(2, 2), torch.randn(2, 2), tmp_path / "x.onnx")


def test_kanlab_export_run_dir(results_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kanlab.lit import train

    cfg = load_experiment({
        "name": "exp", "model": {"name": "kan_mlp", "widths": [2, 8, 1],
                                 "layer": {"name": "gr_kan", "num_groups": 2}},
        "data": {"name": "synthetic", "function": "xy", "n_train": 32, "n_val": 16,
                 "n_test": 16, "batch_size": 16},
        "optim": {"name": "adam", "lr": 1e-2},
        "trainer": {"max_epochs": 1, "progress_bar": False},
    })
    run_dir = train(cfg, results_dir=results_dir).run_dir
    assert main(["export", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert (run_dir / "model.onnx").is_file() and "max |diff|" in out
    diff = float(out.rsplit(" ", 1)[-1])
    assert diff <= TOL
    target = results_dir / "elsewhere" / "m.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "--output", str(target)]) == 0
    assert target.is_file()


@pytest.mark.parametrize(("argv", "match"), [
    (["export", "no/such/run"], "`RUN_DIR` must be a run directory"),
    (["export", ".", "--format", "tflite"], "invalid choice: 'tflite'"),
    (["export", "."], "`run_dir` must hold config.yaml"),
])
def test_kanlab_export_bad_input_exit_2(argv: list[str], match: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert match in capsys.readouterr().err
