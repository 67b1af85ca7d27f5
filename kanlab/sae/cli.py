"""``kanlab sae CONFIG.yaml [--set key=value ...]``."""

from __future__ import annotations

import argparse
import json
import sys

from kanlab.command import Command, add_overrides_argument, results_dir

__all__ = ["SAECommand"]


def _progress_line(line: str) -> None:
    """Stages and SAE steps as plain lines on stderr (stdout keeps the JSON summary)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class SAECommand(Command):
    """Train a sparse autoencoder on one hooked module of a trained model (YAML `task: sae`).

    The YAML names the host (`source:` a `kanlab train` run directory, or an inline `model:` +
    `data:`), the hooked submodule (`hook:`), the SAE `width`, its `activation` (any top-k
    spec), `lr` and `steps`. Metrics (FVU, nMSE, L0, dead latents, downstream loss with the
    reconstruction spliced in) go to <results-dir>/<benchmark>/sae/<name>-<time>/metrics.json.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("config", help="a `task: sae` YAML path or shipped name, e.g. "
                            "fashion_mnist/sae_topk (kanlab list experiments)")
        add_overrides_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        from kanlab.sae.config import load_sae_config
        from kanlab.sae.run import run_sae
        from kanlab.specs import resolve_spec

        cfg = load_sae_config(resolve_spec(args.config, "experiments"), args.overrides)
        result = run_sae(cfg, results_dir=results_dir(args), progress=_progress_line)
        summary = {
            "run_dir": str(result.run_dir),
            "val": result.metrics["val"],
            "downstream": result.metrics["downstream"],
        }
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return 0
