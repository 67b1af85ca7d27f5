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
