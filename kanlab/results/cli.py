"""``kanlab leaderboard | plot | symbolic | match``: thin shells over :mod:`kanlab.results`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kanlab.command import Command, add_overrides_argument, results_dir
from kanlab.errors import UsageError

__all__ = [
    "LeaderboardCommand",
    "MatchCommand",
    "PlotCommand",
    "ReproduceCommand",
    "SymbolicCommand",
]


def _console() -> Any:
    from kanlab.command import console

    return console(width=160)


def _bench_dirs(args: argparse.Namespace) -> list[Path]:
    """The positional benchmark (a directory or a name under the results dir), or all."""
    root = results_dir(args)
    if args.bench:
        path = Path(args.bench)
        if path.is_dir():
            return [path]
        if (root / args.bench).is_dir():
            return [root / args.bench]
        raise UsageError(f"Benchmark directory {args.bench!r} does not exist.")
    found = sorted(
        p for p in root.iterdir()
        if p.is_dir() and ((p / "runs.jsonl").is_file() or any(p.glob("studies/*.json")))
    ) if root.is_dir() else []
    if not found:
        raise UsageError(f"No benchmark with runs.jsonl under {str(root)!r}.")
    return found


def _where(bench: Path) -> str | None:
    """How the table's header names ``bench``: ``None`` (``results/<name>``) for a folder
    of a ``results/`` directory, else ``NAME --results-dir DIR`` (the demo's tables)."""
    import shlex

    parent = bench.absolute().parent
    if parent.name == "results":
        return None
    try:
        shown = parent.relative_to(Path.cwd()).as_posix()
    except ValueError:
        shown = parent.as_posix()
    return f"{shlex.quote(bench.name)} --results-dir {shlex.quote(shown)}"


def _range(values: Sequence[float] | None) -> tuple[float, float] | None:
    if values is None:
        return None
    lo, hi = float(values[0]), float(values[1])
    if not lo < hi:
        raise UsageError(f"`--x-range` must satisfy LO < HI, but got {lo} {hi}.")
    return lo, hi


def _load_run(run_dir: str) -> tuple[Any, Any]:
    path = Path(run_dir)
    if not path.is_dir():
        raise UsageError(f"Run directory {run_dir!r} does not exist.")
    from kanlab.lit import load_run

    return load_run(path)


def _module(model: Any, name: str | None, predicate: Any, what: str) -> tuple[str, Any]:
    from kanlab.registry import suggest

    found = [(n, m) for n, m in model.named_modules() if predicate(m)]
    if not found:
        raise UsageError(f"The model has no {what}.")
    if name is None:
        return found[0]
    names = [n for n, _ in found]
    for n, m in found:
        if n == name:
            return n, m
    raise UsageError(f"Unknown {what} {name!r}.{suggest(name, names)} Available: {names}.")


def _study_storage(args: argparse.Namespace) -> str:
    """The storage URL of ``--study`` (a path or URL in ``--storage``), checked to hold it.

    Raises:
        ConfigError: no database, no such study (with "did you mean"), or ``--what pareto``
            on a study with a single objective.
    """
    from kanlab.config import ConfigError
    from kanlab.registry import suggest
    from kanlab.search.cli import _storage_for
    from kanlab.search.storage import mask, open_storage, quiet_optuna

    quiet_optuna()
    url = _storage_for(args, args.study)
    studies = {s.study_name: s for s in open_storage(url, create_dirs=False).get_all_studies()}
    if args.study not in studies:
        names = sorted(studies)
        raise ConfigError(
            f"Unknown study {args.study!r} in {mask(url)}.{suggest(args.study, names)} "
            f"Available: {', '.join(names) or '(none)'}."
        )
    objectives = len(studies[args.study].directions)
    if args.what == "pareto" and objectives < 2:
        raise ConfigError(
            f"`--what pareto` needs a study with several objectives, but study "
            f"{args.study!r} has one; use --what history or importance."
        )
    return url


def _activation_specs(names: Sequence[str], hp: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One spec per activation, each with the ``--set`` values its constructor accepts.

    ``plot activation crrelu topk --set k=2`` gives ``k`` to ``topk`` only; a key that no
    listed activation accepts is an error naming the keys they do accept.
    """
    import inspect

    from kanlab.config import ConfigError
    from kanlab.registry import ACTIVATIONS, suggest

    accepted: dict[str, set[str]] = {}
    for name in names:
        params = inspect.signature(ACTIVATIONS.get(name)).parameters.values()
        accepted[name] = {p.name for p in params
                          if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    known = sorted(set().union(*accepted.values())) if accepted else []
    for key in hp:
        if not any(key in keys for keys in accepted.values()):
            raise ConfigError(
                f"Unknown key `{key}` for activation(s) {', '.join(names)}.{suggest(key, known)}"
                f" Valid keys: {', '.join(known) or '(none)'}."
            )
    return [{"name": n, **{k: v for k, v in hp.items() if k in accepted[n]}} for n in names]


# --------------------------------------------------------------------------- leaderboard


class LeaderboardCommand(Command):
    """Render the leaderboard of a benchmark from runs.jsonl and exported studies.

    Writes ``<benchmark>/leaderboard.md`` (or ``--output``; ``-`` for stdout only) and prints a
    table. One row per configuration, selected on validation: n, mean ± sample std, 95 % CI,
    difference to a baseline row with a Holm-corrected Welch p-value, a mark for rows
    indistinguishable from the top row, and the code version (``code_sha``) of the runs.
    ``--strict`` refuses a table whose configurations come from several code versions, from
    dirty code or from rows without provenance.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from kanlab.results.leaderboard import COLUMNS, FORMATS, GROUP_BY

        parser.add_argument("bench", nargs="?",
                            help="results/<benchmark> dir or a benchmark name (default: all)")
        parser.add_argument("--by", default="config", choices=GROUP_BY,
                            help="group rows by config hash (default), run name or model")
        parser.add_argument("--sort", default="test", choices=list(COLUMNS),
                            help="column to sort by (default: test accuracy)")
        parser.add_argument("--format", default="md", choices=FORMATS,
                            help="file format: md (default), csv or html")
        parser.add_argument("--output", help="file to write ('-': stdout, no file)")
        parser.add_argument("--include-trials", action="store_true",
                            help="also list runs written by search trials")
        parser.add_argument("--baseline", metavar="NAME",
                            help="row compared against (default: the plain MLP, else the top "
                                 "row; with --split-by, comma-separated names, one per task)")
        parser.add_argument("--split-by", metavar="PATH",
                            help="config path whose values split the table into tasks compared "
                                 "separately (default: data.function)")
        parser.add_argument("--equivalence-margin", type=float, metavar="EPS", default=None,
                            help="Welch TOST equivalence to the baseline within +-EPS (primary "
                                 "metric's units; default: the manifest's equivalence_margin)")
        parser.add_argument("--strict", action="store_true",
                            help="refuse a table with mixed, dirty or unknown code provenance, "
                                 "or with 20 %% or more of its runs still improving")
        parser.add_argument("--quiet", action="store_true", help="no terminal table")

    def run(self, args: argparse.Namespace) -> int:
        benches = _bench_dirs(args)
        if args.output and len(benches) > 1:
            raise UsageError("`--output` needs a single benchmark, but got several.")
        from kanlab.results.leaderboard import write_leaderboard

        console = _console()
        for bench in benches:
            output = None if args.output in (None, "-") else Path(args.output)
            lb, out = write_leaderboard(
                bench, fmt=args.format, output=output, stdout=args.output == "-", by=args.by,
                sort=args.sort, include_trials=args.include_trials, baseline=args.baseline,
                strict=args.strict, split_by=args.split_by, margin=args.equivalence_margin,
                where=_where(bench),
            )
            if out is None:
                continue
            if not args.quiet:
                console.print(lb.rich_table())
            console.print(f"wrote {out}")
        return 0


# --------------------------------------------------------------------------- reproduce


class ReproduceCommand(Command):
    """Re-run every configuration a results directory names, at the current code.

    DIR (e.g. results/fashion_mnist) holds reproduce.yaml: experiment YAMLs plus --set
    overrides and seeds. Runs already recorded at this code version (code_sha, clean) are
    skipped, so a reproduction can span several sittings; the rest run in --workers processes
    (default: one per core), then DIR/leaderboard.md is regenerated. Runs are appended to
    DIR/runs.jsonl. Refuses uncommitted changes in kanlab/ unless --allow-dirty. With
    --verify it re-trains --sample recorded runs (in --workers processes, each at its row's
    thread count) and compares them with the rows bit for bit.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("dir", metavar="DIR", help="results directory with reproduce.yaml")
        parser.add_argument("--workers", type=int, default=None,
                            help="parallel training processes (default: one per core); with "
                                 "--verify: runs re-trained at once (default: cores // their "
                                 "thread count; 1 with --against)")
        parser.add_argument("--dry-run", action="store_true", help="list what would run")
        parser.add_argument("--allow-dirty", action="store_true",
                            help="run with uncommitted changes in kanlab/ (rows flagged dirty)")
        parser.add_argument("--verify", action="store_true",
                            help="re-run --sample recorded runs at this code and compare every "
                                 "non-timing field bit for bit; if all agree, append a record "
                                 "to DIR/verified.jsonl")
        parser.add_argument("--against", metavar="COMMIT", default=None,
                            help="with --verify, on a machine other than the rows': compare "
                                 "with the runs of COMMIT's code (tied to the rows) on this "
                                 "machine instead of the rows")
        parser.add_argument("--sample", type=int, default=3, metavar="K",
                            help="runs --verify re-runs (default 3; 0: all)")
        parser.add_argument("--threads", type=int, default=None, metavar="N",
                            help="torch threads per run (default: cores // workers); with "
                                 "--verify: the count for rows that did not record one")

    def run(self, args: argparse.Namespace) -> int:
        from kanlab.errors import UsageError
        from kanlab.results.reproduce import reproduce

        bench = Path(args.dir)
        if not bench.is_dir():
            raise UsageError(f"`DIR` must be a results directory, but got DIR={args.dir!r}.")
        if args.workers is not None and args.workers < 1:
            raise UsageError(f"`--workers` must be >= 1, but got --workers={args.workers}.")
        if args.threads is not None and args.threads < 1:
            raise UsageError(f"`--threads` must be >= 1, but got --threads={args.threads}.")
        if args.against is not None and not args.verify:
            raise UsageError(f"`--against` compares with --verify only, but got "
                             f"--against={args.against!r} without --verify.")
        if args.verify:
            from kanlab.results.verify import verify

            if args.sample < 0:
                raise UsageError(f"`--sample` must be >= 0, but got --sample={args.sample}.")
            report = verify(bench, sample=args.sample, threads=args.threads,
                            echo=lambda line: print(line, flush=True), against=args.against,
                            workers=args.workers)
            if not report.ok:
                moved = "; ".join(m.describe() for m in report.moved)
                than = "" if args.against is None else f" (than at {args.against}'s code)"
                advice = (f"re-run the table with `kanlab reproduce {args.dir}`."
                          if report.hint is None else report.hint)
                raise RuntimeError(
                    f"{len(report.moved)} of {len(report.compared) or len(report.moved)} "
                    f"re-run runs moved at this code{than} ({moved}): {advice}"
                )
            return 0
        reproduce(bench, workers=args.workers, dry_run=args.dry_run,
                  allow_dirty=args.allow_dirty, threads=args.threads,
                  echo=lambda line: print(line, flush=True))
        return 0


# --------------------------------------------------------------------------- plot


class PlotCommand(Command):
    """Plot activations, KAN edges, S-KAN selections, studies, top-k sparsity or a leaderboard.

    Kinds: activation, edges, skan, study, topk, leaderboard (``kanlab plot KIND --help``).
    Writes PNG files (matplotlib, Agg).
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="kind", metavar="KIND", required=True)

        def add(name: str, help_text: str) -> argparse.ArgumentParser:
            p = sub.add_parser(name, help=help_text, description=help_text)
            default = "study_<what>" if name == "study" else name
            p.add_argument("--output", help=f"PNG path (default <results>/plots/{default}.png)")
            # The common options also after KIND (`kanlab plot study ... --results-dir D`).
            p.add_argument("--results-dir", default=argparse.SUPPRESS,
                           help="where every written file goes (default $KANLAB_RESULTS or "
                           "./results/local)")
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help="show tracebacks and debug logs")
            return p

        p = add("activation", "activation shapes and derivatives")
        p.add_argument("names", nargs="*", help="registered activation names")
        p.add_argument("--run", help="run dir: plot the trained model's (learnt) activations")
        p.add_argument("--x-range", nargs=2, type=float, default=(-4.0, 4.0),
                       metavar=("LO", "HI"), help="plotted interval of x (default: -4 4)")
        p.add_argument("--no-derivative", action="store_true",
                       help="plot f(x) only, without the f'(x) panel")
        add_overrides_argument(p)

        p = add("edges", "edge functions of a trained KAN layer")
        p.add_argument("run_dir", help="run directory (config + checkpoint)")
        p.add_argument("--layer", help="module name (default: first KAN layer)")
        p.add_argument("--x-range", nargs=2, type=float, metavar=("LO", "HI"),
                       help="interval the edges are sampled on (default: the layer's grid range)")
        p.add_argument("--max-in", type=int, default=6,
                       help="columns: at most this many inputs, those with the largest edges "
                            "(default: 6)")
        p.add_argument("--max-out", type=int, default=6,
                       help="rows: at most this many outputs, those with the largest edges "
                            "(default: 6)")
        p.add_argument("--fits", action="store_true", help="overlay symbolic fits")

        p = add("skan", "S-KAN selection map of a trained model")
        p.add_argument("run_dir", help="run directory (config + checkpoint)")
        p.add_argument("--layer", help="module name (default: first S-KAN module)")

        p = add("study", "Optuna search history, parameter importance or Pareto front")
        p.add_argument("--storage", metavar="URL_OR_PATH",
                       help="storage URL or SQLite file path "
                       "(default <results>/studies/<study>.db)")
        p.add_argument("--study", required=True, help="study name")
        p.add_argument("--what", default="history", choices=("history", "importance", "pareto"),
                       help="history: metric by trial (default); importance: fANOVA parameter "
                            "importance; pareto: Pareto front (multi-objective); the default "
                            "output is <results>/plots/study_<what>.png")

        p = add("topk", "top-k sparsity histograms of a trained model on test batches")
        p.add_argument("run_dir", help="run directory (config + checkpoint)")
        p.add_argument("--batches", type=int, default=4,
                       help="test batches fed through the model (default: 4)")

        p = add("leaderboard", "leaderboard bar chart with error bars (and anchors)")
        p.add_argument("bench", help="results/<benchmark> dir")
        p.add_argument("--metric", default=None,
                       choices=("test", "val", "test_selected", "test_rmse", "val_rmse",
                                "test_r2"),
                       help="column shown (default: the table's primary metric, test accuracy "
                            "at the best-validation epoch, or test RMSE for regression)")
        p.add_argument("--top", type=int, default=20, help="rows shown (default: 20)")
        p.add_argument("--by", default="config", choices=("config", "name", "model"),
                       help="group rows by config hash (default), run name or model")

    def run(self, args: argparse.Namespace) -> int:
        from kanlab.results import plots

        stem = f"study_{args.what}" if args.kind == "study" else args.kind
        out = Path(args.output) if args.output else results_dir(args) / "plots" / f"{stem}.png"
        if args.kind == "activation":
            out = self._activation(args, out)
        elif args.kind == "edges":
            from kanlab.results.symbolic import _grid_range, kan_layers

            _, model = _load_run(args.run_dir)
            layers = dict(kan_layers(model))
            name, layer = _module(model, args.layer, lambda m: m in layers.values(),
                                  "KAN layer")
            rng = _range(args.x_range) or _grid_range(layer)
            out = plots.plot_edges(layer, out, x_range=rng, max_in=args.max_in,
                                   max_out=args.max_out, fits=args.fits)
        elif args.kind == "skan":
            _, model = _load_run(args.run_dir)
            from kanlab.capabilities import Staged

            _, module = _module(model, args.layer,
                                lambda m: isinstance(m, Staged) and hasattr(m, "candidates"),
                                "S-KAN module")
            out = plots.plot_skan_selection(module, out)
        elif args.kind == "study":
            out = plots.plot_study(_study_storage(args), args.study, out, kind=args.what)
        elif args.kind == "topk":
            out = self._topk(args, out)
        else:
            from kanlab.results.leaderboard import load_leaderboard

            lb = load_leaderboard(args.bench, by=args.by)
            out = plots.plot_leaderboard(lb, out, metric=args.metric, top=args.top)
        _console().print(f"wrote {out}")
        return 0

    @staticmethod
    def _activation(args: argparse.Namespace, out: Path) -> Path:
        from kanlab.config import parse_overrides
        from kanlab.results import plots

        rng = _range(args.x_range) or (-4.0, 4.0)
        derivative = not args.no_derivative
        if args.run:
            from kanlab.results.symbolic import activation_formulas

            _, model = _load_run(args.run)
            names = list(activation_formulas(model))
            mods = dict(model.named_modules())
            if not names:
                raise UsageError(f"Run {args.run!r} has no elementwise activations.")
            return plots.plot_activations([mods[n] for n in names], out, labels=names,
                                          x_range=rng, derivative=derivative)
        if not args.names:
            raise UsageError("`names` must list at least one activation (or pass --run).")
        specs = _activation_specs(args.names, dict(parse_overrides(args.overrides)))
        return plots.plot_activations(specs, out, labels=args.names, x_range=rng,
                                      derivative=derivative)

    @staticmethod
    def _topk(args: argparse.Namespace, out: Path) -> Path:
        import itertools

        from kanlab.results import plots

        cfg, model = _load_run(args.run_dir)
        from kanlab.lit import build_datamodule

        dm = build_datamodule(cfg)
        dm.prepare_data()
        dm.setup("test")
        batches = (b[0] for b in itertools.islice(dm.test_dataloader(), args.batches))
        return plots.plot_topk_histogram(model, batches, out)


# --------------------------------------------------------------------------- symbolic


class SymbolicCommand(Command):
    """Print a trained model's activations and KAN edges as formulas (sympy).

    Each KAN edge is matched to the closest library expression a*f(b*x+c)+d (f in x, x^2,
    x^3, exp, sin, tanh, log, sqrt, abs, ...) by R^2 with a complexity tie-break. Without a run
    directory, ``--activation NAME`` prints registered activations' formulas.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_dir", nargs="?", help="run directory (config + checkpoint)")
        parser.add_argument("--activation", action="append", default=[],
                            help="print this registered activation's formula (repeatable)")
        parser.add_argument("--x-range", nargs=2, type=float, metavar=("LO", "HI"),
                            help="interval the edges are fitted on (default: the grid range)")
        parser.add_argument("--max-edges", type=int, default=16,
                            help="whole-layer formulas up to this many edges, else top edges")
        parser.add_argument("--latex", action="store_true", help="print LaTeX")
        parser.add_argument("--library", nargs="+", metavar="NAME",
                            help="restrict the function library to these names (x, x^2, x^3, "
                                 "x^4, exp, sin, tanh, log, sqrt, abs, 1/x, gaussian)")
        add_overrides_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        import sympy

        from kanlab.config import parse_overrides
        from kanlab.results.symbolic import symbolic_report, tidy_constants, to_latex

        if not args.run_dir and not args.activation:
            raise UsageError("`run_dir` or `--activation` must be given, but got neither.")
        lines = []
        if args.activation:
            from kanlab.registry import ACTIVATIONS

            hp = dict(parse_overrides(args.overrides))
            for name in args.activation:
                act = ACTIVATIONS.build({"name": name, **hp})
                fn = getattr(act, "sympy", None)
                if not callable(fn):
                    raise UsageError(f"Activation {name!r} is not elementwise: no formula.")
                expr: sympy.Expr = tidy_constants(fn())
                lines.append(f"{name}: {to_latex(expr) if args.latex else expr}")
        if args.run_dir:
            _, model = _load_run(args.run_dir)
            lines.append(symbolic_report(model, x_range=_range(args.x_range),
                                         max_edges=args.max_edges, latex=args.latex,
                                         library=args.library))
        sys.stdout.write("\n".join(lines) + "\n")
        return 0


# --------------------------------------------------------------------------- match


def _parse_spec(text: str, overrides: Sequence[str]) -> dict[str, Any]:
    """A model spec from an experiment YAML path, an inline YAML mapping, or a model name."""
    from kanlab.config import apply_overrides, parse_overrides, read_yaml

    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        raw: dict[str, Any] = read_yaml(path)
        raw = apply_overrides(raw, parse_overrides(overrides))
        model = raw.get("model")
        if not isinstance(model, Mapping):
            raise UsageError(f"Experiment {text!r} has no `model` mapping.")
        return dict(model)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise UsageError(
            f"`MODEL_SPEC` must be a YAML file, mapping or name, but got {text!r}."
        ) from None
    spec = {"name": value} if isinstance(value, str) else value
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise UsageError(f"`MODEL_SPEC` must have a 'name', but got {text!r}.")
    return apply_overrides(dict(spec), parse_overrides(overrides))


def _check_model(spec: Mapping[str, Any], option: str) -> None:
    """A misspelt model name is a usage error (exit 2) with the closest name."""
    from kanlab.registry import MODELS

    try:
        MODELS.entry(spec["name"])
    except (ValueError, TypeError) as exc:
        raise UsageError(f"`{option}`: {exc}") from None


def _default_widths(target: dict[str, Any], text: str) -> None:
    """A bare model name takes its constructor's default ``widths`` (the matched MLP's)."""
    import inspect

    from kanlab.config import ConfigError
    from kanlab.registry import MODELS

    if "widths" in target:
        return
    param = inspect.signature(MODELS.get(target["name"])).parameters.get("widths")
    if param is None or param.default is inspect.Parameter.empty:
        raise ConfigError(
            f"`MODEL_SPEC` {text!r} has no `widths` to size the baseline from; give an "
            "experiment YAML or a mapping such as \"{name: kan_mlp, widths: [784, 64, 10], "
            "layer: fast_kan}\" (or --baseline with --knob)."
        )
    target["widths"] = list(param.default)


class MatchCommand(Command):
    """Size a baseline (default: an MLP's hidden width) to a model's parameters or FLOPs.

    MODEL_SPEC is an experiment YAML (its ``model`` section), an inline mapping such as
    ``"{name: kan_mlp, widths: [784, 64, 10], layer: fast_kan}"`` or a model name. Prints the
    matched baseline spec as YAML and as ``--set`` overrides. ``--set`` edits MODEL_SPEC
    (dotted paths as in ``kanlab train`` for a YAML file, relative to the model otherwise).
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model_spec", metavar="MODEL_SPEC",
                            help="experiment YAML, inline YAML mapping or model name")
        parser.add_argument("--to", default="params", choices=("params", "flops"),
                            help="budget to match: parameter count (default) or matmul FLOPs")
        parser.add_argument("--baseline", default=None,
                            help="baseline spec (YAML mapping; default: mlp with same widths)")
        parser.add_argument("--knob", default="widths", help="baseline width parameter")
        parser.add_argument("--input-shape", default=None,
                            help="per-sample input shape for FLOPs, e.g. 1,28,28")
        add_overrides_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        import shlex

        from kanlab.results.match import match_model

        target = _parse_spec(args.model_spec, args.overrides)
        _check_model(target, "MODEL_SPEC")
        if args.baseline is None and args.knob == "widths":
            _default_widths(target, args.model_spec)
        baseline = _parse_spec(args.baseline, ()) if args.baseline else None
        if baseline is not None:
            _check_model(baseline, "--baseline")
        if baseline is not None and "widths" in target and args.knob == "widths":
            baseline.setdefault("widths", list(target["widths"]))
        shape = None
        if args.input_shape:
            try:
                shape = tuple(int(s) for s in args.input_shape.replace("x", ",").split(","))
            except ValueError:
                raise UsageError(
                    f"`--input-shape` must be integers like 1,28,28, but got {args.input_shape!r}."
                ) from None
        m = match_model(target, to=args.to, baseline=baseline, knob=args.knob, input_shape=shape)
        sys.stdout.write(
            f"# target {args.to}: {m.budget:,}; matched {m.spec['name']} {m.knob}: "
            f"{m.cost:,} ({m.relative_error:+.2%})\n"
        )
        sys.stdout.write(yaml.safe_dump({"model": m.spec}, sort_keys=False,
                                        default_flow_style=None))
        sys.stdout.write(
            "# overrides: " + " ".join(f"--set {shlex.quote(o)}" for o in m.overrides()) + "\n"
        )
        return 0
