"""Results: leaderboards, plots, symbolic export and fair-comparison sizing.

Everything here reads what training and search wrote (``runs.jsonl``, exported study files,
run directories); nothing here trains. Submodules are imported on use, so
``import kanlab.results`` stays cheap:

- :mod:`kanlab.results.leaderboard`: ``runs.jsonl`` + study exports -> Markdown/CSV/HTML tables,
  put together from :mod:`~kanlab.results.records` (data model), :mod:`~kanlab.results.reading`,
  :mod:`~kanlab.results.aggregate` (statistics), :mod:`~kanlab.results.columns`,
  :mod:`~kanlab.results.notes` and :mod:`~kanlab.results.render`.
- :mod:`kanlab.results.manifest`: a results directory's ``reproduce.yaml``, for
  :mod:`kanlab.results.reproduce` (``kanlab reproduce``) and the leaderboard alike.
- :mod:`kanlab.results.match`: size a baseline (an MLP's hidden width) to a model's budget.
- :mod:`kanlab.results.symbolic`: sympy formulas of activations and fitted KAN edges.
- :mod:`kanlab.results.plots`: matplotlib (Agg) PNG figures.
"""

from __future__ import annotations

__all__: list[str] = []
