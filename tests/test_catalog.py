"""The catalog (kanlab/catalog.py) agrees with the registered classes, and keeps things light.

Checked against kanlab's own code only (its classes, decorators and docstrings); torch's and
Optuna's entries are checked to resolve, never against their signatures or docstrings.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import kanlab
from kanlab.catalog import CATALOG, REGISTRIES
from kanlab.registry import Entry, Registry

REPO = Path(__file__).resolve().parents[1]
LINES = [(kind, name) for kind, lines in CATALOG.items() for name in lines]


def _import_every_module() -> None:
    """Import every kanlab module (so every decorator has run); optional extras may be
    missing (timm, psycopg): those modules are skipped."""
    for info in pkgutil.walk_packages(kanlab.__path__, "kanlab."):
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("kanlab"):
                raise


def test_every_registry_is_in_the_catalog() -> None:
    assert list(CATALOG) == list(REGISTRIES)
    assert all(isinstance(r, Registry) for r in REGISTRIES.values())
    for kind, lines in CATALOG.items():
        assert lines, kind
        assert list(lines) == sorted(lines), f"{kind}: keep the lines sorted by key"
        assert set(lines) <= set(REGISTRIES[kind].names())


@pytest.mark.parametrize(("kind", "name"), LINES, ids=[f"{k}-{n}" for k, n in LINES])
def test_each_line_names_its_class(kind: str, name: str) -> None:
    source, summary, _ = CATALOG[kind][name]
    module, _, attr = source.partition(":")
    target = REGISTRIES[kind].entry(name).target
    entry = REGISTRIES[kind].entry(name)  # filled in by the decorator, if it has one
    assert target is getattr(importlib.import_module(module), attr)
    assert summary and "\n" not in summary, "one line"
    if module.startswith("kanlab"):  # where the class is defined, not a re-export
        assert f"{target.__module__}:{target.__qualname__}" == source
    if entry.decorated and module.startswith("kanlab"):
        first = (inspect.getdoc(target) or "").strip().splitlines()[0]
        assert summary == first, f"{source}: the summary is its docstring's first line"


def test_every_registering_class_has_its_catalog_line() -> None:
    """A decorator without a catalog line would register only when someone imported its
    module: names, config validation and `kanlab list` would not know it."""
    _import_every_module()
    for kind, registry in REGISTRIES.items():
        missing = [e.source for e in registry.entries() if not e.catalogued]
        assert missing == [], f"add a line to kanlab/catalog.py ({kind}) for {missing}"


def _light(entry: Entry[typing.Any]) -> typing.Any:
    module, _, attr = str(entry.meta["params"]).partition(":")
    return getattr(importlib.import_module(module), attr)


LIGHT = [(k, e) for k, r in REGISTRIES.items() for e in r.entries() if "params" in e.meta]


@pytest.mark.parametrize(("kind", "entry"), LIGHT, ids=[e.name for _, e in LIGHT])
def test_lightning_free_signature_is_the_class_signature(
    kind: str, entry: Entry[typing.Any]
) -> None:
    """What config validation reads instead of importing Lightning is what the class takes."""
    light, real = inspect.signature(_light(entry)), inspect.signature(entry.target)
    assert list(light.parameters) == list(real.parameters)
    for name, p in light.parameters.items():
        q = real.parameters[name]
        assert (p.kind, p.default) == (q.kind, q.default), name
    assert typing.get_type_hints(_light(entry)) == typing.get_type_hints(entry.target.__init__)


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    return out.stdout.strip()


def test_names_and_summaries_need_no_import() -> None:
    out = _run(
        "import sys, kanlab\n"
        "from kanlab.catalog import REGISTRIES\n"
        "rows = [(e.name, e.summary) for r in REGISTRIES.values() for e in r.entries()]\n"
        "assert len(rows) > 60 and all(s for _, s in rows)\n"
        "assert 'relu_kan' in kanlab.list_layers()\n"
        "print(','.join(m for m in ('torch', 'lightning', 'optuna') if m in sys.modules))\n"
    )
    assert out == ""


def test_loading_a_config_imports_no_lightning() -> None:
    out = _run(
        "import sys\n"
        "from kanlab.config import load_experiment\n"
        "cfg = load_experiment('experiments/fashion_mnist/b_spline_kan.yaml',\n"
        "                      ['trainer.callbacks=[{name: grid_update, every_n_epochs: 2}]'])\n"
        "assert cfg.trainer.callbacks[0].name == 'grid_update'\n"
        "print(','.join(m for m in ('lightning', 'pytorch_lightning', 'optuna')"
        " if m in sys.modules))\n"
    )
    assert out == ""


def test_validation_without_lightning_still_rejects_bad_keys_and_types() -> None:
    out = _run(
        "import sys\n"
        "from kanlab.config import load_experiment\n"
        "for override in ('data.batch_sise=3', 'data.normalize=minmax',\n"
        "                 'trainer.callbacks=[{name: grid_update, every_n_epoch: 2}]'):\n"
        "    try:\n"
        "        load_experiment('experiments/fashion_mnist/b_spline_kan.yaml', [override])\n"
        "    except ValueError as exc:\n"
        "        print(exc)\n"
        "print('lightning' in sys.modules)\n"
    )
    batch, normalize, callback, lightning = out.splitlines()
    assert "data.batch_sise" in batch and "batch_size" in batch
    assert "data.normalize" in normalize and "minus_one_one" in normalize
    assert "every_n_epoch" in callback and "every_n_epochs" in callback
    assert lightning == "False"


def test_importing_the_module_fills_the_declared_entry() -> None:
    registry: Registry[typing.Any] = Registry("thing")
    registry.declare("grid_update", "kanlab.lit.grid_update:GridUpdate", summary="s")
    assert not registry.entry("grid_update").loaded
    from kanlab.lit.grid_update import GridUpdate

    registry.add("grid_update", GridUpdate)
    entry = registry.entry("grid_update")
    assert entry.loaded and entry.target is GridUpdate and entry.decorated
    assert entry.catalogued and entry.meta == {"summary": "s"}


def test_a_declared_entry_is_imported_when_first_used() -> None:
    registry: Registry[typing.Any] = Registry("thing")
    registry.declare("ordered", "collections:OrderedDict", summary="s")
    assert not registry.entry("ordered").loaded
    assert registry.build("ordered") == {}
    assert registry.entry("ordered").loaded


def test_disagreements_with_the_catalog_are_refused() -> None:
    registry: Registry[typing.Any] = Registry("thing")
    registry.declare("grid_update", "kanlab.lit.grid_update:GridUpdate", kind="a")
    with pytest.raises(ValueError, match="already registered to kanlab.lit.grid_update.Grid"):
        registry.add("grid_update", dict)
    from kanlab.lit.grid_update import GridUpdate

    with pytest.raises(ValueError, match="kanlab/catalog.py says {'kind': 'a'}"):
        registry.add("grid_update", GridUpdate, kind="b")
    with pytest.raises(ValueError, match="already declared"):
        registry.declare("grid-update", "x:y")
