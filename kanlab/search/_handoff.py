"""A validated study, handed from ``kanlab search`` to its worker processes as bytes.

The parent validates the study once (:func:`kanlab.search.study.prepare`: spec, base, space,
sampler, pruner, storage URL, data and a forward pass of every probe model). Each worker
process receives that result, pickled here, and rebuilds it without validating again:
unpickling a frozen dataclass restores its fields and runs no ``__post_init__``.

The frozen configuration values hold ``types.MappingProxyType`` (read-only mappings), which
the standard pickler refuses; :func:`pack` writes each as a plain dict that :func:`unpack`
wraps again. Both ends are the same kanlab on the same machine (a parent and the process it
started), so pickle is the right format and nothing else ever reads these bytes.
"""

from __future__ import annotations

import io
import pickle
import types
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["pack", "unpack"]

T = TypeVar("T")


def _read_only(items: dict[Any, Any]) -> Mapping[Any, Any]:
    """Rebuilds a ``MappingProxyType`` (referenced by name from the pickled bytes)."""
    return types.MappingProxyType(items)


def _reduce_proxy(proxy: types.MappingProxyType[Any, Any]) -> tuple[Any, tuple[Any, ...]]:
    return _read_only, (dict(proxy),)


class _Pickler(pickle.Pickler):
    dispatch_table = {types.MappingProxyType: _reduce_proxy}


def pack(value: object) -> bytes:
    """``value`` (a :class:`~kanlab.search.study.Prepared`, say) as bytes for :func:`unpack`."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def unpack(blob: bytes, kind: type[T]) -> T:
    """The ``kind`` instance that :func:`pack` wrote, rebuilt without validating it again.

    Raises:
        TypeError: ``blob`` holds something other than a ``kind``.
    """
    value = pickle.loads(blob)  # noqa: S301 - our own bytes, from the parent process
    if not isinstance(value, kind):
        raise TypeError(f"`blob` must hold a {kind.__name__}, but got {type(value).__name__}.")
    return value
