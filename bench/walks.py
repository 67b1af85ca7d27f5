"""Walks: how many kanlab modules one CLI call passes through, and how often it comes back.

``python -m bench walks [--walk]`` runs, in this process under :func:`sys.setprofile`,

- ``kanlab train`` on a small synthetic experiment (``experiments/function_fitting/mlp.yaml``,
  64 points, one AdamW epoch), and
- ``kanlab search`` on a small study over that experiment (2 trials, one in-process worker,
  SQLite in a temporary results directory),

and reports for each call (``--walk``: the whole walk too):

- **rooms**: the distinct ``kanlab.*`` modules the walk enters;
- **stays**: the maximal consecutive stretches of the walk spent inside one module;
- **returns**: stays in a module visited before (stays - rooms).

The walk is the path of the command's own arguments: the ``kanlab.*`` function calls reached
from ``kanlab.cli.main`` through kanlab frames only, where control sits after each such call
and each return to a kanlab caller. Code that a third-party frame calls back (Lightning's
hooks, ``nn.Module.forward`` from torch, Optuna's objective call) and module bodies run by
imports start no walk of their own and are not counted, so the figures do not grow with the
number of batches. ``config_hash`` counts every call of :func:`kanlab.config.config_hash`
during the command, callbacks included.

Runs against whichever kanlab is first on ``PYTHONPATH`` (the experiment YAML is taken from
that checkout too), so the same script measures a base commit and a branch.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

TRAIN_SET = ["data.n_train=64", "data.n_val=32", "data.n_test=64", "data.batch_size=32",
             "optim.name=adamw", "optim.lr=0.01", "optim.params={}", "trainer.max_epochs=1",
             "trainer.early_stopping_patience=null"]

STUDY = """\
name: walks_study
base: {base}
direction: minimize
metric: val/loss
sampler: {{name: random, seed: 0}}
n_trials: 2
seed: 0
fixed:
  data.n_train: 64
  data.n_val: 32
  data.n_test: 64
  data.batch_size: 32
  optim.name: adamw
  optim.lr: 0.01
  optim.params: {{}}
  trainer.max_epochs: 1
  trainer.early_stopping_patience: null
space:
  model.activation: {{categorical: [silu, relu]}}
"""


@dataclass
class Walk:
    """The modules where control sat, in order, and the count of ``config_hash`` calls."""

    places: list[str] = field(default_factory=list)
    config_hash_calls: int = 0

    @property
    def stays(self) -> list[str]:
        out: list[str] = []
        for place in self.places:
            if not out or out[-1] != place:
                out.append(place)
        return out

    @property
    def rooms(self) -> int:
        return len(set(self.places))

    @property
    def returns(self) -> int:
        return len(self.stays) - self.rooms

    def summary(self, *, show_walk: bool = False) -> str:
        stays = self.stays
        visits = Counter(stays).most_common()
        lines = [f"rooms {self.rooms}, stays {len(stays)}, returns {self.returns}, "
                 f"config_hash calls {self.config_hash_calls}",
                 "  stays per room: " + ", ".join(f"{m.removeprefix('kanlab.')} {n}"
                                                  for m, n in visits)]
        if show_walk:
            lines.append("  walk: " + " > ".join(m.removeprefix("kanlab.") for m in stays))
        return "\n".join(lines)


def _module(frame: FrameType) -> str:
    return str(frame.f_globals.get("__name__", ""))


def walk(call: Callable[[], Any]) -> tuple[Walk, Any]:
    """Run ``call()`` under a profiler and return its kanlab walk and its result."""
    result = Walk()
    counted: dict[int, str] = {}  # id(frame) -> module, for live frames on the walk

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            module = _module(frame)
            if code.co_name == "config_hash" and module == "kanlab.config":
                result.config_hash_calls += 1
            if not module.startswith("kanlab") or code.co_name == "<module>":
                return
            caller = frame.f_back
            if caller is None or (id(caller) not in counted and _module(caller) != __name__):
                return
            counted[id(frame)] = module
            result.places.append(module)
        elif event == "return":
            if counted.pop(id(frame), None) is None:
                return
            caller = frame.f_back
            if caller is not None and id(caller) in counted:
                result.places.append(counted[id(caller)])

    sys.setprofile(profile)
    try:
        value = call()
    finally:
        sys.setprofile(None)
    return result, value


def _kanlab(argv: Sequence[str]) -> Callable[[], int]:
    from kanlab.cli import main

    def run() -> int:
        with contextlib.redirect_stdout(io.StringIO()):
            return main(list(argv))

    return run


def main(flags: Sequence[str] = ()) -> int:
    import kanlab

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    checkout = Path(kanlab.__file__).resolve().parents[1]
    experiment = checkout / "experiments" / "function_fitting" / "mlp.yaml"
    print(f"kanlab from {checkout}")
    status = 0
    with tempfile.TemporaryDirectory(prefix="kanlab-walks-") as tmp:
        spec = Path(tmp) / "walks_study.yaml"
        spec.write_text(STUDY.format(base=experiment))
        commands = {
            "train": ["train", str(experiment), "--results-dir", tmp, "--set", *TRAIN_SET],
            "search": ["search", str(spec), "--results-dir", tmp, "--workers", "1",
                       "--devices", "cpu"],
        }
        for argv in commands.values():
            shown = " ".join(a if a.startswith("--") or "=" in a else Path(a).name
                             for a in argv)
            found, code = walk(_kanlab(argv))
            print(f"\nkanlab {shown}  (exit {code})")
            print(found.summary(show_walk="--walk" in flags))
            status |= int(code or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
