"""``kanlab train EXPERIMENT.yaml [--set k=v ...] [--resume RUN_DIR]``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kanlab.command import Command, add_overrides_argument, results_dir
from kanlab.config import load_experiment
from kanlab.errors import UsageError
from kanlab.specs import resolve_spec

__all__ = ["TrainCommand"]


class TrainCommand(Command):
    """Train one experiment YAML and append its row to <results>/<datamodule>/runs.jsonl.

    Examples:
      kanlab train experiments/fashion_mnist/relu_kan.yaml
      kanlab train fashion_mnist/relu_kan            (a shipped experiment, by name)
      kanlab train experiments/fashion_mnist/mlp.yaml --set trainer.max_epochs=2 optim.lr=3e-4
      kanlab train --resume results/local/fashion_mnist/runs/mlp-0123abcd4567-s0-20250101T000000Z
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("experiment", nargs="?", help="experiment YAML file or shipped "
                            "experiment name, e.g. fashion_mnist/af_kan (kanlab list experiments)")
        add_overrides_argument(parser)
        parser.add_argument(
            "--resume", metavar="RUN_DIR",
            help="continue a run directory from its last.ckpt (its config.yaml is used; "
                 "--set may raise trainer.max_epochs)",
        )
        parser.add_argument("--no-record", action="store_true",
                            help="do not append the row to runs.jsonl")
        parser.add_argument("--progress-bar", action=argparse.BooleanOptionalAction,
                            default=None, help="force the progress bar on/off")

    def run(self, args: argparse.Namespace) -> int:
        if args.resume is None and args.experiment is None:
            raise UsageError("`experiment` is required (a YAML file), or pass --resume RUN_DIR.")
        if args.resume is not None:
            run_dir = Path(args.resume)
            if args.experiment is not None:
                raise UsageError("Pass either an experiment YAML or --resume RUN_DIR, not both.")
            if not (run_dir / "config.yaml").is_file():
                raise UsageError(
                    "`--resume` must name a run directory with config.yaml, but got "
                    f"{args.resume!r}."
                )
            cfg = load_experiment(run_dir / "config.yaml", args.overrides)
            _check_unfinished(run_dir, cfg, results_dir(args))
        else:
            run_dir = None
            cfg = load_experiment(resolve_spec(args.experiment, "experiments"), args.overrides)
        from kanlab.lit.train import train  # Lightning loads only now: --help stays fast

        result = train(
            cfg,
            results_dir=results_dir(args),
            resume=args.resume is not None,
            run_dir=run_dir,
            record=not args.no_record,
            progress_bar=args.progress_bar,
        )
        if not result.is_global_zero:  # a rank that Lightning's ddp launched: rank 0 reports
            return 0
        shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.metrics.items()))
        print(f"{cfg.name}: {shown}")
        print(f"run dir: {result.run_dir}")
        return 0


def _check_unfinished(run_dir: Path, cfg: Any, root: Path) -> None:
    """``--resume`` of a run that already has its row for these epochs would add a duplicate.

    Raises:
        UsageError: naming the run, its epochs and how to train on.
    """
    import json

    runs = root / cfg.results_group / "runs.jsonl"
    if not runs.is_file():
        return
    here = run_dir.resolve()
    for line in runs.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # the leaderboard reports bad lines; here only finished runs matter
        where = row.get("run_dir") if isinstance(row, dict) else None
        if not where or (root / where).resolve() != here:
            continue
        done = (row.get("config") or {}).get("trainer", {}).get("max_epochs")
        if done == cfg.trainer.max_epochs:
            raise UsageError(
                f"`--resume` must name an unfinished run, but {str(run_dir)!r} finished its "
                f"{done} epochs and has its row in {runs}; pass --set "
                "trainer.max_epochs=N (more epochs) to train it on."
            )
