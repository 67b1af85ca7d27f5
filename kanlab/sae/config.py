"""``task: sae`` experiment YAML -> a frozen :class:`SAEConfig`.

Example (``experiments/fashion_mnist/sae_topk.yaml``)::

    task: sae
    name: fmnist_mlp_sae_topk
    source: results/fashion_mnist/runs/<run>      # a `kanlab train` run directory, or:
    model: {name: mlp, widths: [784, 64, 10]}     # an inline host model ...
    data: {name: fashion_mnist, subset: 2000}     # ... trained host_epochs on this data
    hook: net.1                                   # the hooked submodule (its output)
    width: 128
    activation: {name: topk, k: 8, relu: true}
    lr: 1.0e-3
    steps: 500
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from kanlab.config import ConfigError, Spec, apply_overrides, from_dict, parse_overrides, read_yaml
from kanlab.registry import ACTIVATIONS, DATAMODULES, MODELS, Draws

__all__ = ["DEFAULT_K", "SAEConfig", "load_sae_config"]

DEFAULT_K = 16
"""Latents kept by the default activation (``topk`` with ReLU), here and in
:class:`~kanlab.sae.model.SparseAutoencoder` (at most ``d_sae`` there)."""


def _default_activation() -> Spec:
    return Spec("topk", types.MappingProxyType({"k": DEFAULT_K, "relu": True}))


@dataclass(frozen=True)
class SAEConfig:
    """A sparse-autoencoder experiment on one hooked module of a host model.

    Exactly one host: ``source`` (a ``kanlab train`` run dir, reloaded with its best weights)
    or ``model`` + ``data`` (an inline host trained ``host_epochs`` epochs with Adam). With a
    ``source``, ``data`` optionally overrides the run's data spec.
    """

    name: str
    hook: str
    task: Literal["sae"] = "sae"
    seed: int = 0
    source: str | None = None
    model: Annotated[Spec | None, Draws(MODELS)] = None
    data: Annotated[Spec | None, Draws(DATAMODULES)] = None
    host_epochs: int = 1
    host_lr: float = 1e-3
    width: int = 128
    activation: Annotated[Spec, Draws(ACTIVATIONS)] = field(default_factory=_default_activation)
    lr: float = 1e-3
    steps: int = 500
    batch_size: int = 256
    max_rows: int = 20_000
    aux_k: int | None = None
    aux_coef: float = 1 / 32
    dead_steps: int = 200
    afa_coef: float = 0.0
    device: str = "auto"

    def __post_init__(self) -> None:
        if (self.source is None) == (self.model is None):
            raise ConfigError(
                "Exactly one of `source` (a run directory) or `model` must be given, but got "
                f"source={self.source!r}, model={self.model.name if self.model else None!r}."
            )
        if self.model is not None and self.data is None:
            raise ConfigError("`data` must be given with an inline `model`, but got data=None.")
        for key in ("width", "steps", "batch_size", "max_rows"):
            if getattr(self, key) < 1:
                raise ConfigError(f"`{key}` must be >= 1, but got {key}={getattr(self, key)}.")
        if self.host_epochs < 0:
            raise ConfigError(
                f"`host_epochs` must be >= 0, but got host_epochs={self.host_epochs}."
            )
        if not self.lr > 0:
            raise ConfigError(f"`lr` must be > 0, but got lr={self.lr}.")


def load_sae_config(
    source: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()
) -> SAEConfig:
    """Load a ``task: sae`` YAML (path or mapping), apply ``--set`` overrides, validate.

    Raises:
        ConfigError: for a file that is not ``task: sae``, unknown keys or bad values.
    """
    if isinstance(source, Mapping):
        raw = dict(source)
    else:
        raw = read_yaml(source)
        raw.setdefault("name", Path(source).stem)
    if raw.get("task") != "sae":
        raise ConfigError(
            f"`task` must be 'sae' for `kanlab sae`, but got task={raw.get('task')!r}."
        )
    raw = apply_overrides(raw, parse_overrides(overrides))
    return from_dict(SAEConfig, raw)
