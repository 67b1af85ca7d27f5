"""S-KAN: a KAN layer whose output nodes each select an activation space from a pool."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from kanlab.checks import check_choice, check_positive
from kanlab.layers.kan._linear_base import KANLinearBase
from kanlab.registry import LAYERS, LayerSpec

__all__ = ["DEFAULT_CANDIDATES", "STAGES", "SKANLinear", "slice_outputs"]

Stage = Literal["full", "selective", "pruned"]

STAGES: tuple[str, ...] = ("full", "selective", "pruned")
DEFAULT_CANDIDATES: tuple[str, ...] = (
    "b_spline_kan",
    "fast_kan",
    "cheby_kan",
    "wav_kan",
    "relu_kan",
)


def _spec_name(spec: LayerSpec) -> str:
    name = spec.get("name") if isinstance(spec, Mapping) else spec
    if isinstance(name, str):
        return LAYERS.entry(name).name                           # raises with a suggestion
    if callable(name):
        return str(getattr(name, "__name__", "candidate")).lower()
    raise ValueError(
        f"`candidates[i]` must be a layer name, a {{name: ...}} mapping or a class, "
        f"but got candidates[i]={spec!r}."
    )


def _check_linear(spec: LayerSpec) -> None:
    name = spec.get("name") if isinstance(spec, Mapping) else spec
    if isinstance(name, str):
        kind = LAYERS.entry(name).meta.get("kind", "linear")
        if kind != "linear" or LAYERS.entry(name).target is SKANLinear:
            raise ValueError(
                f"`candidates` must name linear KAN layers other than s_kan, "
                f"but got candidates[i]={name!r} (kind {kind!r})."
            )


def slice_outputs(old: nn.Module, new: nn.Module, rows: torch.Tensor, out_features: int) -> None:
    """Load into ``new`` (built with ``len(rows)`` outputs) the output ``rows`` of ``old``.

    Every tensor of ``new``'s state dict must match ``old``'s except along one dimension,
    whose size is ``out_features`` (or ``out_features * m``, output-major) in ``old`` and
    ``len(rows)`` (``len(rows) * m``) in ``new``; that dimension is indexed with ``rows``.

    Raises:
        RuntimeError: if a tensor does not fit this pattern (the layer cannot be pruned).
    """
    kept = rows.numel()
    old_state = old.state_dict()
    state: dict[str, torch.Tensor] = {}
    for key, target in new.state_dict().items():
        source = old_state[key]
        if source.shape == target.shape:
            state[key] = source
            continue
        dims = [d for d in range(source.dim()) if source.shape[d] != target.shape[d]]
        d = dims[0] if len(dims) == 1 and source.dim() == target.dim() else -1
        size = source.shape[d]
        if d < 0 or size % out_features or target.shape[d] != kept * (size // out_features):
            raise RuntimeError(
                f"Cannot prune {type(old).__name__}: its tensor {key!r} has shape "
                f"{tuple(source.shape)}, which does not split into {out_features} output rows."
            )
        m = size // out_features
        split = source.unflatten(d, (out_features, m))            # (..., O, m, ...)
        state[key] = split.index_select(d, rows.to(source.device)).flatten(d, d + 1)
    new.load_state_dict(state)


@LAYERS.register("s_kan", kind="linear")
class SKANLinear(KANLinearBase):
    """Activation-space-selectable KAN layer: each output node picks one candidate KAN space.

    Yang et al., "Activation Space Selectable Kolmogorov-Arnold Networks", arXiv:2408.08338.

    Every candidate c in ``candidates`` is a complete registered linear KAN layer
    ``in_features -> out_features`` (B-spline, RBF, Chebyshev, wavelet, ReLU-bump spaces by
    default). Output node o holds selection logits ``alpha[o, :]``:

        full:       y_o = sum_c softmax(alpha[o] / T)_c * y_{c,o}(x)
        selective:  y_o = y_{s_o, o}(x),   s_o = argmax_c alpha[o, c]   (fixed at the switch)
        pruned:     as selective, but candidate c keeps only the output rows {o : s_o = c}

    with T = ``temperature``. Shapes: ``(*, in_features) -> (*, out_features)``.

    Stages move forward only, through :meth:`to_stage` (``prune()`` = ``to_stage("pruned")``):
    ``full`` trains every candidate and ``alpha``; ``selective`` freezes ``alpha`` and the
    candidates chosen by no node and drops them from the graph; ``pruned`` deletes those
    candidates and slices the others to their selected rows, so the parameter count drops while
    the output stays exactly the selective one. The stage and the selection are buffers
    (``stage_index``, ``selected``): loading a state dict of any stage rebuilds the candidates
    to the right shapes first, so a pruned checkpoint loads into a freshly built layer.

    Deviations: the paper's code is not public, so the mechanism above is our design. The
    granularity is one selection per output node (the paper's "each node selects its
    activation mode"); selection is a temperature softmax (no Gumbel noise) in the full stage
    and a hard argmax afterwards (ties, e.g. an untrained ``alpha``, pick the first candidate),
    so the selective stage drops the softmax weight of the chosen candidate (training continues
    from there). In the selective stage the unselected output
    rows of a chosen candidate still get (zero) gradients; weight decay, if any, still shrinks
    them, which does not matter because pruning removes them. ``alpha`` is exempt from weight
    decay. Pruning assumes output rows are independent (true for every basis -> linear layer);
    a candidate mixing outputs (e.g. a norm over outputs) refuses to be pruned. Rows are
    processed in chunks (``chunk_size``). Differentiable to any order and usable under
    ``torch.func`` transforms whenever its candidates are (every registered KAN layer is).

    Args:
        in_features: Input width.
        out_features: Output width (number of selecting nodes).
        candidates: Candidate activation spaces: layer names, ``{name: ..., **hparams}``
            specs or classes; each is built as ``LAYERS.build(spec, in_features,
            out_features)``. Repeated names get suffixes ``_2``, ``_3``, ... in ``candidates``.
        temperature: Softmax temperature T of the full stage; > 0.
        chunk_size: Rows processed at once; ``None`` = automatic (256 MiB of the active
            candidates' bases together).
        device: Parameter device.
        dtype: Parameter dtype.

    Raises:
        ValueError: for no candidates, an unknown or non-linear candidate layer (with a
            suggestion), a non-positive temperature, an unknown stage or a backward stage
            change, or an input whose last dim is not ``in_features``.
    """

    stage_index: torch.Tensor
    selected: torch.Tensor
    _local: torch.Tensor

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        candidates: Sequence[LayerSpec] = DEFAULT_CANDIDATES,
        temperature: float = 1.0,
        chunk_size: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if isinstance(candidates, (str, Mapping)) or len(candidates) == 0:
            raise ValueError(
                f"`candidates` must be a non-empty list of layer specs, "
                f"but got candidates={candidates!r}."
            )
        super().__init__(in_features, out_features, chunk_size=chunk_size)
        check_positive("temperature", temperature)
        self.temperature = float(temperature)
        self._factory = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
        self._specs: dict[str, LayerSpec] = {}
        for spec in candidates:
            base = _spec_name(spec)
            _check_linear(spec)
            name, i = base, 1
            while name in self._specs:
                i += 1
                name = f"{base}_{i}"
            self._specs[name] = dict(spec) if isinstance(spec, Mapping) else spec
        self.candidate_names: tuple[str, ...] = tuple(self._specs)
        self._trainable: dict[str, set[str]] = {}
        self.candidates = nn.ModuleDict(
            {name: self._build(name, out_features) for name in self.candidate_names}
        )
        n = len(self.candidate_names)
        self.alpha = nn.Parameter(torch.empty(out_features, n, device=device, dtype=dtype))
        self.register_buffer("stage_index", torch.zeros((), dtype=torch.long, device=device))
        self.register_buffer(
            "selected", torch.zeros(out_features, dtype=torch.long, device=device)
        )
        self.register_buffer("_local", torch.zeros(0, dtype=torch.long), persistent=False)
        self._stage: str = "full"
        self._active: tuple[str, ...] = self.candidate_names
        self.num_bases = self._active_bases()
        self.reset_parameters()

    def _build(self, name: str, out_features: int, **factory: Any) -> nn.Module:
        layer: nn.Module = LAYERS.build(
            self._specs[name], self.in_features, out_features, **(factory or self._factory)
        )
        self._trainable[name] = {n for n, p in layer.named_parameters() if p.requires_grad}
        return layer

    def _train_candidate(self, name: str, on: bool) -> None:
        """Switch a candidate's parameters on or off, keeping those it froze itself frozen."""
        for pname, p in self.candidates[name].named_parameters():
            p.requires_grad_(on and pname in self._trainable[name])

    def reset_parameters(self) -> None:
        """Uniform selection logits (candidates reset themselves when built)."""
        nn.init.zeros_(self.alpha)

    @property
    def stage(self) -> str:
        """Current stage: ``full``, ``selective`` or ``pruned``."""
        return self._stage

    def selection(self) -> torch.Tensor:
        """Index into ``candidate_names`` chosen by each output node, ``(out_features,)``."""
        if self._stage == "full":
            return self.alpha.detach().argmax(-1)
        return self.selected.clone()

    def selection_weights(self) -> torch.Tensor:
        """Softmax selection weights ``(out_features, n_candidates)`` of the full stage."""
        return torch.softmax(self.alpha.detach() / self.temperature, dim=-1)

    def to_stage(self, stage: Stage) -> None:
        """Move to ``stage``; stages only move forward (full -> selective -> pruned)."""
        check_choice("stage", stage, STAGES)
        target, current = STAGES.index(stage), STAGES.index(self._stage)
        if target < current:
            raise ValueError(
                f"`stage` must not go back from {self._stage!r} (stages only move forward), "
                f"but got stage={stage!r}."
            )
        if target == current:
            return
        if self._stage == "full":
            with torch.no_grad():
                self.selected.copy_(self.alpha.argmax(-1))
        if stage == "pruned":
            self._prune_candidates()
        self._set_stage(stage)

    def prune(self) -> None:
        """Remove unselected candidates and rows: ``to_stage("pruned")``."""
        self.to_stage("pruned")

    def _rows(self, name: str) -> torch.Tensor:
        index = self.candidate_names.index(name)
        return (self.selected == index).nonzero().flatten()        # (kept,)

    def _prune_candidates(self) -> None:
        for name in self.candidate_names:
            old = self.candidates[name]
            rows = self._rows(name)
            if rows.numel() == 0:
                del self.candidates[name]
            elif rows.numel() < self.out_features:
                ref = next(iter(old.state_dict().values()), self.alpha)
                new = self._build(name, rows.numel(), device=ref.device, dtype=ref.dtype)
                slice_outputs(old, new, rows, self.out_features)
                self.candidates[name] = new

    def _active_bases(self) -> int:
        """Basis functions per input of the active candidates together (the chunk budget)."""
        return sum(int(getattr(self.candidates[n], "num_bases", 1)) for n in self._active)

    def _set_stage(self, stage: str) -> None:
        """Record ``stage`` and derive the active candidates, gathers and trainable flags."""
        self._stage = stage
        self.stage_index.fill_(STAGES.index(stage))
        if stage == "full":
            self._active = self.candidate_names
            self.num_bases = self._active_bases()
            self.alpha.requires_grad_(True)
            for name in self.candidates:
                self._train_candidate(name, True)
            return
        used = set(self.selected.tolist())
        self._active = tuple(
            n for i, n in enumerate(self.candidate_names) if i in used and n in self.candidates
        )
        self.num_bases = self._active_bases()
        self.alpha.requires_grad_(False)
        for name in self.candidates:
            self._train_candidate(name, name in self._active)
        if stage == "selective":
            position = {self.candidate_names.index(n): j for j, n in enumerate(self._active)}
            local = [position[int(i)] for i in self.selected.tolist()]
        else:
            order = torch.cat([self._rows(n) for n in self._active])  # output of each column
            local = torch.argsort(order).tolist()
        self._local = torch.tensor(local, dtype=torch.long, device=self.selected.device)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        stage_t = state_dict.get(prefix + "stage_index")
        selected = state_dict.get(prefix + "selected")
        if stage_t is not None and selected is not None and selected.shape == self.selected.shape:
            stage = STAGES[int(stage_t)]
            if stage != self._stage or not torch.equal(selected.cpu(), self.selected.cpu()):
                self._restructure(stage, selected)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _restructure(self, stage: str, selected: torch.Tensor) -> None:
        """Rebuild candidates with the shapes of ``stage`` and ``selected`` (values reloaded)."""
        ref = self.alpha
        with torch.no_grad():
            self.selected.copy_(selected)
        for name in self.candidate_names:
            if stage == "pruned":
                kept = self._rows(name).numel()
                if kept == 0:
                    if name in self.candidates:
                        del self.candidates[name]
                    continue
            else:
                kept = self.out_features
            current = self.candidates[name] if name in self.candidates else None
            if current is None or getattr(current, "out_features", None) != kept:
                self.candidates[name] = self._build(
                    name, kept, device=ref.device, dtype=ref.dtype
                )
        self._set_stage(stage)

    def forward_rows(self, x: torch.Tensor) -> torch.Tensor:
        """The selection on a ``(n, in_features)`` block -> ``(n, out_features)``."""
        ys = [self.candidates[name](x) for name in self._active]   # each (*, O) or (*, O_c)
        if self._stage == "full":
            weights = torch.softmax(self.alpha / self.temperature, dim=-1)  # (O, C)
            return (torch.stack(ys, dim=-1) * weights).sum(-1)     # (*, O, C) -> (*, O)
        if self._stage == "selective":
            stacked = torch.stack(ys, dim=-1)                       # (*, O, A)
            index = self._local.expand(*stacked.shape[:-1]).unsqueeze(-1)  # (*, O, 1)
            return stacked.gather(-1, index).squeeze(-1)            # (*, O)
        return torch.cat(ys, dim=-1)[..., self._local]              # (*, O) in node order

    def update_grid(self, x: torch.Tensor, margin: float = 0.01) -> None:
        """Update the grids of the active candidates that have one, from the input ``x``."""
        for name in self._active:
            update = getattr(self.candidates[name], "update_grid", None)
            if callable(update):
                update(x, margin)

    def regularization_loss(
        self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0
    ) -> torch.Tensor:
        """Sum of the active candidates' regularization losses (0 when none has one)."""
        total = self.alpha.new_zeros(())
        for name in self._active:
            loss = getattr(self.candidates[name], "regularization_loss", None)
            if callable(loss):
                total = total + loss(regularize_activation, regularize_entropy)
        return total

    def no_weight_decay(self) -> set[str]:
        """``alpha`` plus the candidates' own no-decay parameters."""
        names = {"alpha"}
        for name, layer in self.candidates.items():
            exempt = getattr(layer, "no_weight_decay", None)
            if callable(exempt):
                names |= {f"candidates.{name}.{p}" for p in exempt()}
        return names

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, "
            f"candidates={list(self.candidate_names)}, temperature={self.temperature}, "
            f"stage={self._stage!r}"
        )
