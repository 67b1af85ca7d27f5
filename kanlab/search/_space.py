"""Search spaces: the ``space:`` section of a study YAML, compiled to ``trial.suggest_*``.

A space maps dotted config paths to distributions::

    space:
      model.layer.name: {categorical: [b_spline_kan, af_kan]}
      model.layer.grid_size: {int: [3, 12]}
      optim.lr: {float: [1.0e-4, 1.0e-2], log: true}
      model.activations.0: {categorical: [relu, crrelu, {name: topk, k: 8}]}
      when:
        - if: {model.layer.name: af_kan}
          space:
            model.layer.func: {categorical: [quad1, quad2, cubic1]}

Each path becomes one Optuna parameter of the same name. ``when`` branches are drawn only if
their ``if`` holds for the values drawn so far (or, for paths outside the space, the base
config); they nest. Categorical choices that are not scalars (``{name: topk, k: 8}``) are
stored in Optuna under their YAML text and decoded back to the mapping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import optuna
import yaml

from kanlab.config import ConfigError, apply_overrides, registry_at, signature_of
from kanlab.registry import Registry, suggest

__all__ = ["Branch", "Param", "Space", "apply_values", "format_value", "parse_space"]

Kind = Literal["int", "float", "categorical"]
_OPTIONS: dict[str, tuple[str, ...]] = {
    "int": ("int", "step", "log"),
    "float": ("float", "step", "log"),
    "categorical": ("categorical",),
}
_SCALARS = (str, int, float, bool, type(None))


def format_value(value: Any) -> str:
    """A config value as one line of YAML (``relu``, ``0.001``, ``{name: topk, k: 8}``)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf, sort_keys=False)
    text = text.strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


@dataclass(frozen=True)
class Param:
    """One searched config value: ``path`` and its distribution."""

    path: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def labels(self) -> tuple[Any, ...]:
        """What Optuna stores for each choice: scalars as is, anything else as YAML text."""
        return tuple(c if isinstance(c, _SCALARS) else format_value(c) for c in self.choices)

    def decode(self, stored: Any) -> Any:
        """Optuna's stored value -> the config value."""
        if self.kind != "categorical":
            return stored
        return self.choices[self.labels.index(stored)]

    def suggest(self, trial: optuna.Trial) -> Any:
        """Draw this parameter; returns the config value."""
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=step,
                                     log=self.log)
        if self.kind == "float":
            return trial.suggest_float(self.path, self.low, self.high, step=self.step,
                                       log=self.log)
        return self.decode(trial.suggest_categorical(self.path, list(self.labels)))

    def probe_values(self) -> list[Any]:
        """Values that exercise the config checks: both ends, or every choice."""
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        if self.kind == "float":
            return [self.low, self.high]
        return list(self.choices)

    def grid(self) -> list[Any]:
        """Every value, for the grid sampler (numeric parameters need a ``step``)."""
        if self.kind == "categorical":
            return list(self.labels)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise ConfigError(
                f"`space.{self.path}` needs a `step` for the grid sampler, but got "
                f"{self.path}={{float: [{self.low}, {self.high}]}}."
            )
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [self.low + i * self.step for i in range(count)]


@dataclass(frozen=True)
class Branch:
    """A conditional sub-space: drawn when every ``path: value`` of ``condition`` holds."""

    condition: Mapping[str, Any]
    space: Space

    def holds(self, lookup: Callable[[str], Any]) -> bool:
        for path, expected in self.condition.items():
            actual = lookup(path)
            if isinstance(expected, list) and not isinstance(actual, list):
                if actual not in expected:
                    return False
            elif actual != expected:
                return False
        return True


@dataclass(frozen=True)
class Space:
    """Parameters drawn unconditionally, then the branches whose condition holds."""

    params: tuple[Param, ...] = ()
    branches: tuple[Branch, ...] = ()

    def suggest(self, trial: optuna.Trial, base: Mapping[str, Any]) -> dict[str, Any]:
        """Draw a trial's values: ``{path: config value}`` in drawing order."""
        values: dict[str, Any] = {}
        self._suggest_into(trial, base, values)
        return values

    def _suggest_into(
        self, trial: optuna.Trial, base: Mapping[str, Any], values: dict[str, Any]
    ) -> None:
        for param in self.params:
            values[param.path] = param.suggest(trial)

        def lookup(path: str) -> Any:
            return values[path] if path in values else get_path(base, path)

        for branch in self.branches:
            if branch.holds(lookup):
                branch.space._suggest_into(trial, base, values)

    def walk(
        self, condition: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[Param, dict[str, Any]]]:
        """Every parameter with the accumulated conditions under which it is drawn."""
        condition = dict(condition or {})
        for param in self.params:
            yield param, condition
        for branch in self.branches:
            yield from branch.space.walk({**condition, **branch.condition})

    def all_params(self) -> dict[str, Param]:
        return {param.path: param for param, _ in self.walk()}

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna's stored ``trial.params`` -> ``{path: config value}``."""
        known = self.all_params()
        return {k: known[k].decode(v) if k in known else v for k, v in params.items()}

    def grid(self) -> dict[str, list[Any]]:
        return {path: param.grid() for path, param in self.all_params().items()}


# --------------------------------------------------------------------------- parsing


def parse_space(raw: Any, where: str = "space") -> Space:
    """Parse the ``space:`` mapping; every error names its dotted location."""
    space = _parse(raw, where)
    seen: dict[str, Param] = {}
    for param, _ in space.walk():
        other = seen.setdefault(param.path, param)
        if other.kind != param.kind or (
            param.kind == "categorical" and other.labels != param.labels
        ):
            raise ConfigError(
                f"`{where}.{param.path}` is defined twice with different distributions; a "
                "categorical must keep its choices (Optuna), so give both branches the same "
                "definition."
            )
    _check_conditions(space, where)
    return space


def _parse(raw: Any, where: str) -> Space:
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(
            f"`{where}` must be a non-empty mapping of dotted config paths, but got "
            f"{where}={raw!r}."
        )
    params: list[Param] = []
    branches: list[Branch] = []
    for key, value in raw.items():
        if key == "when":
            branches.extend(_parse_when(value, f"{where}.when"))
        elif not isinstance(key, str) or not key.strip() or key.startswith("."):
            raise ConfigError(f"`{where}` keys must be dotted config paths, but got {key!r}.")
        else:
            params.append(_parse_param(key, value, f"{where}.{key}"))
    return Space(tuple(params), tuple(branches))


def _parse_when(raw: Any, where: str) -> list[Branch]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f"`{where}` must be a list of {{if: {{path: value}}, space: {{...}}}}, "
            f"but got {where}={raw!r}."
        )
    out = []
    for i, item in enumerate(raw):
        sub = f"{where}.{i}"
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"`{sub}` must be a mapping with `if` and `space`, but got {item!r}."
            )
        unknown = [k for k in item if k not in ("if", "space")]
        if unknown:
            raise ConfigError(
                f"Unknown key `{sub}.{unknown[0]}`.{suggest(str(unknown[0]), ['if', 'space'])} "
                "Valid keys: if, space."
            )
        cond = item.get("if")
        if not isinstance(cond, Mapping) or not cond:
            raise ConfigError(
                f"`{sub}.if` must be a non-empty mapping {{path: value}}, but got {cond!r}."
            )
        out.append(Branch(dict(cond), _parse(item.get("space"), f"{sub}.space")))
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_param(path: str, raw: Any, where: str) -> Param:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"`{where}` must be {{int: [lo, hi]}}, {{float: [lo, hi]}} or "
            f"{{categorical: [...]}}, but got {where}={raw!r}."
        )
    kinds = [k for k in ("int", "float", "categorical") if k in raw]
    if len(kinds) != 1:
        keys = ", ".join(map(str, raw)) or "(none)"
        hint = "".join(suggest(str(k), ["int", "float", "categorical"]) for k in raw)[:60]
        raise ConfigError(
            f"`{where}` must have exactly one of int, float, categorical, but got keys "
            f"{keys}.{hint}"
        )
    kind: Kind = kinds[0]  # type: ignore[assignment]
    unknown = [k for k in raw if k not in _OPTIONS[kind]]
    if unknown:
        valid = list(_OPTIONS[kind])
        raise ConfigError(
            f"Unknown key `{where}.{unknown[0]}`.{suggest(str(unknown[0]), valid)} "
            f"Valid keys: {', '.join(valid)}."
        )
    if kind == "categorical":
        choices = raw["categorical"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(
                f"`{where}.categorical` must be a non-empty list, but got {choices!r}."
            )
        param = Param(path, "categorical", choices=tuple(choices))
        if len(set(map(str, param.labels))) != len(param.labels):
            raise ConfigError(
                f"`{where}.categorical` must not repeat a choice, but got {choices}."
            )
        return param
    bounds = raw[kind]
    if not isinstance(bounds, list) or len(bounds) != 2 or not all(map(_number, bounds)):
        raise ConfigError(f"`{where}.{kind}` must be [low, high], but got {bounds!r}.")
    low, high = bounds
    if kind == "int" and not all(isinstance(b, int) for b in bounds):
        raise ConfigError(f"`{where}.int` bounds must be integers, but got {bounds!r}.")
    if low > high:
        raise ConfigError(f"`{where}` must have low <= high, but got {kind}: {bounds}.")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"`{where}.log` must be true or false, but got log={log!r}.")
    if log and low <= 0:
        raise ConfigError(f"`{where}` with log: true must have low > 0, but got low={low}.")
    step = raw.get("step")
    if step is not None:
        if not _number(step) or step <= 0 or (kind == "int" and not isinstance(step, int)):
            raise ConfigError(f"`{where}.step` must be a positive {kind}, but got step={step!r}.")
        if log and step != 1:
            raise ConfigError(f"`{where}` cannot combine log: true with step={step}.")
    return Param(path, kind, low=low, high=high, step=step, log=log)


def _check_conditions(space: Space, where: str) -> None:
    """``if`` values must be reachable: a condition on a categorical names one of its choices."""
    params = space.all_params()
    for branch, at in _branches(space, where):
        for path, expected in branch.condition.items():
            param = params.get(path)
            if param is None or param.kind != "categorical":
                continue
            wanted = expected if isinstance(expected, list) else [expected]
            for value in wanted:
                if value not in param.choices:
                    raise ConfigError(
                        f"`{at}.if.{path}` must be one of the choices "
                        f"{list(param.choices)}, but got {value!r}."
                        f"{suggest(str(value), [str(c) for c in param.choices])}"
                    )


def _branches(space: Space, where: str) -> Iterator[tuple[Branch, str]]:
    for i, branch in enumerate(space.branches):
        at = f"{where}.when.{i}"
        yield branch, at
        yield from _branches(branch.space, f"{at}.space")


# --------------------------------------------------------------------------- applying values


def get_path(raw: Any, path: str) -> Any:
    """The value at a dotted path of plain config data (``None`` when absent)."""
    node = raw
    for part in path.split("."):
        if isinstance(node, str) and part == "name":
            return node
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(
            part
        ) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _accepted(registry: Registry[Any], name: Any) -> set[str] | None:
    """Keyword arguments the registered target takes (``None``: anything goes)."""
    if not isinstance(name, str) or name not in registry:
        return None
    sig = signature_of(registry.entry(name))
    return None if sig.var_kw else set(sig.params)


def apply_values(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with each ``{path: value}`` set (names first, shallowest first).

    Setting ``<spec>.name`` to another component drops the base's keys under that spec that
    the new component does not accept (e.g. ``trainable_phases`` when ``relu_kan`` becomes
    ``af_kan``), so one base serves every choice; values drawn afterwards are then set on the
    new spec.
    """
    data = apply_overrides(base, [])
    order = sorted(values, key=lambda p: (not p.endswith(".name"), p.count(".")))
    for path in order:
        value = values[path]
        parts = path.split(".")
        parent = ".".join(parts[:-1])
        if parts[-1] == "name" and parent:
            current = get_path(data, parent)
            if not isinstance(current, Mapping):
                data = apply_overrides(data, [(parent, value)])
                continue
            registry = registry_at(data, parts[:-1])
            keep = _accepted(registry, value) if registry is not None else None
            if keep is not None and current.get("name") != value:
                pruned = {k: v for k, v in current.items() if k == "name" or k in keep}
                data = apply_overrides(data, [(parent, pruned)])
        data = apply_overrides(data, [(path, value)])
    return data
