"""Name -> class registries, one per kind of component.

Every buildable thing in kanlab (layers, activations, models, data modules, optimisers,
schedulers, training callbacks) is looked up by a snake_case key in one of the registries
below. Entries are classes or factories, never instances; ``build`` instantiates them from a
``{name: ..., **hparams}`` spec. Unknown names raise a ``ValueError`` that suggests the closest
key and lists every choice.

Example:
    >>> from kanlab.registry import ACTIVATIONS
    >>> ACTIVATIONS.get("crelu")  # doctest: +SKIP
    ValueError: Unknown activation 'crelu'. Did you mean 'crrelu'? Available: celu, crrelu, ...
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

__all__ = [
    "ACTIVATIONS",
    "CALLBACKS",
    "DATAMODULES",
    "LAYERS",
    "MODELS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "Entry",
    "Registry",
    "normalize_key",
    "suggest",
]


def normalize_key(name: str) -> str:
    """Registry keys are case-insensitive and treat ``-`` like ``_``."""
    return name.strip().lower().replace("-", "_")


def suggest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def summary_of(obj: Any) -> str:
    """First line of an object's docstring (empty when it has none)."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: its key, the class/factory and free-form metadata."""

    name: str
    target: Callable[..., T]
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return str(self.meta.get("summary") or summary_of(self.target))


class Registry(Generic[T]):
    """A name -> class mapping for one kind of component.

    Args:
        kind: Human name of the kind ("layer", "activation", ...), used in error messages.
        modules: Modules whose import registers the entries. They are imported at the first
            lookup (not when ``kanlab`` is imported), so the CLI's light commands never load
            torch or Lightning.

    Registration is by decorator (``@LAYERS.register("relu_kan", kind="linear")``) or by call
    (``OPTIMIZERS.add("adamw", torch.optim.AdamW)``). Keyword arguments of ``register`` become
    the entry's metadata (``elementwise`` for activations, ``kind`` for layers, ...).
    """

    def __init__(self, kind: str, *, modules: Sequence[str] = ()) -> None:
        self.kind = kind
        self.modules = tuple(modules)
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = not self.modules

    def _load(self) -> None:
        """Import the registering modules once (a lookup during their import sees it partly)."""
        if self._loaded:
            return
        self._loaded = True
        try:
            for module in self.modules:
                importlib.import_module(module)
        except BaseException:
            self._loaded = False
            raise

    def register(self, name: str, **meta: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register the decorated class (or factory) under ``name``."""

        def add(target: Callable[..., T]) -> Callable[..., T]:
            self.add(name, target, **meta)
            return target

        return add

    def add(self, name: str, target: Callable[..., T], **meta: Any) -> None:
        """Register ``target`` under ``name``; a duplicate key raises ``ValueError``."""
        key = normalize_key(name)
        if key in self._entries:
            owner = getattr(self._entries[key].target, "__qualname__", repr(self._entries[key]))
            raise ValueError(f"{self.kind} {key!r} is already registered to {owner}.")
        self._entries[key] = Entry(key, target, dict(meta))

    def entry(self, name: str) -> Entry[T]:
        """The :class:`Entry` for ``name``; unknown names raise with a suggestion."""
        if not isinstance(name, str):
            raise TypeError(
                f"`name` must be a str naming a {self.kind}, but got name={name!r} "
                f"of type {type(name).__name__}."
            )
        key = normalize_key(name)
        self._load()
        if key not in self._entries:
            choices = self.names()
            raise ValueError(
                f"Unknown {self.kind} {name!r}.{suggest(key, choices)} "
                f"Available: {', '.join(choices)}."
            )
        return self._entries[key]

    def get(self, name: str | Callable[..., T]) -> Callable[..., T]:
        """The class registered as ``name``; classes and callables pass through unchanged."""
        if not isinstance(name, str):
            return name
        return self.entry(name).target

    def build(
        self, spec: str | Mapping[str, Any] | Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """Instantiate ``"name"``, ``{"name": ..., **hparams}`` or a class/factory.

        Positional ``args`` and extra ``kwargs`` carry the wiring (in/out widths) that the
        spec does not contain.
        """
        if callable(spec) and not isinstance(spec, (str, Mapping)):
            return spec(*args, **kwargs)
        if isinstance(spec, str):
            hparams: dict[str, Any] = {"name": spec}
        elif isinstance(spec, Mapping):
            hparams = dict(spec)
        else:
            raise TypeError(
                f"A {self.kind} spec must be a name or a mapping with a 'name' key, "
                f"but got spec={spec!r}."
            )
        if "name" not in hparams:
            raise ValueError(
                f"A {self.kind} spec needs a 'name' key, but got keys {sorted(hparams)}."
            )
        target = self.get(hparams.pop("name"))
        return target(*args, **hparams, **kwargs)

    def names(self) -> list[str]:
        """Sorted registered keys."""
        self._load()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        """Registered entries, sorted by key."""
        return [self._entries[k] for k in self.names()]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self._load()
        return normalize_key(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


LAYERS: Registry[Any] = Registry("layer", modules=["kanlab.layers"])
ACTIVATIONS: Registry[Any] = Registry("activation", modules=["kanlab.layers"])
MODELS: Registry[Any] = Registry("model", modules=["kanlab.models"])
DATAMODULES: Registry[Any] = Registry("datamodule", modules=["kanlab.data"])
OPTIMIZERS: Registry[Any] = Registry("optimizer", modules=["kanlab.optim"])
SCHEDULERS: Registry[Any] = Registry("scheduler", modules=["kanlab.optim"])
CALLBACKS: Registry[Any] = Registry("callback", modules=["kanlab.lit"])
