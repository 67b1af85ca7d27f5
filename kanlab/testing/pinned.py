"""Pinned numerics: seconds-long training runs whose recorded numbers are committed.

A change to numerics (a layer's formula, an initialisation, the optimiser or data path) shows
at once in ``tests/testing/test_pinned.py``, not after hours of re-running the tables: every
layer family trains one tiny run at one torch thread, and every non-timing field of its row
(:func:`kanlab.results.verify.compared_fields`: metrics, best epoch, epochs, parameter and
FLOP counts, how the run ended) must equal the committed value exactly.

The committed values live in ``tests/testing/pinned_runs*.json``, one file per machine class
(``pinned_runs.<capability>.<vendor>-<family>.json`` for one CPU vendor and family,
``pinned_runs.json`` for the rest of its instruction set; ``tests/testing/test_pinned.py``
gives the rule), and are never typed by hand; regenerate this machine's file (after a
numerics change that is meant) with::

    OMP_NUM_THREADS=1 python -m kanlab.testing.pinned tests/testing/<file> --data-dir DIR

Each file records the torch version and CPU capability it was made with; on another torch
build or CPU, float rounding may differ, and the test skips with that reason rather than
failing. A numerics change that is meant can be re-pinned only on the machine class a file
names; the other files then mark the runs it moved (or may have moved) stale, with the
commit and reason, until a session on their machine regenerates them::

    python -m kanlab.testing.pinned tests/testing/<file> --stale RUN[,RUN] --why "..."

and the test skips a stale run with that reason instead of failing on numbers that are known
to be old. Linear families train on the synthetic ``xy`` task; convolutional ones (``conv2d``,
``kan_conv2d``, ``s_conv_kan``) on ``tiny_fashion_mnist`` (two batches per epoch), which needs
the Fashion-MNIST files (``--data-dir``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["PINNED", "THREADS", "machine", "pinned_config", "run_pinned"]

THREADS = 1
_FIT: dict[str, Any] = {
    "seed": 0,
    "data": {"name": "synthetic", "function": "xy", "n_train": 64, "n_val": 32, "n_test": 32,
             "batch_size": 16},
    "optim": {"name": "adam", "lr": 1e-2},
    "trainer": {"max_epochs": 2, "progress_bar": False},
}
_IMAGES: dict[str, Any] = {
    "seed": 0,
    "data": {"name": "tiny_fashion_mnist", "batch_size": 32},
    "optim": {"name": "adam", "lr": 1e-3},
    "trainer": {"max_epochs": 1, "progress_bar": False, "limit_train_batches": 2},
}
_STAGES = [{"name": "skan_schedule", "selective_epoch": 1, "pruned_epoch": 2}]


def _kan(layer: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": "kan_mlp", "widths": [2, 3, 1], "layer": dict(layer)}


def _conv(layer: str) -> dict[str, Any]:
    return {"name": "kan_convnet", "in_chans": 1, "num_classes": 10, "image_size": 28,
            "channels": [2, 2], "conv_layer": {"name": layer}}


# name -> (base config, model, trainer overrides): one run per layer family
PINNED: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "mlp": (_FIT, {"name": "mlp", "widths": [2, 8, 1], "activation": "silu"}, {}),
    "b_spline_kan": (_FIT, _kan({"name": "b_spline_kan"}), {}),
    "fast_kan": (_FIT, _kan({"name": "fast_kan"}), {}),
    "relu_kan": (_FIT, _kan({"name": "relu_kan"}), {}),
    "af_kan": (_FIT, _kan({"name": "af_kan"}), {}),
    "cheby_kan": (_FIT, _kan({"name": "cheby_kan"}), {}),
    "wav_kan": (_FIT, _kan({"name": "wav_kan"}), {}),
    "gr_kan": (_FIT, _kan({"name": "gr_kan"}), {}),
    "s_kan": (_FIT, _kan({"name": "s_kan"}), {"max_epochs": 3, "callbacks": _STAGES}),
    # full-batch L-BFGS (the function-fitting protocol); its optimiser: pinned_config
    "lbfgs_mlp": (_FIT, {"name": "mlp", "widths": [2, 8, 1], "activation": "silu"}, {}),
    "conv2d": (_IMAGES, _conv("conv2d"), {}),
    "kan_conv2d": (_IMAGES, _conv("kan_conv2d"), {}),
    "s_conv_kan": (_IMAGES, _conv("s_conv_kan"), {"max_epochs": 3, "callbacks": _STAGES}),
}


def pinned_config(name: str, data_dir: str | None = None) -> Any:
    """The :class:`~kanlab.config.ExperimentConfig` of pinned run ``name``."""
    from kanlab.config import load_experiment

    base, model, trainer = PINNED[name]
    raw = {**base, "name": f"pinned_{name}", "model": model,
           "trainer": {**base["trainer"], **trainer}}
    if name == "lbfgs_mlp":
        raw["optim"] = {"name": "lbfgs", "lr": 1.0,
                        "params": {"history_size": 10, "line_search_fn": "strong_wolfe",
                                   "max_iter": 5}}
        raw["data"] = {**raw["data"], "batch_size": 64}
    if raw["data"]["name"] != "synthetic" and data_dir is not None:
        raw["data"] = {**raw["data"], "data_dir": data_dir}
    return load_experiment(raw)


def machine() -> dict[str, Any]:
    """What float rounding depends on: :func:`kanlab.provenance.machine` and :data:`THREADS`."""
    from kanlab.provenance import machine as describe

    return {**describe(), "threads": THREADS}


def run_pinned(name: str, data_dir: str | None = None) -> dict[str, Any]:
    """Train pinned run ``name`` at :data:`THREADS` threads; its compared fields (JSON types)."""
    from kanlab.results.verify import compared_fields, unrecorded_row

    return compared_fields(unrecorded_row(pinned_config(name, data_dir), THREADS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kanlab.testing.pinned",
                                     description="Regenerate the pinned numerics file.")
    parser.add_argument("output", help="e.g. tests/testing/pinned_runs.json")
    parser.add_argument("--data-dir", default=None,
                        help="Fashion-MNIST data dir for the convolutional runs")
    parser.add_argument("--stale", default=None,
                        help="comma-separated runs to mark stale in the existing OUTPUT "
                             "instead of regenerating it (needs --why)")
    parser.add_argument("--why", default=None, help="with --stale: the commit and reason")
    args = parser.parse_args(argv)
    if args.stale is not None:
        return _mark_stale(Path(args.output), args.stale, args.why)
    runs = {name: run_pinned(name, args.data_dir) for name in PINNED}
    _write(Path(args.output), {"machine": machine(), "runs": runs})
    print(f"wrote {args.output} ({len(runs)} runs)", file=sys.stderr)
    return 0


def _write(path: Path, data: Mapping[str, Any]) -> None:
    """A pin file's one text form: sorted keys, one-space indent, a final newline."""
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def _mark_stale(path: Path, names: str, why: str | None) -> int:
    """Mark runs of an existing pin file stale (see the module docstring)."""
    from kanlab.registry import closest

    wanted = [n for n in names.split(",") if n]
    unknown = [n for n in wanted if n not in PINNED]
    if not wanted or unknown:
        bad = unknown[0] if unknown else names
        match = closest(bad, sorted(PINNED))
        hint = f" Did you mean {match!r}?" if match else ""
        raise SystemExit(f"`--stale` must name pinned runs ({', '.join(sorted(PINNED))}), "
                         f"but got stale={bad!r}.{hint}")
    if not why:
        raise SystemExit("`--why` must say which commit moved the runs and why, "
                         f"but got why={why!r}.")
    data = json.loads(path.read_text())
    data["stale"] = {**data.get("stale", {}), **dict.fromkeys(wanted, why)}
    _write(path, data)
    print(f"marked {', '.join(wanted)} stale in {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
