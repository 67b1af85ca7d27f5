"""Collect a model's activations with a forward hook, fit an SAE on them, evaluate it.

A plain torch loop (no Lightning). The host model can be any ``nn.Module`` (a kanlab model, a
timm model): activations come from ``model.get_submodule(hook)``. Activations ``(B, C, H, W)``
are treated as B*H*W vectors of C channels; ``(B, N, D)`` as B*N vectors of D features.

Evaluation uses the selection the SAE was trained with. For a g-SAE (``g_topk``) that
selection needs each row's attribution W_dec^T grad_x L, i.e. the gradient of the host's loss
at the true label: :func:`evaluate_sae` takes the rows' ``grads`` and :func:`downstream_metrics`
computes them per batch from the labels, so on labelled evaluation data a g-SAE is scored as
trained. Where no label exists (deployment on new inputs) the attribution is undefined and
``g_topk`` falls back to the plain TopK selection; :func:`evaluate_sae` without ``grads``
scores exactly that, and ``kanlab sae`` reports it separately (``val_plain_selection``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from kanlab.layers.sparse.g_topk import GTopK
from kanlab.registry import suggest
from kanlab.sae.model import SAEOutput, SparseAutoencoder

__all__ = [
    "FitResult",
    "collect_activations",
    "downstream_metrics",
    "evaluate_sae",
    "fit_sae",
    "splice",
]

logger = logging.getLogger(__name__)
Batch = Any


def _to_rows(t: torch.Tensor) -> torch.Tensor:
    """Hooked output -> ``(rows, features)``."""
    if t.dim() == 4:
        return t.movedim(1, -1).reshape(-1, t.shape[1])                  # (B*H*W, C)
    return t.reshape(-1, t.shape[-1])                                    # (B*N, D)


def _from_rows(rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_to_rows` for a tensor shaped like ``like``."""
    if like.dim() == 4:
        b, c, h, w = like.shape
        return rows.reshape(b, h, w, c).movedim(-1, 1)                   # (B, C, H, W)
    return rows.reshape(like.shape)


def _inputs_targets(batch: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = batch[0], batch[1]
    return x.to(device), y.to(device)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _activation_and_grad(
    model: nn.Module, hook: str, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``model.<hook>``'s output on ``x`` and the gradient of the summed cross-entropy at
    labels ``y`` with respect to it (each row gets its own sample's loss gradient)."""
    captured: list[torch.Tensor] = []

    def save(_: nn.Module, __: Any, output: torch.Tensor) -> None:
        captured.append(output)

    handle = model.get_submodule(hook).register_forward_hook(save)
    try:
        with torch.enable_grad():
            logits = model(x)
            loss = F.cross_entropy(logits, y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, captured[0])
    finally:
        handle.remove()
    return captured[0].detach(), grad


def collect_activations(
    model: nn.Module,
    hook: str,
    batches: Iterable[Batch],
    *,
    max_rows: int = 20_000,
    with_grads: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Activations of ``model.<hook>`` as ``(rows, d)``, optionally with grad_x of the loss.

    The gradient is that of the summed cross-entropy of the model's logits, so each row gets
    the gradient of its own sample's loss (for g-SAE attributions).

    Raises:
        ValueError: for an unknown hook name.
    """
    try:
        module = model.get_submodule(hook)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        raise ValueError(
            f"`hook` must name a submodule of the model, but got hook={hook!r}."
            f"{suggest(hook, names)} Available: {', '.join(names)}."
        ) from None
    device = _device_of(model)
    acts: list[torch.Tensor] = []
    grads: list[torch.Tensor] = []
    captured: list[torch.Tensor] = []

    def save(_: nn.Module, __: Any, output: torch.Tensor) -> None:
        captured.append(output.detach())

    model.eval()
    rows = 0
    for batch in batches:
        x, y = _inputs_targets(batch, device)
        if with_grads:
            out, grad = _activation_and_grad(model, hook, x, y)
            grads.append(_to_rows(grad).cpu())
        else:
            captured.clear()
            handle = module.register_forward_hook(save)
            try:
                with torch.no_grad():
                    model(x)
            finally:
                handle.remove()
            out = captured[0]
        acts.append(_to_rows(out).cpu())
        rows += acts[-1].shape[0]
        if rows >= max_rows:
            break
    a = torch.cat(acts)[:max_rows]
    g = torch.cat(grads)[:max_rows] if with_grads else None
    return a, g


@dataclass
class FitResult:
    """Training history (one dict per logged step) and the final dead-latent mask."""

    history: list[dict[str, float]] = field(default_factory=list)
    dead: torch.Tensor | None = None


def fit_sae(
    sae: SparseAutoencoder,
    acts: torch.Tensor,
    *,
    grads: torch.Tensor | None = None,
    steps: int = 500,
    batch_size: int = 256,
    lr: float = 1e-3,
    aux_k: int | None = None,
    aux_coef: float = 1 / 32,
    dead_steps: int = 200,
    afa_coef: float = 0.0,
    log_every: int = 50,
    generator: torch.Generator | None = None,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Fit ``sae`` on rows ``acts`` with Adam; decoder columns stay unit norm.

    Loss: MSE / Var(acts) + ``aux_coef`` * AuxK (k_aux = ``aux_k`` or d_in // 2; a latent is
    dead when it has not fired (|z| > 1e-3) in the last ``dead_steps`` steps). With a
    ``g_topk`` activation and ``grads`` (grad_x L per row), the attributions W_dec^T grad steer
    the selection (g-SAE). ``afa_coef`` > 0 adds top-AFA's norm-matching term
    ``afa_coef * mean (||z|| - ||x - b_pre||)^2`` (the reference compares with the unit-normalised
    x; here the centred x, the same target the top-AFA selection uses). ``on_log`` receives
    each history entry (every ``log_every`` steps and the last).

    Raises:
        ValueError: for ``steps``/``batch_size`` < 1 or mismatched ``grads``.
    """
    _check_fit_args(acts, grads, steps=steps, batch_size=batch_size)
    device = sae.W_enc.device
    data = acts.to(device=device, dtype=sae.W_enc.dtype)
    grad_data = grads.to(device=device, dtype=sae.W_enc.dtype) if grads is not None else None
    use_grads = grad_data is not None and isinstance(sae.activation, GTopK)
    sae.init_from_data_(data[: min(len(data), 4096)])
    variance = (data - data.mean(0)).square().mean().clamp_min(1e-12)
    k_aux = aux_k if aux_k is not None else max(1, sae.d_in // 2)
    opt = torch.optim.Adam(sae.parameters(), lr=lr, eps=6.25e-10)
    since_fired = torch.zeros(sae.d_sae, dtype=torch.long, device=device)
    result = FitResult()
    batches = _shuffled_batches(len(data), batch_size, generator, device)
    sae.train()
    for step in range(1, steps + 1):
        idx = next(batches)
        x = data[idx]
        attribution = sae.attribution(grad_data[idx]) if use_grads and grad_data is not None \
            else None
        out = sae(x, attribution)
        dead = since_fired > dead_steps
        loss, mse, aux = _sae_loss(sae, x, out, variance=variance, dead=dead, k_aux=k_aux,
                                   aux_coef=aux_coef, afa_coef=afa_coef)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        sae.remove_parallel_grad_()
        opt.step()
        sae.normalize_decoder_()
        with torch.no_grad():
            fired = (out.z.abs() > 1e-3).any(0)
            since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + 1)
        if step % log_every == 0 or step == steps:
            entry = {
                "step": float(step),
                "loss": float(loss.detach()),
                "nmse": float(mse.detach()),
                "aux": float(aux.detach()),
                "l0": float((out.z != 0).float().sum(-1).mean()),
                "dead_fraction": float(dead.float().mean()),
            }
            result.history.append(entry)
            logger.info("sae step %d: %s", step, entry)
            if on_log is not None:
                on_log(entry)
    result.dead = since_fired > dead_steps
    return result


def _check_fit_args(acts: torch.Tensor, grads: torch.Tensor | None, *, steps: int,
                    batch_size: int) -> None:
    if steps < 1 or batch_size < 1:
        raise ValueError(
            f"`steps` and `batch_size` must be >= 1, but got steps={steps}, "
            f"batch_size={batch_size}."
        )
    if grads is not None and grads.shape != acts.shape:
        raise ValueError(
            f"`grads` must match acts {tuple(acts.shape)}, but got {tuple(grads.shape)}."
        )


def _shuffled_batches(n: int, batch_size: int, generator: torch.Generator | None,
                      device: torch.device) -> Iterator[torch.Tensor]:
    """Row indices, ``batch_size`` at a time, through a fresh permutation of ``n`` rows
    whenever the current one has fewer than ``batch_size`` left (drawn from ``generator``)."""
    order = torch.randperm(n, generator=generator).to(device)
    cursor = 0
    while True:
        if cursor + batch_size > len(order):
            order = torch.randperm(n, generator=generator).to(device)
            cursor = 0
        yield order[cursor : cursor + batch_size]
        cursor += batch_size


def _sae_loss(sae: SparseAutoencoder, x: torch.Tensor, out: SAEOutput, *, variance: torch.Tensor,
              dead: torch.Tensor, k_aux: int, aux_coef: float,
              afa_coef: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, normalised MSE, AuxK) of one batch: see :func:`fit_sae`."""
    mse = (out.x_hat - x).square().mean() / variance
    aux = sae.aux_loss(x, out, dead, k_aux) if aux_coef > 0 else out.pre.new_zeros(())
    loss = mse + aux_coef * aux
    if afa_coef:
        target = (x - sae.b_pre).norm(dim=-1)
        loss = loss + afa_coef * (out.z.norm(dim=-1) - target).square().mean()
    return loss, mse, aux


def uses_attribution(sae: SparseAutoencoder) -> bool:
    """Whether the SAE's selection takes an attribution (g-SAE)."""
    return isinstance(sae.activation, GTopK)


@torch.no_grad()
def evaluate_sae(
    sae: SparseAutoencoder,
    acts: torch.Tensor,
    *,
    grads: torch.Tensor | None = None,
    batch_size: int = 4096,
) -> dict[str, float]:
    """Reconstruction metrics on rows ``acts``: FVU, nMSE, L0, dead-latent fraction.

    ``fvu`` = sum ||x - x_hat||^2 / sum ||x - mean||^2; ``nmse`` = sum ||x - x_hat||^2 /
    sum ||x||^2; ``l0`` = mean non-zeros per row; ``dead_fraction`` = latents that never fire
    (|z| > 1e-3) on these rows. ``grads`` (grad_x L per row, from :func:`collect_activations`
    with ``with_grads``) give a g-SAE the attribution-steered selection it was trained with;
    without them a g-SAE selects as a plain TopK (the label-free case).

    Raises:
        ValueError: for ``grads`` whose shape differs from ``acts``.
    """
    if grads is not None and grads.shape != acts.shape:
        raise ValueError(
            f"`grads` must match acts {tuple(acts.shape)}, but got {tuple(grads.shape)}."
        )
    sae.eval()
    device = sae.W_enc.device
    steer = grads is not None and uses_attribution(sae)
    err = total = energy = l0 = 0.0
    fired = torch.zeros(sae.d_sae, dtype=torch.bool, device=device)
    mean = acts.mean(0).to(device=device, dtype=sae.W_enc.dtype)
    for start in range(0, len(acts), batch_size):
        x = acts[start : start + batch_size].to(device=device, dtype=sae.W_enc.dtype)
        attribution = None
        if steer and grads is not None:
            g = grads[start : start + batch_size].to(device=device, dtype=sae.W_enc.dtype)
            attribution = sae.attribution(g)
        out = sae(x, attribution)
        err += float((out.x_hat - x).square().sum())
        total += float((x - mean).square().sum())
        energy += float(x.square().sum())
        l0 += float((out.z != 0).sum())
        fired |= (out.z.abs() > 1e-3).any(0)
    return {
        "fvu": err / max(total, 1e-12),
        "nmse": err / max(energy, 1e-12),
        "l0": l0 / max(1, len(acts)),
        "dead_fraction": float((~fired).float().mean()),
    }


@contextmanager
def splice(
    model: nn.Module, hook: str, replace: Callable[[torch.Tensor], torch.Tensor]
) -> Iterator[None]:
    """Within the block, ``model.<hook>``'s output ``t`` is replaced by ``replace(rows(t))``."""

    def swap(_: nn.Module, __: Any, output: torch.Tensor) -> torch.Tensor:
        rows = _to_rows(output)
        return _from_rows(replace(rows).to(output.dtype), output)

    handle = model.get_submodule(hook).register_forward_hook(swap)
    try:
        yield
    finally:
        handle.remove()


@torch.no_grad()
def downstream_metrics(
    model: nn.Module,
    hook: str,
    sae: SparseAutoencoder,
    batches: Iterable[Batch],
    *,
    attribution: bool = True,
) -> dict[str, float]:
    """Host loss/accuracy clean, with the SAE reconstruction spliced in, and zero-ablated.

    ``loss_recovered`` = (L_zero - L_sae) / (L_zero - L_clean): 1 means the reconstruction is
    as good as the original activation for the downstream task, 0 as bad as zeros. A g-SAE
    selects with the attribution of each batch's clean loss gradient at the true labels (the
    selection it was trained with; ``attribution=False`` scores the plain TopK selection).
    """
    model.eval()
    sae.eval()
    device = _device_of(model)
    sums = {"clean": [0.0, 0.0], "sae": [0.0, 0.0], "zero": [0.0, 0.0]}
    count = 0
    steer = attribution and uses_attribution(sae)
    current: list[torch.Tensor | None] = [None]  # the batch's attribution rows

    def reconstruct(rows: torch.Tensor) -> torch.Tensor:
        out: SAEOutput = sae(rows.to(sae.W_enc.dtype), current[0])
        return out.x_hat

    variants: dict[str, Callable[[torch.Tensor], torch.Tensor] | None] = {
        "clean": None,
        "sae": reconstruct,
        "zero": torch.zeros_like,
    }
    for batch in batches:
        x, y = _inputs_targets(batch, device)
        count += len(y)
        if steer:
            _, grad = _activation_and_grad(model, hook, x, y)
            current[0] = sae.attribution(_to_rows(grad).to(sae.W_enc.dtype))
        for name, fn in variants.items():
            if fn is None:
                logits = model(x)
            else:
                with splice(model, hook, fn):
                    logits = model(x)
            sums[name][0] += float(F.cross_entropy(logits, y, reduction="sum"))
            sums[name][1] += float((logits.argmax(-1) == y).sum())
    out = {}
    for name, (loss, correct) in sums.items():
        out[f"{name}_loss"] = loss / max(count, 1)
        out[f"{name}_acc"] = correct / max(count, 1)
    gap = out["zero_loss"] - out["clean_loss"]
    out["loss_recovered"] = (out["zero_loss"] - out["sae_loss"]) / gap if gap else math.nan
    return out
