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


def _source_of(target: Any) -> str:
    """``"module:qualname"`` of a class or function (where a lazy entry finds it)."""
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', '?')}"


class Entry(Generic[T]):
    """One registered component: its key, the class/factory and free-form metadata.

    An entry may be *lazy* (``source="package.module:Class"``, from :meth:`Registry.add_lazy`):
    its module is imported the first time ``target`` is read, so listing and validating
    configs does not import heavy libraries (Lightning for data modules and callbacks).
    """

    __slots__ = ("_target", "meta", "name", "source")

    def __init__(
        self,
        name: str,
        target: Callable[..., T] | None = None,
        meta: Mapping[str, Any] | None = None,
        *,
        source: str | None = None,
    ) -> None:
        if target is None and source is None:
            raise TypeError("An Entry needs a `target` or a `source` ('module:attr').")
        self.name = name
        self._target = target
        self.meta: Mapping[str, Any] = dict(meta or {})
        self.source = source or _source_of(target)

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
        return f"Entry({self.name!r}, {self.source!r}{', lazy' if not self.loaded else ''})"


class Registry(Generic[T]):
    """A name -> class mapping for one kind of component.

    Args:
        kind: Human name of the kind ("layer", "activation", ...), used in error messages.
        modules: Modules whose import registers the entries. They are imported at the first
            lookup (not when ``kanlab`` is imported), so the CLI's light commands never load
            torch or Lightning.
        sources: ``(package, "REGISTRY")`` pairs whose ``@REGISTRY.register(...)`` decorators
            are read from source at the first lookup (lazy entries, :mod:`kanlab._lazy`): the
            keys, metadata and constructor signatures are known, the classes are imported when
            first built. Used for Lightning's data modules and callbacks, so validating a
            config never imports Lightning.

    Registration is by decorator (``@LAYERS.register("relu_kan", kind="linear")``) or by call
    (``OPTIMIZERS.add("adamw", torch.optim.AdamW)``). Keyword arguments of ``register`` become
    the entry's metadata (``elementwise`` for activations, ``kind`` for layers, ...).
    """

    def __init__(
        self,
        kind: str,
        *,
        modules: Sequence[str] = (),
        sources: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.kind = kind
        self.modules = tuple(modules)
        self.sources = tuple(sources)
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = not (self.modules or self.sources)

    def _load(self) -> None:
        """Import the registering modules once (a lookup during their import sees it partly)."""
        if self._loaded:
            return
        self._loaded = True
        try:
            for module in self.modules:
                importlib.import_module(module)
            if self.sources:
                from kanlab._lazy import register_lazily

                for package, name in self.sources:
                    register_lazily(self, name, package)
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
        """Register ``target`` under ``name``; a duplicate key raises ``ValueError``.

        A lazy entry for the same ``module:qualname`` (see :meth:`add_lazy`) is replaced by
        the real one: that is its module registering itself when it is imported.
        """
        key = normalize_key(name)
        old = self._entries.get(key)
        if old is not None:
            if old.loaded or old.source != _source_of(target):
                owner = old.source.replace(":", ".")
                raise ValueError(f"{self.kind} {key!r} is already registered to {owner}.")
            meta = {**old.meta, **meta}
        self._entries[key] = Entry(key, target, dict(meta))

    def add_lazy(self, name: str, source: str, **meta: Any) -> None:
        """Register ``"package.module:Class"`` under ``name`` without importing it yet.

        The module is imported when the entry's ``target`` is first needed; importing it
        registers the class for real (replacing this placeholder). Keys already registered
        are left alone.
        """
        key = normalize_key(name)
        if key not in self._entries:
            self._entries[key] = Entry(key, None, dict(meta), source=source)

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


LAYERS: Registry[Any] = Registry("layer", modules=["kanlab.layers"])
ACTIVATIONS: Registry[Any] = Registry("activation", modules=["kanlab.layers"])
MODELS: Registry[Any] = Registry("model", modules=["kanlab.models"])
OPTIMIZERS: Registry[Any] = Registry("optimizer", modules=["kanlab.optim"])
SCHEDULERS: Registry[Any] = Registry("scheduler", modules=["kanlab.optim"])
# Lightning classes: read from their source (lazy entries), imported only when one is built.
DATAMODULES: Registry[Any] = Registry("datamodule", sources=[("kanlab.data", "DATAMODULES")])
CALLBACKS: Registry[Any] = Registry("callback", sources=[("kanlab.lit", "CALLBACKS")])

# Constructor parameters that take another registry's spec (a name, ``{name: ..., **hp}`` or a
# class/factory) declare it with these aliases; config validation reads the Draws marker.
LayerSpec: TypeAlias = Annotated[str | Mapping[str, Any] | Callable[..., Any], Draws(LAYERS)]
ActivationSpec: TypeAlias = Annotated[
    str | Mapping[str, Any] | Callable[..., Any], Draws(ACTIVATIONS)
]
