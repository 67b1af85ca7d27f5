"""Config validation: frozen specs, annotation markers, signatures and the type checker.

:class:`Spec` is a validated ``{name: ..., **params}`` node; :func:`validate_spec` checks one
against its registry (the name must be registered, every key accepted by the target's
signature, typed values checked, nested specs recursed) and :func:`from_dict` builds a config
dataclass from plain data the same way. Underneath: :func:`drawn_registry` finds the
:class:`~kanlab.registry.Draws` marker in an annotation (the registry a value's specs come
from); :func:`signature_of` reads what a registered class or factory accepts; :func:`check_type`
checks one value against its annotation. Every error names the dotted path of the bad value
(``"`optim.lr` must be a number, but got optim.lr='fast'."``). The experiment's section
dataclasses (:class:`ExperimentConfig`, :class:`OptimConfig`, :class:`TrainerConfig`) live
here too, beside :func:`from_dict`, so their own checks (``__post_init__``) run in the same
pass: the whole recursive check of a load runs inside this module and does not bounce between
modules. :mod:`kanlab.config` holds overrides, files and the config hash on top of this; every
public name here stays importable from there.

Why a hand-written checker, not pydantic: pydantic is not a kanlab dependency (it is not
installed in the project's environment), and adopting it would remove little. The checker
(:func:`check_type`, ~70 lines) covers the annotation forms configs use (``Literal``, unions,
tuples, mappings, scalars) and enforces the house contract: no bool-for-int, ints widened to
float, YAML 1.1 exponent strings (``1e-3``) read as floats, ``Literal`` misses answered with
"did you mean", one error message in Optuna's wording naming the dotted path. Pydantic's
strict mode refuses int-for-float and its lax mode accepts ``"3"`` for an int, so either way
every error would be re-worded from its ``loc`` tuples; the ``Draws``/``KwargsOf`` markers
(registry lookups, nested specs checked against a registered class's own signature, the
builder's wiring keys) would still need custom validators; and config loading, which
``kanlab train --help``-speed paths rely on, would pay pydantic's import.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import math
import re
import types
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar, Union

from kanlab.errors import ConfigError
from kanlab.paths import check_name
from kanlab.registry import (
    CALLBACKS,
    DATAMODULES,
    LAYERS,
    MODELS,
    OPTIMIZERS,
    SCHEDULERS,
    Draws,
    Entry,
    KwargsOf,
    Registry,
    suggest,
)

__all__ = [
    "ExperimentConfig",
    "OptimConfig",
    "Signature",
    "Spec",
    "TrainerConfig",
    "check_type",
    "drawn_registry",
    "from_dict",
    "kwargs_of",
    "signature_of",
    "to_dict",
    "validate_params",
    "validate_spec",
]

C = TypeVar("C")


def _markers(tp: Any, kind: type) -> list[Any]:
    """Markers of type ``kind`` in ``Annotated`` metadata anywhere inside annotation ``tp``."""
    if typing.get_origin(tp) is Annotated:
        own = [m for m in tp.__metadata__ if isinstance(m, kind)]
        return own or _markers(typing.get_args(tp)[0], kind)
    found: list[Any] = []
    for arg in typing.get_args(tp):
        found += _markers(arg, kind)
    return found


def drawn_registry(tp: Any) -> Registry[Any] | None:
    """The registry an annotation declares with :class:`~kanlab.registry.Draws` (or ``None``).

    The marker may sit inside ``Optional``/``Sequence``/``tuple`` (a list of specs).
    """
    markers = _markers(tp, Draws)
    return markers[0].registry if markers else None


def kwargs_of(tp: Any) -> KwargsOf | None:
    markers = _markers(tp, KwargsOf)
    return markers[0] if markers else None


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " or ".join(repr(c) for c in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def check_type(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against annotation ``tp``; return it (ints widened to float)."""
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return check_type(value, typing.get_args(tp)[0], path)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            with contextlib.suppress(ConfigError):  # the next alternative may fit
                return check_type(value, arg, path)
        allowed = " or ".join(_type_name(a) for a in args)
        raise ConfigError(f"`{path}` must be {allowed}, but got {path}={value!r}.")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            hint = suggest(str(value), [str(c) for c in choices])
            raise ConfigError(
                f"`{path}` must be one of {list(choices)}, but got {path}={value!r}.{hint}"
            )
        return value
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"`{path}` must be a list, but got {path}={value!r}.")
        args = typing.get_args(tp)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise ConfigError(
                    f"`{path}` must have {len(args)} items, but got {path}={list(value)!r}."
                )
            item_types = list(args)
        else:
            item_types = [args[0] if args else Any] * len(value)
        return tuple(
            check_type(v, t, f"{path}.{i}")
            for i, (v, t) in enumerate(zip(value, item_types, strict=True))
        )
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"`{path}` must be a mapping, but got {path}={value!r}.")
        return value
    if tp is float:
        if isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"`{path}` must be a number, but got {path}={value!r}.")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"`{path}` must be an integer, but got {path}={value!r}.")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"`{path}` must be true or false, but got {path}={value!r}.")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"`{path}` must be a string, but got {path}={value!r}.")
        return value
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"`{path}` must be null, but got {path}={value!r}.")
        return None
    return value  # classes, callables, tensors...: left to the constructor


@dataclass(frozen=True)
class Signature:
    """What a registered target accepts: keyword parameters, ``**kwargs``, type hints."""

    owner: str
    params: Mapping[str, inspect.Parameter]
    var_kw: bool
    hints: Mapping[str, Any]


def _read(owner: str, sig: inspect.Signature, hints: Mapping[str, Any]) -> Signature:
    params = {}
    var_kw = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
            params[p.name] = p
    return Signature(owner, params, var_kw, hints)


def signature_of(target: Callable[..., Any] | Entry[Any]) -> Signature:
    """The keyword parameters of a class/factory (or registry entry) and their type hints.

    An entry whose catalog line names ``params`` (a data module or callback: a Lightning
    class) is read from that Lightning-free function instead, so validating a config imports
    no Lightning.
    """
    if isinstance(target, Entry):
        params = target.meta.get("params")
        if isinstance(params, str) and not target.loaded:
            owner = target.source.rpartition(":")[2]
            module, _, attr = params.partition(":")
            light = getattr(importlib.import_module(module), attr)
            hints = typing.get_type_hints(light, include_extras=True)
            return _read(owner, inspect.signature(light), hints)
        target = target.target
    owner = str(getattr(target, "__name__", target))
    func = target.__init__ if inspect.isclass(target) else target
    try:
        signature = inspect.signature(target)  # a class without __init__ takes nothing
    except (TypeError, ValueError):
        return Signature(owner, {}, True, {})
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # unresolvable annotations (third-party classes): no type checks
        hints = {}
    return _read(owner, signature, hints)


@dataclass(frozen=True)
class Spec:
    """A ``{name: ..., **params}`` node, built through a registry.

    ``params`` is a read-only mapping; nested specs are :class:`Spec` too.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{k: _plain(v) for k, v in self.params.items()}}

    def build(self, registry: Registry[Any], *args: Any, **kwargs: Any) -> Any:
        """Instantiate through ``registry``; nested specs become plain dicts for the target."""
        return registry.build(self.to_dict(), *args, **kwargs)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


# --------------------------------------------------------------------------- conversion


def _plain(value: Any) -> Any:
    """Frozen config values -> plain YAML/JSON types."""
    if isinstance(value, Spec):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass -> nested plain dict (YAML/JSON safe)."""
    return {f.name: _plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def validate_params(
    target: Callable[..., Any] | Entry[Any] | Signature,
    params: Mapping[str, Any],
    path: str,
    *,
    wiring: Sequence[str] = (),
) -> dict[str, Any]:
    """Check ``params`` against ``target``'s signature; recurse into nested specs.

    A parameter whose annotation carries :class:`~kanlab.registry.Draws` takes specs of that
    registry (a name, a ``{name: ...}`` mapping, or a list of them), validated recursively.

    Args:
        target: The registered class or factory (or its registry entry, or its signature).
        params: Its hyperparameters from the config (without ``name``).
        path: Dotted path of the node, for messages.
        wiring: Parameters the builder passes itself (e.g. ``in_features``); not allowed in a
            config.
    """
    sig = target if isinstance(target, Signature) else signature_of(target)
    out: dict[str, Any] = {}
    for key, value in params.items():
        sub = f"{path}.{key}" if path else key
        if key in wiring:
            raise ConfigError(f"`{sub}` is set by the model builder and cannot be configured.")
        if key not in sig.params and not sig.var_kw:
            names = sorted(k for k in sig.params if k not in wiring)
            raise ConfigError(
                f"Unknown key `{sub}` for {sig.owner}."
                f"{suggest(key, names)} Valid keys: {', '.join(names) or '(none)'}."
            )
        registry = drawn_registry(sig.hints.get(key))
        if registry is not None and value is not None:
            out[key] = _spec_value(value, registry, sub)
        elif key in sig.hints:
            out[key] = _freeze(check_type(value, sig.hints[key], sub))
        else:
            out[key] = _freeze(value)
    return out


def _spec_value(value: Any, registry: Registry[Any], path: str) -> Any:
    """A name, ``{name: ...}`` mapping or list of them under a spec key."""
    if isinstance(value, str):
        _lookup(registry, value, path)
        return value
    if isinstance(value, Mapping):
        return _spec(value, registry, path)
    if isinstance(value, (list, tuple)):
        return tuple(_spec_value(v, registry, f"{path}.{i}") for i, v in enumerate(value))
    return value


def _lookup(registry: Registry[Any], name: Any, path: str) -> Entry[Any]:
    """The registry entry ``name`` (not imported yet if lazy); unknown names: ConfigError."""
    try:
        return registry.entry(name)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"`{path}`: {exc}") from None


def _wiring(registry: Registry[Any], name: Any) -> tuple[str, ...]:
    """Constructor arguments the builder passes itself (widths, the optimiser), never config."""
    if not isinstance(name, str):
        return ()
    meta = registry.entry(name).meta
    if "wiring" in meta:
        return tuple(meta["wiring"])
    if registry is LAYERS:
        conv = meta.get("kind") == "conv2d"
        return ("in_channels", "out_channels") if conv else ("in_features", "out_features")
    return ()


def _spec(raw: Any, registry: Registry[Any], path: str) -> Spec:
    if isinstance(raw, Spec):
        raw = raw.to_dict()
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"`{path}` must be a mapping with a 'name' key, but got {path}={raw!r}.")
    if "name" not in raw:
        raise ConfigError(f"`{path}` needs a 'name' key, but got keys {sorted(raw)}.")
    name = raw["name"]
    entry = _lookup(registry, name, f"{path}.name")
    wiring = _wiring(registry, name)
    params = {k: v for k, v in raw.items() if k != "name"}
    return Spec(
        name=entry.name,  # the registry key: `fashion-mnist` files its runs as fashion_mnist
        params=types.MappingProxyType(validate_params(entry, params, path, wiring=wiring)),
    )


def validate_spec(registry: Registry[Any], raw: Any, path: str = "") -> Spec:
    """A name or ``{name: ..., **hparams}`` checked against ``registry`` -> a frozen Spec.

    What config loading does for every spec it meets: the name must be registered, every key
    accepted by the target's signature (unknown ones raise :class:`ConfigError` naming
    ``path.key`` and the closest valid key), typed values checked, nested specs recursed.
    """
    return _spec(raw, registry, path or registry.kind)


def from_dict(cls: type[C], raw: Any, path: str = "") -> C:
    """Build dataclass ``cls`` from plain data; unknown keys and bad types raise ConfigError."""
    where = path or "the config"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"`{where}` must be a mapping, but got {raw!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [k for k in raw if k not in fields]
    if unknown:
        key = unknown[0]
        sub = f"{path}.{key}" if path else key
        raise ConfigError(
            f"Unknown key `{sub}`.{suggest(str(key), list(fields))} "
            f"Valid keys{' of ' + path if path else ''}: {', '.join(fields)}."
        )
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"Missing required key `{sub}`.")
            continue
        value = raw[name]
        tp = hints[name]
        registry = drawn_registry(tp)
        params_of = kwargs_of(tp)
        bare = typing.get_args(tp)[0] if typing.get_origin(tp) is Annotated else tp
        if registry is not None:
            if value is None:
                kwargs[name] = None
            elif typing.get_origin(bare) is tuple:
                if not isinstance(value, (list, tuple)):
                    raise ConfigError(f"`{sub}` must be a list of specs, but got {sub}={value!r}.")
                kwargs[name] = tuple(
                    _spec(v, registry, f"{sub}.{i}") for i, v in enumerate(value)
                )
            else:
                kwargs[name] = _spec(value, registry, sub)
        elif params_of is not None:
            owner = raw.get(params_of.name_field, fields[params_of.name_field].default)
            entry = _lookup(params_of.registry, owner, sub)
            kwargs[name] = types.MappingProxyType(validate_params(entry, value or {}, sub))
        elif dataclasses.is_dataclass(bare):
            section = typing.cast(type, bare)
            kwargs[name] = from_dict(section, value if value is not None else {}, sub)
        else:
            kwargs[name] = check_type(value, tp, sub)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"`{where}`: {exc}") from None


# --------------------------------------------------------------------------- experiment


SPAWNED_STRATEGIES = ("ddp_spawn", "ddp_fork", "ddp_notebook")
"""Strategies whose ranks all run in child processes (rank 0 too), Lightning's DDP started
otherwise: a run's epochs come back from them through ``last.ckpt`` (:mod:`kanlab.lit.ranks`),
so these need checkpointing on; :func:`kanlab.config.config_hash` counts them as ``ddp``."""

LARGE_LR = 10.0  # above this OptimConfig warns (a typo is likelier than an experiment)


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser (registry ``optimizers``) with its learning-rate schedule.

    Extra optimiser arguments (``momentum``, ``betas``, ...) go in ``params``; they are checked
    against the optimiser's signature. ``regularization_weight`` scales the model's
    ``regularization_loss()`` (B-spline KANs), added to the training loss; 0 turns it off.

    ``lr`` must be > 0 and finite; it has no upper bound. Rates above 10 are rare but real
    (plain SGD at 20-30 trains LSTM language models), so a cap would refuse experiments; above
    :data:`LARGE_LR` a warning names the value, since 3e4 for 3e-4 is the likelier story (such
    a run trains to an absurd but finite loss, not always to a divergence that stops it).
    """

    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    params: Annotated[Mapping[str, Any], KwargsOf(OPTIMIZERS)] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
    scheduler: Annotated[Spec | None, Draws(SCHEDULERS)] = None
    regularization_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.lr < math.inf:  # also NaN (non-finite values are refused earlier too)
            raise ConfigError(f"`optim.lr` must be > 0 and finite, but got optim.lr={self.lr}.")
        if self.lr > LARGE_LR:
            warnings.warn(f"`optim.lr`={self.lr:g} is above {LARGE_LR:g}: a typo (3e4 for 3e-4)?",
                          UserWarning, stacklevel=2)
        for key in ("weight_decay", "regularization_weight"):
            value = getattr(self, key)
            if not 0 <= value < math.inf:
                raise ConfigError(f"`optim.{key}` must be >= 0 and finite, but got "
                                  f"optim.{key}={value}.")


# `trainer.loggers` choices (built by kanlab.lit.loggers, which holds their packages/extras).
LOGGER_NAMES = ("csv", "tensorboard", "mlflow")


@dataclass(frozen=True)
class TrainerConfig:
    """Lightning ``Trainer`` settings plus kanlab's training callbacks (registry ``callbacks``).

    ``deterministic``: ``true``/``false``/``warn`` as Lightning's, or ``auto`` (default):
    ``true`` on CPU, ``warn`` on GPUs, where some kernels (``index_add_`` backward, used by
    spline code) have no deterministic implementation and would raise.

    ``loggers``: any of ``csv``, ``tensorboard``, ``mlflow`` (:mod:`kanlab.lit.loggers`); the
    CSV log is always written, since ``runs.jsonl`` and the leaderboards read it.

    ``compile``: run the training forward through ``torch.compile`` (first batch shape only;
    the short last batch and evaluation stay eager). Off by default: the first step pays the
    compilation (seconds to tens of seconds on CPU); it pays off for small batches.

    ``early_stopping_patience`` / ``early_stopping_min_delta``: stop when the validation metric
    has not improved by more than ``min_delta`` (its units) for ``patience`` epochs (plateau
    stopping under the ``max_epochs`` budget; see :mod:`kanlab.convergence` for how a run's
    ``converged`` field is decided). ``min_delta`` enters the config hash only when not 0.

    ``devices``: 1 by default, one device per run (Lightning's ``auto`` would take every GPU
    of the machine with DDP, multiplying the global batch: another experiment). Other values
    and a non-``auto`` ``strategy`` enter the config hash.
    """

    max_epochs: int = 10
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "32-true"
    deterministic: bool | Literal["auto", "warn"] = "auto"
    gradient_clip_val: float | None = None
    limit_train_batches: float | int = 1.0
    limit_val_batches: float | int = 1.0
    log_every_n_steps: int = 50
    early_stopping_patience: int | None = None
    early_stopping_min_delta: float = 0.0
    test_every_epoch: bool = False
    checkpoint: bool = True
    progress_bar: bool = True
    callbacks: Annotated[tuple[Spec, ...], Draws(CALLBACKS)] = ()
    loggers: tuple[str, ...] = ("csv",)
    compile: bool = False

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ConfigError(
                f"`trainer.max_epochs` must be >= 1, but got trainer.max_epochs={self.max_epochs}."
            )
        if self.early_stopping_patience is not None and self.early_stopping_patience < 0:
            raise ConfigError(
                "`trainer.early_stopping_patience` must be >= 0 or null, but got "
                f"trainer.early_stopping_patience={self.early_stopping_patience}."
            )
        if not self.early_stopping_min_delta >= 0:
            raise ConfigError(
                "`trainer.early_stopping_min_delta` must be >= 0, but got "
                f"trainer.early_stopping_min_delta={self.early_stopping_min_delta}."
            )
        if str(self.strategy) in SPAWNED_STRATEGIES and not self.checkpoint:
            raise ConfigError(
                f"`trainer.checkpoint` must be true with trainer.strategy={self.strategy} (the "
                "epochs come back from the spawned ranks through last.ckpt), but got "
                "trainer.checkpoint=false."
            )
        for name in self.loggers:
            if name not in LOGGER_NAMES:
                raise ConfigError(
                    f"`trainer.loggers` must hold names from {', '.join(LOGGER_NAMES)}, but got "
                    f"{name!r}.{suggest(str(name), list(LOGGER_NAMES))}"
                )


@dataclass(frozen=True)
class ExperimentConfig:
    """One training run: model, data, optimiser and trainer, all built through registries."""

    name: str
    model: Annotated[Spec, Draws(MODELS)]
    data: Annotated[Spec, Draws(DATAMODULES)]
    seed: int = 0
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    # The results folder (``<results_dir>/<benchmark>/runs.jsonl``); default: the data module's
    # name. Lets two benchmarks on one data set (e.g. MLPs and conv nets on Fashion-MNIST)
    # keep separate tables. Not part of ``config_hash`` (it says where, not what).
    benchmark: str | None = None

    def __post_init__(self) -> None:
        check_name("name", self.name)  # it starts the run directory's name
        b = self.benchmark
        if b is not None and (not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", b) or ".." in b):
            raise ConfigError(
                "`benchmark` must be a folder name (letters, digits, _ . -), but got "
                f"benchmark={b!r}."
            )

    @property
    def results_group(self) -> str:
        """The folder under the results dir that holds this run: ``benchmark`` or data name."""
        return self.benchmark or str(self.data.name)
