"""Reusable test helpers (like ``optuna.testing``).

- Registry contract suites (pytest classes; :mod:`kanlab.testing.contracts`): subclass one and
  give it an ``entry_name`` fixture to check a registered component, e.g. your own layer::

      from kanlab.testing import LayerContract

      class TestMyKAN(LayerContract):
          @pytest.fixture
          def entry_name(self) -> str:
              return "my_kan"

- :class:`PowersLinear`: a stand-in KAN layer with a hand-checkable basis.

Importing the suites needs ``pytest`` (the ``dev`` extra).

Test hooks: the toy search objective (``objective: kanlab.search._toy:objective`` in a study
spec, trained nothing, for storage, concurrency and fault tests) reads three environment
switches that are not user settings (:data:`kanlab.settings.TEST_HOOKS`):

- ``KANLAB_TOY_EPOCHS``: epochs it reports (default 3);
- ``KANLAB_TOY_SLEEP``: seconds it sleeps per epoch (default 0);
- ``KANLAB_TOY_FAIL``: ``setup`` makes every trial fail with a ``SetupError``, any other value
  with a ``RuntimeError``.
"""

from __future__ import annotations

from typing import Any

from kanlab.testing.layers import PowersLinear

__all__ = [
    "ActivationContract",
    "CallbackContract",
    "DataModuleContract",
    "LayerContract",
    "ModelContract",
    "OptimizerContract",
    "PowersLinear",
    "PrunerContract",
    "RegistryContract",
    "SamplerContract",
    "SchedulerContract",
]

_CONTRACTS = set(__all__) - {"PowersLinear"}


def __getattr__(name: str) -> Any:
    """The contract suites import pytest: load them only when asked for."""
    if name in _CONTRACTS:
        from kanlab.testing import contracts

        return getattr(contracts, name)
    raise AttributeError(f"module 'kanlab.testing' has no attribute {name!r}")
