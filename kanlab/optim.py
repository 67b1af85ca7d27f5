"""Optimisers and learning-rate schedulers by name (registries ``optimizers``, ``schedulers``).

The entries are torch's own classes; configs name them (``optim: {name: adamw}``,
``scheduler: {name: exponential, gamma: 0.8}``) and their keyword arguments are checked
against the class signature.
"""

from __future__ import annotations

from torch import optim
from torch.optim import lr_scheduler

from kanlab.registry import OPTIMIZERS, SCHEDULERS

__all__: list[str] = []

OPTIMIZERS.add("adamw", optim.AdamW, summary="AdamW (decoupled weight decay).")
OPTIMIZERS.add("adam", optim.Adam, summary="Adam.")
OPTIMIZERS.add("sgd", optim.SGD, summary="SGD with optional momentum/Nesterov.")
OPTIMIZERS.add("rmsprop", optim.RMSprop, summary="RMSprop.")
OPTIMIZERS.add("lbfgs", optim.LBFGS, summary="L-BFGS (full-batch; for function fitting).")

# `wiring`: arguments the training system passes itself (the optimiser).
# `wiring`: arguments the training system passes itself (the optimiser); `example_hparams`:
# the smallest valid config (kanlab.testing's contract suites build every entry from it).
for _name, _cls, _summary, _example in [
    ("exponential", lr_scheduler.ExponentialLR, "lr *= gamma after every epoch.",
     {"gamma": 0.9}),
    ("step", lr_scheduler.StepLR, "lr *= gamma every step_size epochs.", {"step_size": 2}),
    ("multistep", lr_scheduler.MultiStepLR, "lr *= gamma at each milestone epoch.",
     {"milestones": [2, 4]}),
    ("cosine", lr_scheduler.CosineAnnealingLR, "Cosine decay to eta_min over T_max epochs.",
     {"T_max": 10}),
    ("linear", lr_scheduler.LinearLR, "Linear warm-up/decay of the lr factor.", {}),
    ("plateau", lr_scheduler.ReduceLROnPlateau, "lr *= factor when val/loss stops improving.",
     {}),
]:
    SCHEDULERS.add(_name, _cls, summary=_summary, wiring=("optimizer",), example_hparams=_example)
