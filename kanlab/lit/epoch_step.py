"""One Lightning step per epoch and per evaluation pass: kanlab's own loops run the batches.

Lightning spends ~0.3 ms of Python on every training batch before and after the arithmetic
(the automatic-optimization closure and its six layers of wrappers, ten hook dispatches,
progress and logging bookkeeping; ``python -m bench epoch_overhead``), a quarter of a batch-64
MLP step on one CPU thread. :func:`enable` (``kanlab train`` calls it for every run) gives the
system a ``training_step(dataloader_iter)``, Lightning's supported form for a step that fetches
its own batches, under manual optimization; that one call per epoch runs every batch in a
plain loop that does, per batch and in Lightning's order, what Lightning's loop does:

1. fetch the batch and move it to the device (the module's and data module's batch-transfer
   hooks included); count it as ready and started;
2. the callbacks' ``on_train_batch_start(trainer, module, batch, batch_idx)``;
3. ``optimizer.step(closure)``, the closure running forward and loss
   (:meth:`~kanlab.lit._system.TrainingSystem.train_loss`, metrics updated),
   ``optimizer.zero_grad()`` and ``loss.backward()``; counted as one optimizer step
   (``trainer.global_step``);
4. count the batch processed; the callbacks' ``on_train_batch_end(trainer, module,
   {"loss": loss}, batch, batch_idx)``; count it completed and stepped (the loggers' step);
5. stop after this batch when ``trainer.should_stop`` is set (as Lightning's loop does).

The epoch-interval schedulers step after the last batch's optimizer step (before its end
hooks and validation); a plateau scheduler, on the monitored validation loss, after every
``on_train_epoch_end`` hook (:class:`PlateauStep`): where Lightning steps them. Same
operations on the same tensors in the same order: the same numbers, bit for bit
(``tests/lit/test_epoch_step.py`` trains both ways). Lightning's own once-per-step calls of the
batch hooks are dropped by :mod:`kanlab.lit.lean_hooks`.

Evaluation passes (validation, with the per-epoch test loader, and the final test) run the same
way: ``validation_step(dataloader_iter)`` and ``test_step(dataloader_iter)`` each run a whole
pass, per batch in Lightning's order the transfer, the callbacks' ``on_validation_batch_start``
(or ``on_test_...``), the system's metric updates (the ``val``, ``test_epoch`` or ``test``
stage by loader), the callbacks' ``..._batch_end`` and Lightning's batch counters, and raise on
a SIGTERM between batches as Lightning's loop does; where the module overrides an evaluation
step or batch hook, Lightning's evaluation loop runs (:func:`reason_not_eval`). The same metric
updates in the same order: the same logged values.

The mode is used only where it is exact: one device, 32-bit precision, no gradient clipping or
accumulation, no ``max_steps``, validation at epoch ends, a pass-through profiler, a single
optimizer and its scheduler from :class:`~kanlab.lit._system.TrainingSystem`'s
``configure_optimizers``, no callback and no module override of the optimization hooks
(``on_before_zero_grad``, ``on_before_backward``, ``on_after_backward``,
``on_before_optimizer_step``, ...), and ``$KANLAB_EPOCH_STEPS`` not ``0``. Otherwise
Lightning's loop runs, unchanged; :func:`reason_not` says why.

Deviations: Lightning keeps separate step counters for its loop and for this one, so a run
resumed under the other loop than the one that wrote its checkpoint (a checkpoint from before
this mode, or ``$KANLAB_EPOCH_STEPS`` changed in between) counts its optimizer steps from zero
again (``steps`` in its row); its numbers are unaffected. In an evaluation pass the first
batch's start hooks see it already counted as started (Lightning counts it before the step that
runs the pass), and nothing the steps log would see its batch (the system's steps log nothing;
their metrics are logged at epoch ends).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Checkpoint

from kanlab import settings
from kanlab.lit._system import SCHEDULER_MONITOR, TrainingSystem
from kanlab.lit.lean_hooks import (
    EVAL_BATCH_HOOKS,
    OWNS_EVAL_BATCHES,
    OWNS_TRAIN_BATCHES,
    installed,
    overrides,
)

__all__ = ["enable", "reason_not", "reason_not_eval"]

OPTIMIZATION_HOOKS = ("on_before_zero_grad", "on_before_backward", "on_after_backward",
                      "on_before_optimizer_step")
"""Callback hooks Lightning's automatic optimization calls and this loop does not."""

MODULE_HOOKS = (*OPTIMIZATION_HOOKS, "on_train_batch_start", "on_train_batch_end",
                "training_step", "optimizer_step", "optimizer_zero_grad", "backward",
                "configure_gradient_clipping", "configure_optimizers")
"""System methods that must be :class:`TrainingSystem`'s own (the loop stands in for them)."""


def reason_not(system: pl.LightningModule, trainer: pl.Trainer) -> str | None:
    """Why ``system`` cannot run one step per epoch under ``trainer`` (None: it can)."""
    from lightning.pytorch.plugins.precision import Precision
    from lightning.pytorch.strategies import SingleDeviceStrategy

    if not settings.epoch_steps():
        return "$KANLAB_EPOCH_STEPS is 0"
    if not isinstance(system, TrainingSystem) or not system.automatic_optimization:
        return "the module is not a TrainingSystem under automatic optimization"
    overridden = _overridden(system, MODULE_HOOKS)
    if overridden:
        return f"the module overrides {overridden[0]}"
    if type(trainer.strategy) is not SingleDeviceStrategy:
        return f"strategy {type(trainer.strategy).__name__}"
    if type(trainer.precision_plugin) is not Precision:
        return f"precision plugin {type(trainer.precision_plugin).__name__}"
    if trainer.gradient_clip_val or trainer.accumulate_grad_batches != 1:
        return "gradient clipping or accumulation"
    if trainer.max_steps != -1 or trainer.val_check_interval != 1.0:
        return "max_steps or val_check_interval"
    if not installed(trainer):
        return "Lightning's hook dispatch is not kanlab.lit.lean_hooks'"
    busy = [f"{type(cb).__name__}.{h}" for cb in trainer.callbacks  # type: ignore[attr-defined]
            for h in OPTIMIZATION_HOOKS if overrides(cb, h)]
    return f"callback hook {busy[0]}" if busy else None


def reason_not_eval(system: pl.LightningModule, trainer: pl.Trainer) -> str | None:
    """Why ``system``'s evaluation passes cannot run one step each (None: they can)."""
    reason = reason_not(system, trainer)
    if reason is not None:
        return reason
    overridden = _overridden(system, (*sorted(EVAL_BATCH_HOOKS), "validation_step", "test_step"))
    return f"the module overrides {overridden[0]}" if overridden else None


def _overridden(system: pl.LightningModule, names: Sequence[str]) -> list[str]:
    """Those of ``names`` that ``system``'s class defines otherwise than TrainingSystem."""
    cls = type(system)
    return [h for h in names if getattr(cls, h) is not getattr(TrainingSystem, h)]


def _plateau(spec: Any) -> bool:
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    from kanlab.registry import SCHEDULERS

    name = str((spec or {}).get("name"))
    target = SCHEDULERS.get(name) if name in SCHEDULERS else None
    return isinstance(target, type) and issubclass(target, ReduceLROnPlateau)


def enable(system: pl.LightningModule, trainer: pl.Trainer) -> bool:
    """Give ``system`` the one-step-per-epoch training step where :func:`reason_not` finds
    nothing against it; return whether it did."""
    if reason_not(system, trainer) is not None:
        return False
    assert isinstance(system, TrainingSystem)
    import warnings

    warnings.filterwarnings("ignore", "Found `dataloader_iter` argument in the `[a-z]+_step`")
    warnings.filterwarnings("ignore", "You are using the `dataloader_iter` step flavor")
    # the epoch-interval schedulers are stepped by _step_schedulers; "monitor" is for plateau
    warnings.filterwarnings("ignore", "The lr scheduler dict contains the key")
    if reason_not_eval(system, trainer) is None:
        vars(system)["validation_step"] = types.MethodType(_evaluation_pass, system)
        vars(system)["test_step"] = types.MethodType(_evaluation_pass, system)
        vars(system)[OWNS_EVAL_BATCHES] = True
    system.automatic_optimization = False
    vars(system)["training_step"] = types.MethodType(_training_epoch, system)
    vars(system)[OWNS_TRAIN_BATCHES] = True
    if _plateau(system.hparams.get("scheduler")):
        trainer.callbacks.append(PlateauStep())  # type: ignore[attr-defined]
        warnings.filterwarnings("ignore", r"`.test\(ckpt_path=\"best\"\)` is called with Trainer "
                                "configured with multiple")
    return True


def _training_epoch(system: TrainingSystem, dataloader_iter: Iterator[Any]) -> None:
    """Every batch of one training epoch (see the module docstring)."""
    trainer = system.trainer
    loop = trainer.fit_loop.epoch_loop
    progress = loop.batch_progress
    steps = loop.manual_optimization.optim_step_progress
    optimizer = trainer.optimizers[0]
    starts = _hooks(trainer, "on_train_batch_start")
    ends = _hooks(trainer, "on_train_batch_end")
    first = True
    transfer = _transfer(system, trainer)
    for batch, batch_idx, _ in dataloader_iter:
        batch = transfer(batch, 0)
        if not first:  # Lightning counted the first before it called this step
            progress.increment_ready()
            progress.increment_started()
        first = False
        progress.is_last_batch = bool(getattr(dataloader_iter, "done", False))
        _call(system, starts, "on_train_batch_start", batch, batch_idx)
        steps.increment_ready()
        loss = optimizer.step(cast(Callable[[], float], _Closure(system, optimizer, batch)))
        steps.increment_completed()
        progress.increment_processed()
        if loop._num_ready_batches_reached():  # the last batch: before its end hooks
            _step_schedulers(system, trainer, plateau=False)
        _call(system, ends, "on_train_batch_end", {"loss": loss}, batch, batch_idx)
        progress.increment_completed()
        loop._batches_that_stepped += 1
        if trainer.should_stop and getattr(trainer.fit_loop, "_can_stop_early", True):
            break
    if first:
        return
    # Lightning counts one batch processed, completed and stepped when this step returns
    _uncount_last(progress)
    loop._batches_that_stepped -= 1


def _evaluation_pass(system: TrainingSystem, dataloader_iter: Iterator[Any]) -> None:
    """Every batch of one validation or test pass (see the module docstring)."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    trainer = system.trainer
    loop = trainer._evaluation_loop
    progress = loop.batch_progress
    seen = loop._seen_batches_per_dataloader
    testing = trainer.testing
    several = loop._is_sequential and loop.num_dataloaders > 1  # hooks get dataloader_idx
    stage = "test" if testing else "validation"
    start, end = f"on_{stage}_batch_start", f"on_{stage}_batch_end"
    starts, ends = _hooks(trainer, start), _hooks(trainer, end)
    transfer = _transfer(system, trainer)
    first, idx = True, 0
    for batch, batch_idx, idx in dataloader_iter:
        batch = transfer(batch, idx)
        at = (batch, batch_idx, idx) if several else (batch, batch_idx)
        progress.is_last_batch = bool(getattr(dataloader_iter, "done", False))
        if not first:  # Lightning counted the first before it called this step
            progress.increment_ready()
        _call(system, starts, start, *at)
        if not first:
            progress.increment_started()
        first = False
        system._shared_step(batch, "test" if testing else ("val", "test_epoch")[min(idx, 1)])
        progress.increment_processed()
        _call(system, ends, end, None, *at)
        progress.increment_completed()
        if not trainer.sanity_checking:
            seen[idx] += 1
        if not progress.is_last_batch and trainer.received_sigterm:
            raise SIGTERMException
    if first:
        return
    # Lightning counts the last batch processed, completed and seen when this step returns
    _uncount_last(progress)
    if not trainer.sanity_checking:
        seen[idx] -= 1


def _uncount_last(progress: Any) -> None:
    """Take back the count of one batch processed and completed (a loop's ``batch_progress``):
    Lightning's loop adds it when the step that ran a whole epoch or pass returns."""
    for tracker in (progress.total, progress.current):
        tracker.processed -= 1
        tracker.completed -= 1


TRANSFER_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device",
                  "on_after_batch_transfer")


def _transfer(system: TrainingSystem, trainer: pl.Trainer) -> Callable[[Any, int], Any]:
    """What Lightning does to a fetched training batch: its batch-transfer hooks when the
    module or data module has its own, else ``move_data_to_device`` (a no-op, skipped, for
    tensors already on the device: the in-memory data sets)."""
    from lightning.fabric.utilities.apply_func import move_data_to_device
    from lightning.pytorch.utilities.model_helpers import is_overridden

    datamodule = trainer.datamodule  # type: ignore[attr-defined]
    if any(is_overridden(h, obj) for h in TRANSFER_HOOKS
           for obj in (system, datamodule) if obj is not None):
        def hooks(batch: Any, dataloader_idx: int = 0) -> Any:
            batch = system._on_before_batch_transfer(batch, dataloader_idx=dataloader_idx)
            return trainer.strategy.batch_to_device(batch, dataloader_idx=dataloader_idx)

        return hooks
    device = trainer.strategy.root_device

    def move(batch: Any, dataloader_idx: int = 0) -> Any:
        if isinstance(batch, (tuple, list)) and all(
                isinstance(t, torch.Tensor) and t.device == device for t in batch):
            return batch
        return move_data_to_device(batch, device)

    return move


class _Closure:
    """Forward and loss, ``zero_grad``, backward: what the optimizer's ``step(closure)`` calls
    (once, or several times for L-BFGS), as Lightning's automatic optimization does; returns
    the detached loss."""

    def __init__(self, system: TrainingSystem, optimizer: Any, batch: Any) -> None:
        self.system, self.optimizer, self.batch = system, optimizer, batch

    def __call__(self) -> torch.Tensor:
        loss = self.system.train_loss(self.batch)
        self.optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss.detach()


def _hooks(trainer: pl.Trainer, name: str) -> Sequence[Callable[..., Any]]:
    """The callbacks' own ``name`` hooks, in the trainer's callback order."""
    callbacks = trainer.callbacks  # type: ignore[attr-defined]
    return [getattr(cb, name) for cb in callbacks if overrides(cb, name)]


def _call(system: TrainingSystem, hooks: Sequence[Callable[..., Any]], name: str,
          *args: Any) -> None:
    if not hooks:
        return
    previous = system._current_fx_name
    system._current_fx_name = name
    for hook in hooks:
        hook(system.trainer, system, *args)
    system._current_fx_name = previous


def _step_schedulers(system: TrainingSystem, trainer: pl.Trainer, *, plateau: bool) -> None:
    """Step the epoch-interval schedulers, the plateau ones (on their monitored value) or the
    others, as Lightning's loop does under automatic optimization."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    loop = trainer.fit_loop.epoch_loop
    for config in trainer.lr_scheduler_configs:
        # (under manual optimization Lightning drops the config's monitor and plateau flag)
        if config.interval != "epoch" or isinstance(config.scheduler,
                                                    ReduceLROnPlateau) != plateau:
            continue
        if not config.frequency or (trainer.current_epoch + 1) % config.frequency:
            continue
        value = None
        if plateau:
            value = trainer.callback_metrics.get(SCHEDULER_MONITOR)
            if value is None:
                raise MisconfigurationException(
                    f"ReduceLROnPlateau conditioned on metric {SCHEDULER_MONITOR} which is not "
                    f"available. Available metrics are: {list(trainer.callback_metrics)}.")
        loop.scheduler_progress.increment_ready()
        previous = system._current_fx_name
        system._current_fx_name = "lr_scheduler_step"
        system.lr_scheduler_step(config.scheduler, value)
        system._current_fx_name = previous
        loop.scheduler_progress.increment_completed()


class PlateauStep(Checkpoint):
    """Steps the plateau schedulers of a module that runs its own batches where Lightning's loop
    steps them: after every ``on_train_epoch_end`` hook, the checkpoint's included (which is why
    this is a ``Checkpoint``: Lightning calls those last), once the epoch ran all its batches and
    unless the fit is restarting. Lightning itself leaves them alone under manual optimization.
    """

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        fit = trainer.fit_loop
        if vars(pl_module).get(OWNS_TRAIN_BATCHES) and not fit.restarting and (
                fit.epoch_loop._num_ready_batches_reached()):
            assert isinstance(pl_module, TrainingSystem)
            _step_schedulers(pl_module, trainer, plateau=True)
