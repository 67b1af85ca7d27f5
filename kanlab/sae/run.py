"""Run one ``task: sae`` experiment end to end and write its metrics under the results dir."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.nn import functional as F

from kanlab.config import Spec, to_dict
from kanlab.registry import DATAMODULES, MODELS
from kanlab.sae.config import SAEConfig
from kanlab.sae.model import SparseAutoencoder
from kanlab.sae.trainer import collect_activations, downstream_metrics, evaluate_sae, fit_sae

__all__ = ["SAERunResult", "run_sae"]

logger = logging.getLogger(__name__)


@dataclass
class SAERunResult:
    """Where the run was written, its metrics, the fitted SAE and the host model."""

    run_dir: Path
    metrics: dict[str, Any]
    sae: SparseAutoencoder
    model: nn.Module


SELECTION = {
    False: "as trained",
    True: "as trained: g_topk steered by the attribution of the loss gradient at the true "
          "label (val_plain_selection: without labels, plain TopK)",
}


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _train_host(model: nn.Module, batches: Iterable[Any], *, epochs: int, lr: float) -> None:
    device = next(model.parameters()).device
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for batch in batches:
            x, y = batch[0].to(device), batch[1].to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            opt.step()
    model.eval()


def _host(cfg: SAEConfig) -> tuple[nn.Module, Spec]:
    if cfg.source is not None:
        from kanlab.lit import load_run

        exp, model = load_run(cfg.source)
        return model, cfg.data or exp.data
    assert cfg.model is not None and cfg.data is not None
    return cfg.model.build(MODELS), cfg.data


def run_sae(cfg: SAEConfig, *, results_dir: Path) -> SAERunResult:
    """Load or train the host, collect hooked activations, fit and evaluate the SAE.

    The SAE is evaluated with the selection it was trained with (a g-SAE's attribution from
    the labelled data's loss gradient, :mod:`kanlab.sae.trainer`); for a g-SAE the label-free
    plain-TopK selection is reported too (``val_plain_selection``,
    ``downstream_plain_selection``).

    Writes ``<results_dir>/<benchmark>/sae/<name>-<UTC time>/`` with ``metrics.json``,
    ``config.yaml`` and ``sae.pt`` (the SAE state dict).
    """
    torch.manual_seed(cfg.seed)
    device = _device(cfg.device)
    model, data_spec = _host(cfg)
    model.to(device)
    dm = DATAMODULES.build(data_spec.to_dict())
    dm.prepare_data()
    dm.setup("fit")
    train_loader = dm.train_dataloader()
    val_loader = dm.val_dataloader()
    if isinstance(val_loader, (list, tuple)):
        val_loader = val_loader[0]
    if cfg.source is None and cfg.host_epochs:
        _train_host(model, train_loader, epochs=cfg.host_epochs, lr=cfg.host_lr)
    with_grads = cfg.activation.name == "g_topk"
    acts, grads = collect_activations(
        model, cfg.hook, train_loader, max_rows=cfg.max_rows, with_grads=with_grads
    )
    val_acts, val_grads = collect_activations(
        model, cfg.hook, val_loader, max_rows=cfg.max_rows, with_grads=with_grads
    )
    sae = SparseAutoencoder(acts.shape[-1], cfg.width, activation=cfg.activation.to_dict())
    sae.to(device)
    generator = torch.Generator().manual_seed(cfg.seed)
    fit = fit_sae(
        sae, acts, grads=grads, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
        aux_k=cfg.aux_k, aux_coef=cfg.aux_coef, dead_steps=cfg.dead_steps, afa_coef=cfg.afa_coef,
        generator=generator,
    )
    metrics: dict[str, Any] = {
        "name": cfg.name,
        "benchmark": data_spec.name,
        "hook": cfg.hook,
        "d_in": int(acts.shape[-1]),
        "width": cfg.width,
        "activation": cfg.activation.to_dict(),
        "selection": SELECTION[with_grads],
        "train": evaluate_sae(sae, acts, grads=grads),
        "val": evaluate_sae(sae, val_acts, grads=val_grads),
        "downstream": downstream_metrics(model, cfg.hook, sae, val_loader),
        "history": fit.history,
        **({"val_plain_selection": evaluate_sae(sae, val_acts),
            "downstream_plain_selection": downstream_metrics(
                model, cfg.hook, sae, val_loader, attribution=False)} if with_grads else {}),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    run_dir = results_dir / data_spec.name / "sae" / f"{cfg.name}-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    torch.save(sae.state_dict(), run_dir / "sae.pt")
    logger.info("sae run written to %s", run_dir)
    return SAERunResult(run_dir=run_dir, metrics=metrics, sae=sae, model=model)
