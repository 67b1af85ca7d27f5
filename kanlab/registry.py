"""Name -> class registries, one per kind of component.

Every buildable thing in kanlab (layers, activations, models, data modules, optimisers,
schedulers, training callbacks, Optuna samplers and pruners) is looked up by a snake_case key
in one of the registries below, which :mod:`kanlab.catalog` fills. Entries are classes or
factories, never instances; ``build`` instantiates them from a ``{name: ..., **hparams}`` spec.
Unknown names raise a ``ValueError`` that suggests the closest key and lists every choice.

Example:
    >>> from kanlab.registry import ACTIVATIONS
    >>> ACTIVATIONS.get("crelu")  # doctest: +SKIP
    ValueError: Unknown activation 'crelu'. Did you mean 'crrelu'? Available: celu, crrelu, ...
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Generic, TypeAlias, TypeVar

T = TypeVar("T")

__all__ = [
    "ACTIVATIONS",
    "CALLBACKS",
    "ActivationSpec",
    "LayerSpec",
    "DATAMODULES",
    "Draws",
    "KwargsOf",
    "LAYERS",
    "MODELS",
    "OPTIMIZERS",
    "PRUNERS",
    "SAMPLERS",
    "SCHEDULERS",
    "Entry",
    "Registry",
    "closest",
    "normalize_key",
    "suggest",
]


def normalize_key(name: str) -> str:
    """Registry keys are case-insensitive and treat ``-`` like ``_``."""
    return name.strip().lower().replace("-", "_")


def closest(name: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice closest to ``name``, or None when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    close = closest(name, choices)
    return f" Did you mean {close!r}?" if close else ""


def summary_of(obj: Any) -> str:
    """First line of an object's docstring (empty when it has none)."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def _source_of(target: Any) -> str:
    """``"module:qualname"`` of a class or function (where a catalogued entry finds it)."""
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', '?')}"


# Catalog metadata that a class's decorator does not repeat.
_CATALOG_ONLY = ("summary", "params")


class Entry(Generic[T]):
    """One registered component: its key, the class/factory and free-form metadata.

    An entry declared by the catalog (:mod:`kanlab.catalog`, ``source="module:Class"``) is
    imported the first time ``target`` is read; its key, summary and metadata are known
    before that, so listing and checking names imports nothing.
    """

    __slots__ = ("_target", "catalogued", "decorated", "meta", "name", "source")

    def __init__(
        self,
        name: str,
        target: Callable[..., T] | None = None,
        meta: Mapping[str, Any] | None = None,
        *,
        source: str | None = None,
        catalogued: bool = False,
        decorated: bool = False,
    ) -> None:
        if target is None and source is None:
            raise TypeError("An Entry needs a `target` or a `source` ('module:attr').")
        self.name = name
        self._target = target
        self.meta: Mapping[str, Any] = dict(meta or {})
        self.source = source or _source_of(target)
        self.catalogued = catalogued  # declared by kanlab.catalog
        self.decorated = decorated  # registered by its module (decorator or add())

    @property
    def loaded(self) -> bool:
        """Whether ``target`` is available without importing anything."""
        return self._target is not None

    @property
    def target(self) -> Callable[..., T]:
        if self._target is None:
            module, _, attr = self.source.partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            self._target = obj
        return self._target

    @property
    def summary(self) -> str:
        return str(self.meta.get("summary") or summary_of(self.target))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Entry)
            and (self.name, self.source, dict(self.meta)) == (other.name, other.source,
                                                               dict(other.meta))
        )

    def __hash__(self) -> int:
        return hash((self.name, self.source))

    def __repr__(self) -> str:
        state = "" if self.loaded else ", not imported"
        return f"Entry({self.name!r}, {self.source!r}{state})"


class Registry(Generic[T]):
    """A name -> class mapping for one kind of component.

    Args:
        kind: Human name of the kind ("layer", "activation", ...), used in error messages.

    kanlab's own entries are declared in one table, :mod:`kanlab.catalog` (key, where the
    class lives, one-line summary, metadata), which ``import kanlab`` loads: the registry
    knows every key at once and imports an entry's module only when the entry is built (or
    its ``target`` read). Importing that module runs the class's
    ``@LAYERS.register("relu_kan", kind="linear")`` decorator, which fills in the declared
    entry. Components of your own register by decorator or by call
    (``OPTIMIZERS.add("my_opt", MyOptimizer)``); keyword arguments of ``register`` become the
    entry's metadata (``elementwise`` for activations, ``kind`` for layers, ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register the decorated class (or factory) under ``name``."""

        def add(target: Callable[..., T]) -> Callable[..., T]:
            self.add(name, target, **meta)
            return target

        return add

    def add(self, name: str, target: Callable[..., T], **meta: Any) -> None:
        """Register ``target`` under ``name``; a duplicate key raises ``ValueError``.

        The catalog's entry for the same ``module:qualname`` (see :meth:`declare`) is filled
        in: that is its module registering the class when it is imported.
        """
        key = normalize_key(name)
        old = self._entries.get(key)
        if old is not None:
            if old.loaded or old.source != _source_of(target):
                owner = old.source.replace(":", ".")
                raise ValueError(f"{self.kind} {key!r} is already registered to {owner}.")
            declared = {k: v for k, v in old.meta.items() if k not in _CATALOG_ONLY}
            if declared != meta:
                raise ValueError(
                    f"The {self.kind} {key!r} is registered with metadata {meta}, but its "
                    f"line in kanlab/catalog.py says {declared}; make them agree."
                )
            meta = {**old.meta, **meta}
        catalogued = old is not None and old.catalogued
        self._entries[key] = Entry(key, target, dict(meta), catalogued=catalogued,
                                   decorated=True)

    def declare(self, name: str, source: str, **meta: Any) -> None:
        """Declare ``"package.module:Class"`` under ``name`` without importing it (the catalog).

        The module is imported when the entry's ``target`` is first needed. A key declared
        twice raises ``ValueError``.
        """
        key = normalize_key(name)
        if key in self._entries:
            raise ValueError(f"{self.kind} {key!r} is already declared "
                             f"({self._entries[key].source}).")
        self._entries[key] = Entry(key, None, dict(meta), source=source, catalogued=True)

    def entry(self, name: str) -> Entry[T]:
        """The :class:`Entry` for ``name``; unknown names raise with a suggestion."""
        if not isinstance(name, str):
            raise TypeError(
                f"`name` must be a str naming a {self.kind}, but got name={name!r} "
                f"of type {type(name).__name__}."
            )
        key = normalize_key(name)
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
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        """Registered entries, sorted by key."""
        return [self._entries[k] for k in self.names()]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return normalize_key(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


class Draws:
    """Annotation marker: the annotated value is a spec drawn from ``registry``.

    ``layer: Annotated[str | Mapping[str, Any], Draws(LAYERS)]`` on a constructor parameter or
    a config dataclass field says that the value is a registry name, a ``{name: ..., **hp}``
    mapping (or a list of them, when the annotation is a sequence); config validation checks
    it against that registry recursively, and search spaces prune a spec's keys when its
    ``name`` changes. This marker is the one place a field's registry is declared
    (``kanlab.config.drawn_registry`` reads it).
    """

    __slots__ = ("registry",)

    def __init__(self, registry: Registry[Any]) -> None:
        self.registry = registry

    def __repr__(self) -> str:
        return f"Draws({self.registry.kind!r})"


class KwargsOf:
    """Annotation marker: a mapping of extra keyword arguments for the target ``registry``
    names in the sibling field ``name_field`` (``OptimConfig.params`` -> the optimiser)."""

    __slots__ = ("name_field", "registry")

    def __init__(self, registry: Registry[Any], name_field: str = "name") -> None:
        self.registry, self.name_field = registry, name_field

    def __repr__(self) -> str:
        return f"KwargsOf({self.registry.kind!r}, {self.name_field!r})"


# Filled by kanlab.catalog (which ``import kanlab`` loads) and by @register decorators.
LAYERS: Registry[Any] = Registry("layer")
ACTIVATIONS: Registry[Any] = Registry("activation")
MODELS: Registry[Any] = Registry("model")
DATAMODULES: Registry[Any] = Registry("datamodule")
OPTIMIZERS: Registry[Any] = Registry("optimizer")
SCHEDULERS: Registry[Any] = Registry("scheduler")
CALLBACKS: Registry[Any] = Registry("callback")
SAMPLERS: Registry[Any] = Registry("sampler")
PRUNERS: Registry[Any] = Registry("pruner")

# Constructor parameters that take another registry's spec (a name, ``{name: ..., **hp}`` or a
# class/factory) declare it with these aliases; config validation reads the Draws marker.
LayerSpec: TypeAlias = Annotated[str | Mapping[str, Any] | Callable[..., Any], Draws(LAYERS)]
ActivationSpec: TypeAlias = Annotated[
    str | Mapping[str, Any] | Callable[..., Any], Draws(ACTIVATIONS)
]
