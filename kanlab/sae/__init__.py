"""kanlab.sae: sparse autoencoders on a model's hidden activations (plain torch, no Lightning).

- :class:`SparseAutoencoder`: encoder, any top-k activation spec, unit-norm decoder, AuxK.
- :func:`collect_activations`, :func:`fit_sae`, :func:`evaluate_sae`,
  :func:`downstream_metrics`: the trainer pieces.
- :class:`SAEConfig` / :func:`load_sae_config` / :func:`run_sae`: ``task: sae`` experiments,
  run by ``kanlab sae CONFIG.yaml``.
"""

from __future__ import annotations

from kanlab.sae.config import SAEConfig as SAEConfig
from kanlab.sae.config import load_sae_config as load_sae_config
from kanlab.sae.model import SAEOutput as SAEOutput
from kanlab.sae.model import SparseAutoencoder as SparseAutoencoder
from kanlab.sae.run import SAERunResult as SAERunResult
from kanlab.sae.run import run_sae as run_sae
from kanlab.sae.trainer import collect_activations as collect_activations
from kanlab.sae.trainer import downstream_metrics as downstream_metrics
from kanlab.sae.trainer import evaluate_sae as evaluate_sae
from kanlab.sae.trainer import fit_sae as fit_sae

__all__ = [
    "SAEConfig",
    "SAEOutput",
    "SAERunResult",
    "SparseAutoencoder",
    "collect_activations",
    "downstream_metrics",
    "evaluate_sae",
    "fit_sae",
    "load_sae_config",
    "run_sae",
]
