"""Reusable test helpers (like ``optuna.testing``): small stand-in modules for layer tests."""

from __future__ import annotations

from kanlab.testing.layers import PowersLinear

__all__ = ["PowersLinear"]
