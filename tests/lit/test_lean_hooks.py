"""kanlab.lit.lean_hooks: the lean dispatch calls the same hooks in the same order."""

from __future__ import annotations

import pickle
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loops import training_epoch_loop
from lightning.pytorch.profilers import PassThroughProfiler, SimpleProfiler
from lightning.pytorch.trainer import call
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from kanlab.lit.lean_hooks import install, lean_profiler, make_lean

HOOKS = ("on_train_epoch_start", "on_train_batch_start", "on_before_backward",
         "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad",
         "on_train_batch_end", "on_validation_batch_end", "on_train_epoch_end")


class Recorder(pl.Callback):
    """Overrides every hook of ``HOOKS`` in its class (set below)."""

    def __init__(self, events: list[tuple[str, str, str | None]], tag: str) -> None:
        self.events, self.tag = events, tag


def _recording(name: str) -> Any:
    def hook(self: Recorder, trainer: Any, module: Any, *args: Any, **kwargs: Any) -> None:
        self.events.append((self.tag, name, module._current_fx_name))
    return hook


for _name in HOOKS:
    setattr(Recorder, _name, _recording(_name))


class BatchOnly(pl.Callback):
    """Overrides one hook in its class; the others are Lightning's empty ones."""

    def __init__(self, events: list[tuple[str, str, str | None]]) -> None:
        self.events = events

    def on_train_batch_end(self, trainer: Any, module: Any, *args: Any) -> None:
        self.events.append(("batch_only", "on_train_batch_end", module._current_fx_name))


class Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(3, 2)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val/loss", nn.functional.cross_entropy(self.net(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _run(lean: bool) -> tuple[list[tuple[str, str, str | None]], torch.Tensor]:
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(12, 3), torch.randint(0, 2, (12,)))
    log: list[tuple[str, str, str | None]] = []
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[Recorder(log, "a"), BatchOnly(log), Recorder(log, "b")])
    original = call._call_callback_hooks
    if lean:
        make_lean(trainer)
    else:  # the function Lightning ships
        call._call_callback_hooks = getattr(original, "__wrapped__", original)
    try:
        model = Tiny()
        trainer.fit(model, DataLoader(data, batch_size=4), DataLoader(data, batch_size=6))
    finally:
        call._call_callback_hooks = original
    return log, model.net.weight.detach().clone()


def test_lean_dispatch_calls_the_same_hooks_in_the_same_order_with_the_same_values() -> None:
    plain_log, plain_weight = _run(lean=False)
    lean_log, lean_weight = _run(lean=True)
    assert len(plain_log) > 40
    assert lean_log == plain_log
    assert torch.equal(lean_weight, plain_weight)


def test_cached_signature_check_answers_as_lightning_does() -> None:
    install()
    check = training_epoch_loop.is_param_in_hook_signature
    original = check.__wrapped__  # type: ignore[attr-defined]

    class A:
        def with_idx(self, batch: Any, batch_idx: int) -> None: ...
        def without(self, batch: Any) -> None: ...
        def star(self, *args: Any) -> None: ...

    a = A()
    for fn in (a.with_idx, a.without, a.star, A.with_idx):
        for kwargs in ({"min_args": 2}, {"explicit": True}, {}):
            assert check(fn, "batch_idx", **kwargs) == original(fn, "batch_idx", **kwargs)
    assert check(a.with_idx, "batch_idx", min_args=2)
    assert not check(a.without, "batch_idx", min_args=2)


@pytest.mark.parametrize("profiler", [PassThroughProfiler(), SimpleProfiler()])
def test_only_the_pass_through_profiler_gets_the_null_context(profiler: Any) -> None:
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, profiler=profiler)
    lean_profiler(trainer)
    lean = "profile" in vars(trainer.profiler)
    assert lean == isinstance(profiler, PassThroughProfiler)
    with trainer.profiler.profile("x"):
        pass
    pickle.dumps(trainer.profiler)  # a spawned run pickles the trainer


def test_no_nan_fill_turns_the_fill_off_and_train_restores_it() -> None:
    import torch.utils.deterministic as det

    from kanlab.lit.lean_hooks import no_nan_fill
    from kanlab.lit.train import _restore_global_state

    before = det.fill_uninitialized_memory  # type: ignore[attr-defined]
    with _restore_global_state():
        no_nan_fill()
        assert det.fill_uninitialized_memory is False  # type: ignore[attr-defined]
    assert det.fill_uninitialized_memory == before  # type: ignore[attr-defined]
