"""ONNX export of kanlab models, layers and activations (``kanlab export``, ``kanlab[onnx]``).

:func:`export_onnx` runs ``torch.onnx.export(..., dynamo=True)``, the exporter torch recommends
since 2.5 (``torch.export`` graph -> ONNX through onnxscript), with a dynamic batch
dimension. The fused KAN kernels are opaque ``autograd.Function``\\ s; while a graph is being
exported they run their plain formula instead (``kanlab.layers._compile.exporting``), and the
KAN layers evaluate all rows in one call (no batch-size-dependent chunk loop), so the exported
graph takes any batch size. :func:`onnxruntime_error` runs an exported file in ONNX Runtime
and returns its largest difference from eager PyTorch.

``kanlab export RUN_DIR --format onnx [--output PATH]`` writes the best checkpoint's model of
a training run (``kanlab.lit.load_run``), for inputs ``(batch, *dims)`` of the run's data
module, and checks it in ONNX Runtime at two batch sizes when ONNX Runtime is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from kanlab.command import Command
from kanlab.errors import InputError, SetupError

__all__ = ["FORMATS", "ExportCommand", "export_onnx", "onnxruntime_error", "require_onnx"]

FORMATS = ("onnx",)
ONNX_MODULES = ("onnx", "onnxscript")


def require_onnx(*, runtime: bool = False) -> None:
    """The ONNX exporter's packages (and ONNX Runtime with ``runtime``) are installed.

    Raises:
        SetupError: one line naming the ``kanlab[onnx]`` extra.
    """
    wanted = (*ONNX_MODULES, "onnxruntime") if runtime else ONNX_MODULES
    missing = [m for m in wanted if importlib.util.find_spec(m) is None]
    if missing:
        raise SetupError(
            f"ONNX export needs {', '.join(missing)}, which is not installed: "
            "pip install 'kanlab[onnx]'."
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's progress prints and warnings, hidden (errors still raise)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export_onnx(
    module: nn.Module,
    example: torch.Tensor,
    path: str | Path,
    *,
    opset_version: int | None = None,
) -> Path:
    """Write ``module`` (in eval mode) as an ONNX file whose input ``x`` has a dynamic batch.

    Args:
        module: Any kanlab model, layer or activation (or other ``nn.Module`` with one tensor
            input and one tensor output). Put in eval mode (and left there).
        example: An input ``(B, ...)``; its batch dimension becomes dynamic (an example with
            B < 2 is repeated to B = 2, since the exporter fixes sizes 0 and 1).
        path: The ``.onnx`` file to write (parents are created).
        opset_version: ONNX opset; ``None`` uses the exporter's default.

    Returns:
        The written path.

    Raises:
        SetupError: without the ``kanlab[onnx]`` extra.
        RuntimeError: when the exporter cannot translate the module, naming its class and
            the exporter's first error line.
    """
    require_onnx()
    module.eval()
    if example.shape[0] < 2:
        example = example.expand(2, *example.shape[1:]).contiguous()
    batch = torch.export.Dim("batch", min=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _quiet():
            program = torch.onnx.export(
                module, (example,), dynamo=True, input_names=["x"], output_names=["y"],
                dynamic_shapes=({0: batch},), opset_version=opset_version,
            )
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RuntimeError(
            f"ONNX export of {type(module).__name__} failed: {first}"
        ) from exc
    if program is None:
        raise RuntimeError(f"ONNX export of {type(module).__name__} returned no program.")
    with _quiet():
        program.save(str(path))
    return path


def onnxruntime_error(
    path: str | Path, module: nn.Module, inputs: Sequence[torch.Tensor]
) -> float:
    """Largest ``|ONNX Runtime - eager PyTorch|`` over ``inputs`` (each a batch of ``x``).

    Raises:
        SetupError: without ONNX Runtime (the ``kanlab[onnx]`` extra).
    """
    require_onnx(runtime=True)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    worst = 0.0
    module.eval()
    for x in inputs:
        with torch.no_grad():
            expected = module(x).detach().cpu()
        got = torch.from_numpy(session.run(None, {name: x.detach().cpu().numpy()})[0])
        if got.shape != expected.shape:
            raise RuntimeError(
                f"ONNX Runtime gave shape {tuple(got.shape)} for input {tuple(x.shape)}, "
                f"PyTorch {tuple(expected.shape)}."
            )
        worst = max(worst, float((got - expected).abs().max()) if got.numel() else 0.0)
    return worst


class ExportCommand(Command):
    """Export the model of a training run (its best checkpoint) to ONNX.

    The graph takes ``(batch, *dims)`` inputs of the run's data module with a dynamic batch
    size. With ONNX Runtime installed the written file is run at batch sizes 1 and 3 and the
    largest difference from PyTorch is printed. Needs ``pip install 'kanlab[onnx]'``.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_dir", metavar="RUN_DIR",
                            help="run directory (config.yaml and best.ckpt or last.ckpt)")
        parser.add_argument("--format", default="onnx", choices=FORMATS,
                            help="export format (default onnx)")
        parser.add_argument("--output", metavar="PATH",
                            help="file to write (default RUN_DIR/model.onnx)")
        parser.add_argument("--opset", type=int, default=None,
                            help="ONNX opset version (default: the exporter's)")

    def run(self, args: argparse.Namespace) -> int:
        require_onnx()
        run_dir = Path(args.run_dir)
        if not run_dir.is_dir():
            raise InputError(f"`RUN_DIR` must be a run directory, but got {str(run_dir)!r}.")
        from kanlab.lit.train import build_datamodule, load_run

        cfg, model = load_run(run_dir)
        dims = tuple(int(d) for d in getattr(build_datamodule(cfg), "dims", ()) or ())
        if not dims:
            raise InputError(
                f"`RUN_DIR` must be a run whose data module declares `dims`, but "
                f"{cfg.data.name!r} does not."
            )
        out = Path(args.output) if args.output else run_dir / "model.onnx"
        gen = torch.Generator().manual_seed(0)
        export_onnx(model, torch.randn(2, *dims, generator=gen), out,
                    opset_version=args.opset)
        line = f"wrote {out} (ONNX, input x: (batch, {', '.join(map(str, dims))}))"
        if importlib.util.find_spec("onnxruntime") is not None:
            inputs = [torch.randn(b, *dims, generator=gen) for b in (1, 3)]
            err = onnxruntime_error(out, model, inputs)
            line += f"; ONNX Runtime vs PyTorch max |diff| {err:.2e}"
        print(line)
        return 0
