"""Lightning's per-step dispatch without the work that does nothing.

A Lightning training step of the Fashion-MNIST MLP (batch 64) spends about as long in the
Trainer's dispatch as in its arithmetic (cProfile, 1 thread, ``python -m bench
epoch_overhead``): every hook is offered to every callback (ten in ``kanlab train``), each call
wrapped in a ``trainer.profiler.profile(...)`` context manager (a generator context plus a
``state_key`` string) even when the profiler is the default pass-through one, about 100 such
contexts a step; and ``training_step``'s signature is re-read with ``inspect`` on every batch.

:func:`install` (idempotent; :func:`make_lean`, which :func:`kanlab.lit.train.train` calls on its
Trainer, runs it) makes three changes
that leave every observable effect of a run the same (hook order, arguments, the module's
``_current_fx_name``, every logged value, checkpoint contents):

- ``lightning.pytorch.trainer.call._call_callback_hooks``: callbacks whose class does not
  override the hook (Lightning's base ``Callback`` hook is an empty method) are skipped, and
  the profiler context is left out when the trainer's profiler is the pass-through one; with
  any other profiler the original function runs, so profiles keep their per-callback entries.
- ``is_param_in_hook_signature`` as the training and evaluation loops import it: the answer is
  cached per underlying function (a signature does not change between batches).
- :func:`lean_profiler`: a pass-through profiler's ``profile`` returns one shared
  ``contextlib.nullcontext`` instead of building a generator context per call.

:func:`no_nan_fill` drops deterministic mode's NaN fill of fresh tensors (see there).

A module whose :data:`OWNS_TRAIN_BATCHES` attribute is true runs its training batches itself
and calls the callbacks' ``on_train_batch_start``/``_end`` once per batch
(:mod:`kanlab.lit.epoch_step`); the lean dispatch then drops Lightning's own calls of those two
hooks, which come once per (epoch-long) step with no batch of their own. The same holds for
:data:`OWNS_EVAL_BATCHES` and the validation and test batch hooks (:data:`EVAL_BATCH_HOOKS`).
That is why the epoch step needs this dispatch (:func:`installed`).

Deviations: the patches replace private Lightning functions (``lightning>=2.4,<3``); when the
names are missing (another Lightning), :func:`install` changes nothing.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

__all__ = ["EVAL_BATCH_HOOKS", "OWNS_EVAL_BATCHES", "OWNS_TRAIN_BATCHES", "TRAIN_BATCH_HOOKS",
           "install", "installed", "lean_profiler", "make_lean", "no_nan_fill", "overrides"]

_NULL = contextlib.nullcontext()
_installed = False

TRAIN_BATCH_HOOKS = frozenset({"on_train_batch_start", "on_train_batch_end"})
OWNS_TRAIN_BATCHES = "_kanlab_owns_train_batches"
"""A module with this attribute true runs the training batches itself and calls the callbacks'
:data:`TRAIN_BATCH_HOOKS` per batch; Lightning's own calls of them (once per epoch step) are
dropped."""

EVAL_BATCH_HOOKS = frozenset({"on_validation_batch_start", "on_validation_batch_end",
                              "on_test_batch_start", "on_test_batch_end"})
OWNS_EVAL_BATCHES = "_kanlab_owns_eval_batches"
"""A module with this attribute true runs its validation and test batches itself and calls the
callbacks' :data:`EVAL_BATCH_HOOKS` per batch; Lightning's own calls of them are dropped."""

_OWNED = ((TRAIN_BATCH_HOOKS, OWNS_TRAIN_BATCHES), (EVAL_BATCH_HOOKS, OWNS_EVAL_BATCHES))


@functools.cache
def _overrides(cls: type, hook_name: str) -> bool:
    import lightning.pytorch as pl

    base = getattr(pl.Callback, hook_name, None)
    return base is None or getattr(cls, hook_name, None) is not base


def overrides(callback: Any, hook_name: str) -> bool:
    """Whether ``callback`` has its own ``hook_name`` (its class's or set on the instance);
    Lightning's base ``Callback`` hooks do nothing."""
    cls: Any = type(callback)
    return hook_name in vars(callback) or _overrides(cls, hook_name)


def _lean_call_callback_hooks(original: Callable[..., None]) -> Callable[..., None]:
    from lightning.pytorch.callbacks import Checkpoint, EarlyStopping
    from lightning.pytorch.profilers import PassThroughProfiler

    def call_callback_hooks(trainer: Any, hook_name: str, *args: Any,
                            monitoring_callbacks: bool | None = None, **kwargs: Any) -> None:
        if type(trainer.profiler) is not PassThroughProfiler:
            original(trainer, hook_name, *args, monitoring_callbacks=monitoring_callbacks,
                     **kwargs)
            return
        pl_module = trainer.lightning_module
        if pl_module is not None and any(hook_name in hooks and vars(pl_module).get(owner)
                                         for hooks, owner in _OWNED):
            return  # the module's epoch step calls them per batch (kanlab.lit.epoch_step)
        if pl_module:
            prev_fx_name = pl_module._current_fx_name
            pl_module._current_fx_name = hook_name
        callbacks = trainer.callbacks
        if monitoring_callbacks is True:
            callbacks = [cb for cb in callbacks if isinstance(cb, (EarlyStopping, Checkpoint))]
        elif monitoring_callbacks is False:
            callbacks = [cb for cb in callbacks
                         if not isinstance(cb, (EarlyStopping, Checkpoint))]
        for callback in callbacks:
            if not overrides(callback, hook_name):
                continue
            fn = getattr(callback, hook_name)
            if callable(fn):
                fn(trainer, trainer.lightning_module, *args, **kwargs)
        if pl_module:
            pl_module._current_fx_name = prev_fx_name

    call_callback_hooks.__wrapped__ = original  # type: ignore[attr-defined]
    return call_callback_hooks


def _cached_signature_check(original: Callable[..., bool]) -> Callable[..., bool]:
    @functools.lru_cache(maxsize=256)
    def check(fn: Any, param: str, explicit: bool, min_args: int | None) -> bool:
        return original(fn, param, explicit=explicit, min_args=min_args)

    def is_param_in_hook_signature(hook_fx: Callable[..., Any], param: str,
                                   explicit: bool = False, min_args: int | None = None) -> bool:
        # a bound method is a new object per access; its function is not
        fn = getattr(hook_fx, "__func__", hook_fx)
        try:
            return check(fn, param, explicit, min_args)
        except TypeError:  # unhashable callable
            return original(hook_fx, param, explicit=explicit, min_args=min_args)

    is_param_in_hook_signature.__wrapped__ = original  # type: ignore[attr-defined]
    return is_param_in_hook_signature


def install() -> None:
    """Install the lean dispatch into Lightning (once per process; see the module docstring)."""
    global _installed
    if _installed:
        return
    _installed = True
    from lightning.pytorch.loops import evaluation_loop, training_epoch_loop
    from lightning.pytorch.trainer import call

    original = getattr(call, "_call_callback_hooks", None)
    if original is not None:
        call._call_callback_hooks = _lean_call_callback_hooks(original)
    for module in (training_epoch_loop, evaluation_loop):
        check = getattr(module, "is_param_in_hook_signature", None)
        if check is not None:
            # the answer for a bound method is its function's (the first argument, ``self``,
            # is dropped either way)
            module.is_param_in_hook_signature = _cached_signature_check(  # type: ignore[attr-defined]
                check)


def installed(trainer: Any) -> bool:
    """Whether ``trainer``'s callback hooks go through the lean dispatch: :func:`install` ran,
    Lightning had the function it replaces, and the profiler is the pass-through one."""
    from lightning.pytorch.profilers import PassThroughProfiler
    from lightning.pytorch.trainer import call

    return (_installed and hasattr(call._call_callback_hooks, "__wrapped__")
            and type(trainer.profiler) is PassThroughProfiler)


def lean_profiler(trainer: Any) -> None:
    """Give ``trainer``'s pass-through profiler a ``profile`` that returns one shared null
    context (no other profiler is touched)."""
    from lightning.pytorch.profilers import PassThroughProfiler

    profiler = trainer.profiler
    if type(profiler) is PassThroughProfiler:
        setattr(profiler, "profile", _null_profile)  # noqa: B010 (an instance's method)


def _null_profile(action_name: str) -> contextlib.nullcontext[None]:
    """A pass-through profiler's ``profile`` (module level: a spawned run pickles the trainer)."""
    return _NULL


def no_nan_fill() -> None:
    """Fresh tensors (``torch.empty`` and the like) are not filled with NaN under
    deterministic algorithms.

    With ``torch.use_deterministic_algorithms(True)`` (what ``trainer.deterministic: auto``
    means on CPU) torch also fills every new uninitialised tensor with NaN
    (``torch.utils.deterministic.fill_uninitialized_memory``): 50 ``fill_`` passes per MLP
    step and 150 (0.5-0.7 ms, a tenth of the step) per B-spline KAN step at batch 64, over
    buffers that are written before they are read. Values are unchanged; only a read of
    memory nothing wrote would differ (garbage instead of NaN). The caller restores the
    switch (:func:`kanlab.lit.train.train` does, with the deterministic flags).
    """
    import torch.utils.deterministic

    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]


def make_lean(trainer: Any) -> None:
    """:func:`install`, :func:`lean_profiler` for ``trainer`` and :func:`no_nan_fill`."""
    install()
    lean_profiler(trainer)
    no_nan_fill()
