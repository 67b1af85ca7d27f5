"""``kanlab demo`` (and ``make demo``): a small real search on Fashion-MNIST, then its leaderboard.

Runs the shipped study ``demo`` (``search/demo.yaml``: a 5,000-image subset, 3 epochs, median
pruning) over MLP activations and KAN layer types, exports it and prints the leaderboard of its
trials. Everything goes to ``<results>/demo/`` (``<results>`` is ``--results-dir``,
``$KANLAB_RESULTS`` or ``./results/local``, which git ignores), and each demo starts afresh
there: its result never depends on an earlier (perhaps broken) attempt.

Fashion-MNIST is checked before anything runs: a machine without it stops at once with one
line naming the command that installs it (``make demo`` installs it itself when it runs as
root with apt-get, as ``.ci/run`` does).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from kanlab.command import Command, results_dir
from kanlab.errors import SetupError, UsageError

__all__ = ["DemoCommand", "check_data"]

STUDY = "demo"
STUDY_NAME = "demo_fashion_mnist"
MARKER = ".kanlab-demo"


def install_hint() -> str:
    """The command that puts Fashion-MNIST on this machine (Debian/Ubuntu package)."""
    from kanlab.data.fashion_mnist import DEBIAN_PACKAGE

    sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y {DEBIAN_PACKAGE}"


def check_data() -> None:
    """Make Fashion-MNIST ready (data dir, Debian package, download) or stop with one line.

    Raises:
        SetupError: the data is missing and cannot be fetched; the message names the command.
    """
    from kanlab.data._base import DataUnavailableError
    from kanlab.data.fashion_mnist import FashionMNISTDataModule

    dm = FashionMNISTDataModule()
    try:
        dm.prepare_data()
    except DataUnavailableError:
        where = f"{dm.data_dir}/FashionMNIST/raw/"
        if shutil.which("apt-get"):
            how = f"run `{install_hint()}`"
        else:
            how = "install the Debian package dataset-fashion-mnist"
        raise SetupError(
            f"Fashion-MNIST is not installed and cannot be downloaded: {how} (or put the four "
            f"idx files in {where}), then run the demo again."
        ) from None


def fresh_dir(root: Path) -> None:
    """Empty ``root`` for a new demo; refuse a non-empty directory the demo did not make."""
    if root.exists():
        if not root.is_dir() or ((any(root.iterdir())) and not (root / MARKER).is_file()):
            raise UsageError(
                f"The demo writes into <results>/demo and starts it afresh, but {str(root)!r} "
                "holds files the demo did not make; pass another --results-dir."
            )
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("made by `kanlab demo`; replaced by the next demo\n")


class DemoCommand(Command):
    """Run a small real search on Fashion-MNIST and print the leaderboard of its trials.

    The shipped study `demo` (5,000 images, 3 epochs per trial, median pruning; about 15
    seconds on 2 CPU cores once Fashion-MNIST is installed) writes into <results>/demo/
    (default ./results/local/demo, which git ignores) and starts afresh each time; it ends
    with the commands that show its study and table again. Fashion-MNIST comes from the
    Debian package dataset-fashion-mnist; without it the demo stops at once and says how to
    install it.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--workers", type=int, default=1, help="local worker processes")
        parser.add_argument("--n-trials", type=int,
                            help="finished trials (default: the study's, 10)")

    def run(self, args: argparse.Namespace) -> int:
        if args.workers < 1:
            raise UsageError(f"`--workers` must be >= 1, but got workers={args.workers}.")
        if args.n_trials is not None and args.n_trials < 1:
            raise UsageError(f"`--n-trials` must be >= 1, but got n_trials={args.n_trials}.")
        check_data()
        root = results_dir(args) / "demo"
        fresh_dir(root)
        common = ["--results-dir", str(root), *(["--debug"] if args.debug else [])]
        search = ["search", STUDY, "--workers", str(args.workers), *common]
        if args.n_trials:
            search += ["--n-trials", str(args.n_trials)]
        for argv in (search,
                     ["study", "export", "--study", STUDY_NAME, *common],
                     ["leaderboard", "fashion_mnist", "--include-trials", "--output", "-",
                      *common]):
            code = self.dispatch(argv)
            if code != 0:
                return code
        import shlex

        where = shlex.quote(str(root))
        print(f"demo results: {root}")
        # the demo's study lives in <results>/demo, which plain `kanlab study list` does not read
        print(f"study: kanlab study show --study {STUDY_NAME} --results-dir {where}")
        print(f"table: kanlab leaderboard fashion_mnist --include-trials --results-dir {where}")
        return 0

