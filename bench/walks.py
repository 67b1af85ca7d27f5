"""Walks: how many kanlab modules one CLI call passes through, and how often it comes back.

``python -m bench walks [--walk]`` runs, in this process under :func:`sys.setprofile`,

- ``kanlab train`` on a small synthetic experiment (``experiments/function_fitting/mlp.yaml``,
  64 points, one AdamW epoch), and
- ``kanlab search`` on a small study over that experiment (2 trials, one in-process worker,
  SQLite in a temporary results directory),

and reports two walks for each call (``--walk``: the whole walks too), each as

- **rooms**: the distinct ``kanlab.*`` modules the walk enters;
- **stays**: the maximal consecutive stretches of the walk spent inside one module;
- **returns**: stays in a module visited before (stays - rooms).

**Argument walk** (issue 28's measure: "``kanlab train``'s arguments visit 11 rooms in 26
stays"): the path of the command's arguments in all their forms (argv → YAML → dict → frozen
spec → dict → kwargs). A ``kanlab.*`` call is on it when one of its arguments (``self``
included) is *argument data*: the argv list or one of its words (each a fresh str, followed by
identity), a value that a call on the walk returned and that is data, not machinery (a
mapping, list, tuple, set, path, argparse namespace or dataclass instance; not a model,
trainer, class or function), or anything such a value holds (dataclass fields, mapping values,
items), recursively. Control sits in the innermost call on the walk; a return goes back to its
caller on the walk. Limits: a container built by a builtin or a third-party call
(``list(argv)``, argparse's namespace, ``Model(**kwargs)``) is not followed unless a walk call
returns it, so the figures are lower bounds, the same bounds at every commit.

**Call walk**: the ``kanlab.*`` function calls reached from ``kanlab.cli.main`` through kanlab
frames only, where control sits after each such call and each return to a kanlab caller. Code
that a third-party frame calls back (Lightning's hooks, ``nn.Module.forward`` from torch,
Optuna's objective call) and module bodies run by imports start no walk of their own and are
not counted, so the figures do not grow with the number of batches. ``config_hash`` counts
every call of :func:`kanlab.config.config_hash` during the command, callbacks included.

Runs against whichever kanlab is first on ``PYTHONPATH`` (the experiment YAML is taken from
that checkout too), so the same script measures a base commit and a branch.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import io
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
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


def _profiled(call: Callable[[], Any], profile: Callable[[FrameType, str, Any], None]) -> Any:
    """``call()`` with ``profile`` as :func:`sys.setprofile`'s hook, removed afterwards."""
    sys.setprofile(profile)
    try:
        return call()
    finally:
        sys.setprofile(None)


def walk(call: Callable[[], Any]) -> tuple[Walk, Any]:
    """Run ``call()`` under a profiler and return its kanlab call walk and its result."""
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

    return result, _profiled(call, profile)


_DATA = (Mapping, list, tuple, set, frozenset, PurePath, argparse.Namespace)
_SCALARS = (str, bytes, int, float, complex, bool, type(None))


def _is_data(value: Any) -> bool:
    if isinstance(value, _DATA):
        return True
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _members(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [getattr(value, f.name, None) for f in dataclasses.fields(value)]
    if isinstance(value, argparse.Namespace):
        return list(vars(value).values())
    return []


def argument_walk(call: Callable[[], Any], argv: list[str]) -> tuple[Walk, Any]:
    """Run ``call()`` under a profiler and return the walk of ``argv``'s forms (module doc)."""
    result = Walk()
    data: dict[int, Any] = {}  # id -> object (kept alive so ids are not reused)
    on_walk: dict[int, str] = {}  # id(frame) -> module, for live frames on the walk

    def mark(value: Any, depth: int = 0) -> None:
        if depth > 8 or isinstance(value, _SCALARS) or id(value) in data:
            return
        if depth == 0 and not _is_data(value):
            return
        if isinstance(value, (tuple, frozenset)) and not value:
            return  # CPython's shared empty tuple: every call with no *args would match
        data[id(value)] = value
        for member in _members(value):
            if _is_data(member):
                mark(member, depth + 1)

    def arguments(frame: FrameType) -> list[Any]:
        code = frame.f_code
        count = code.co_argcount + code.co_kwonlyargcount
        varargs = bool(code.co_flags & inspect.CO_VARARGS)
        varkw = bool(code.co_flags & inspect.CO_VARKEYWORDS)
        count += varargs + varkw
        values = [frame.f_locals.get(name) for name in code.co_varnames[:count]]
        if varargs:
            values.extend(frame.f_locals.get(code.co_varnames[count - 1 - varkw], ()))
        if varkw:
            values.extend(frame.f_locals.get(code.co_varnames[count - 1], {}).values())
        return values

    def enclosing(frame: FrameType | None) -> str | None:
        while frame is not None:
            if id(frame) in on_walk:
                return on_walk[id(frame)]
            frame = frame.f_back
        return None

    mark(argv)
    for word in argv:  # each word is its own (never interned) str object: see _commands
        data[id(word)] = word

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            module = _module(frame)
            if frame.f_code.co_name == "config_hash" and module == "kanlab.config":
                result.config_hash_calls += 1
            if not module.startswith("kanlab") or frame.f_code.co_name == "<module>":
                return
            if any(id(v) in data and data[id(v)] is v for v in arguments(frame)):
                on_walk[id(frame)] = module
                result.places.append(module)
        elif event == "return" and on_walk.pop(id(frame), None) is not None:
            mark(arg)
            back = enclosing(frame.f_back)
            if back is not None:
                result.places.append(back)

    return result, _profiled(call, profile)


def _kanlab(argv: list[str]) -> Callable[[], int]:
    from kanlab.cli import main

    def run() -> int:
        with contextlib.redirect_stdout(io.StringIO()):
            return main(argv)

    return run


def _commands(experiment: Path, tmp: str) -> dict[str, list[str]]:
    spec = Path(tmp) / "walks_study.yaml"
    spec.write_text(STUDY.format(base=experiment))
    commands = {
        "train": ["train", str(experiment), "--results-dir", tmp, "--set", *TRAIN_SET],
        "search": ["search", str(spec), "--results-dir", tmp, "--workers", "1",
                   "--devices", "cpu"],
    }
    # fresh str objects, so that the argument walk can follow the words by identity without
    # mistaking the interned literal "train" in kanlab's code for the command's argument
    return {name: ["".join(list(word)) for word in argv] for name, argv in commands.items()}


def main(flags: Sequence[str] = ()) -> int:
    import kanlab

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    checkout = Path(kanlab.__file__).resolve().parents[1]
    experiment = checkout / "experiments" / "function_fitting" / "mlp.yaml"
    print(f"kanlab from {checkout}")
    status = 0
    for command in ("train", "search"):
        for measure in ("argument walk", "call walk"):
            # a fresh results directory per measure: the second search must not resume the first
            with tempfile.TemporaryDirectory(prefix="kanlab-walks-") as tmp:
                argv = _commands(experiment, tmp)[command]
                if measure == "argument walk":
                    shown = " ".join(a if a.startswith("--") or "=" in a else Path(a).name
                                     for a in argv)
                    print(f"\nkanlab {shown}")
                    found, code = argument_walk(_kanlab(argv), argv)
                else:
                    found, code = walk(_kanlab(argv))
                print(f"{measure} (exit {code}): " + found.summary(show_walk="--walk" in flags))
                status |= int(code or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
