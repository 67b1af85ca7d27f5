"""Every registry entry of kanlab, in one hand-written table.

One line per entry: its key, where it lives (``"module:attr"``), its one-line summary and its
plain metadata (``kind`` of a layer, ``elementwise`` of an activation, ``task`` of a data
module, ``wiring``: arguments the builder passes itself, ``example_hparams``: the smallest
valid config, used by the contract suites, ``params``: a Lightning-free function with the
constructor's signature, :mod:`kanlab._signatures`).

``import kanlab`` loads this module, which declares every line in its registry
(:meth:`kanlab.registry.Registry.declare`): names, summaries and metadata are known at once
(``kanlab list`` imports no torch), and an entry's module is imported only when the entry is
built. kanlab's own classes also carry ``@LAYERS.register("key", **meta)`` at their
definition (it fills in the declared entry when the module is imported);
``tests/test_catalog.py`` checks that both agree (key, module, metadata, summary = first line
of the class docstring) and that every registering class has its line here.

This module is the composition root of the registries: it names modules by string and imports
only :mod:`kanlab.registry`, so the import graph stays acyclic (``tests/test_import_graph.py``).

Adding a component: write the class (with its decorator), then add its line below.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kanlab.registry import (
    ACTIVATIONS,
    CALLBACKS,
    DATAMODULES,
    LAYERS,
    MODELS,
    OPTIMIZERS,
    PRUNERS,
    SAMPLERS,
    SCHEDULERS,
    Registry,
)

__all__ = ["CATALOG", "REGISTRIES", "Item", "item"]


class Item(NamedTuple):
    """One catalog line: where the entry lives, its one-line summary, its plain metadata."""

    source: str
    summary: str
    meta: dict[str, Any]


def item(source: str, summary: str, **meta: Any) -> Item:
    """A catalog line (keyword arguments are the entry's metadata)."""
    return Item(source, summary, meta)


# `kanlab list` prints the registries in this order, under these (plural) names.
REGISTRIES: dict[str, Registry[Any]] = {
    "layers": LAYERS,
    "activations": ACTIVATIONS,
    "models": MODELS,
    "datamodules": DATAMODULES,
    "optimizers": OPTIMIZERS,
    "schedulers": SCHEDULERS,
    "callbacks": CALLBACKS,
    "samplers": SAMPLERS,
    "pruners": PRUNERS,
}

_SCHED = ("optimizer",)  # schedulers: the training system passes the optimiser

CATALOG: dict[str, dict[str, Item]] = {
    "layers": {
        "af_kan":       item("kanlab.layers.kan.af_kan:AFKANLinear", "AF-KAN layer: a pair of shifted activations per grid cell, reduced to one value per input.", kind="linear"),
        "b_spline_kan": item("kanlab.layers.kan.b_spline_kan:BSplineKANLinear", "Kolmogorov–Arnold layer with learnable B-spline edge functions and a SiLU base branch.", kind="linear"),
        "cheby_kan":    item("kanlab.layers.kan.cheby_kan:ChebyKANLinear", "KAN layer whose edge functions are Chebyshev series of the squashed input.", kind="linear"),
        "conv2d":       item("kanlab.layers.conv2d:Conv2d", "Plain 2-D convolution (``torch.nn.Conv2d``), the CNN baseline of the KAN conv layers.", kind="conv2d"),
        "fast_kan":     item("kanlab.layers.kan.fast_kan:FastKANLinear", "KAN layer whose per-input basis is a row of Gaussian bumps (RBF), plus a base branch.", kind="linear"),
        "gr_kan":       item("kanlab.layers.kan.gr_kan:GRKANLinear", "KAN layer whose edge functions are group-shared safe rationals, then one linear map.", kind="linear", example_hparams={"num_groups": 2}, mlp_fc1_hparams={"init": "identity"}),
        "kan_conv2d":   item("kanlab.layers.kan.kan_conv2d:KANConv2d", "2-D convolution whose kernel is a KAN layer over the flattened window.", kind="conv2d"),
        "linear":       item("kanlab.layers.linear:Linear", "Affine map y = x W^T + b (``torch.nn.Linear``): the MLP baseline and a plain MoE expert.", kind="linear"),
        "relu_kan":     item("kanlab.layers.kan.relu_kan:ReLUKANLinear", "KAN layer with squared ReLU-product bumps instead of B-splines.", kind="linear"),
        "s_conv_kan":   item("kanlab.layers.kan.s_conv_kan:SConvKAN2d", "Convolution whose kernel is an activation-space-selectable KAN layer (S-ConvKAN).", kind="conv2d"),
        "s_kan":        item("kanlab.layers.kan.s_kan:SKANLinear", "Activation-space-selectable KAN layer: each output node picks one candidate KAN space.", kind="linear"),
        "topk_moe":     item("kanlab.layers.sparse.topk_moe:TopKMoE", "Route each token to its k best experts and mix their outputs with a sparse softmax.", kind="linear", example_hparams={"num_experts": 4, "k": 2}),
        "wav_kan":      item("kanlab.layers.kan.wav_kan:WavKANLinear", "KAN layer whose edge functions are sums of dilated and translated wavelets.", kind="linear"),
    },
    "activations": {
        "abs_topk":      item("kanlab.layers.sparse.abs_topk:AbsTopK", "Keep the k entries of largest |z| in each row with their signs (hard thresholding).", elementwise=False, example_hparams={"k": 2}),
        "adaptive_topk": item("kanlab.layers.sparse.adaptive_topk:AdaptiveTopK", "Threshold sparsifier whose offset is steered toward a target density or entropy.", elementwise=False, example_hparams={"k": 2}),
        "batch_topk":    item("kanlab.layers.sparse.batch_topk:BatchTopK", "Keep the k * B largest (ReLU'd) entries of a batch of B rows; rows get varying counts.", elementwise=False, example_hparams={"k": 2}),
        "celu":          item("kanlab.layers.activations.celu:CELU", "Continuously differentiable ELU: the ELU whose derivative is continuous for any alpha.", elementwise=True),
        "crrelu":        item("kanlab.layers.activations.crrelu:CRReLU", "Correction Regularized ReLU: ReLU plus eps * x * exp(-x^2 / 2) with a learnable eps.", elementwise=True),
        "eafo":          item("kanlab.layers.activations.eafo:EAFO", "Entropy-based correction of a monotone base activation, derived symbolically.", elementwise=True),
        "elu":           item("kanlab.layers.activations.elu:ELU", "Exponential linear unit: identity for x > 0, a saturating exponential below.", elementwise=True),
        "g_topk":        item("kanlab.layers.sparse.g_topk:GTopK", "Top-k selection that favours latents with a large downstream-loss attribution.", elementwise=False, example_hparams={"k": 2}),
        "gelu":          item("kanlab.layers.activations.gelu:GELU", "Gaussian error linear unit: the input weighted by the standard normal CDF.", elementwise=True),
        "identity":      item("kanlab.layers.activations.identity:Identity", "The identity map, for linear baselines and ablations.", elementwise=True),
        "leaky_relu":    item("kanlab.layers.activations.leaky_relu:LeakyReLU", "ReLU with a small fixed slope for negative inputs.", elementwise=True),
        "mish":          item("kanlab.layers.activations.mish:Mish", "Mish, a smooth non-monotone self-gated activation.", elementwise=True),
        "prelu":         item("kanlab.layers.activations.prelu:PReLU", "Parametric ReLU: a leaky ReLU whose negative slope is learnt.", elementwise=True),
        "relu":          item("kanlab.layers.activations.relu:ReLU", "Rectified linear unit, the plain max(0, x).", elementwise=True),
        "selu":          item("kanlab.layers.activations.selu:SELU", "Scaled ELU with the fixed constants that make networks self-normalising.", elementwise=True),
        "sigmoid":       item("kanlab.layers.activations.sigmoid:Sigmoid", "Logistic sigmoid, a bounded squashing function onto (0, 1).", elementwise=True),
        "silu":          item("kanlab.layers.activations.silu:SiLU", "Sigmoid-weighted linear unit (Swish with beta = 1).", elementwise=True),
        "softplus":      item("kanlab.layers.activations.softplus:Softplus", "Softplus, a smooth strictly increasing approximation of ReLU.", elementwise=True),
        "stat_topk":     item("kanlab.layers.sparse.stat_topk:StatTopK", "Keep about k entries per row with a threshold from the row's mean and std (no sort).", elementwise=False, example_hparams={"k": 2, "grad_through_threshold": True}),
        "stkim":         item("kanlab.layers.sparse.stkim:STKIM", "Attention softmax that, in training, masks a random part of its top-k instances.", elementwise=False, example_hparams={"k": 2, "mask_drop": 0.0}),
        "tanh":          item("kanlab.layers.activations.tanh:Tanh", "Hyperbolic tangent, a bounded squashing function onto (-1, 1).", elementwise=True),
        "top_afa":       item("kanlab.layers.sparse.top_afa:TopAFA", "Keep the smallest energy-sorted prefix whose decoded norm best matches a target norm.", elementwise=False, example_hparams={}),
        "topk":          item("kanlab.layers.sparse.topk:TopK", "Keep the k largest entries of each row (optionally followed by a ReLU), zero the rest.", elementwise=False, example_hparams={"k": 2}),
    },
    "models": {
        "kan_convnet":   item("kanlab.models.kan_convnet:KANConvNet", "Conv blocks (KAN or plain convolutions) followed by a KAN or linear classifier."),
        "kan_mlp":       item("kanlab.models.kan_mlp:KANMLP", "Fully connected KAN ``widths[0] -> ... -> widths[-1]`` built from one layer spec."),
        "mlp":           item("kanlab.models.mlp:MLP", "Fully connected network ``widths[0] -> ... -> widths[-1]`` with a chosen activation."),
        "timm_backbone": item("kanlab.models.timm_backbone:TimmBackbone", "A ``timm.create_model`` network with kanlab activations, KAN MLP blocks or KAN convs.", example_hparams={"arch": "resnet18"}),
    },
    "datamodules": {
        "cifar10":            item("kanlab.data.cifar10:CIFAR10DataModule", "CIFAR-10: 32x32 RGB images, 10 classes; ``augment: basic`` = random crop + flip.", task="classification", params="kanlab._signatures:image_data"),
        "cifar100":           item("kanlab.data.cifar100:CIFAR100DataModule", "CIFAR-100: 32x32 RGB images, 100 classes; ``augment: basic`` = random crop + flip.", task="classification", params="kanlab._signatures:image_data"),
        "fashion_mnist":      item("kanlab.data.fashion_mnist:FashionMNISTDataModule", "Fashion-MNIST: 28x28 grey clothing images, 10 classes; mean/std 0.2860/0.3530.", task="classification", params="kanlab._signatures:image_data"),
        "mnist":              item("kanlab.data.mnist:MNISTDataModule", "MNIST digits: 28x28 grey images, 10 classes; validation carved from the 60k train set.", task="classification", params="kanlab._signatures:image_data"),
        "svhn":               item("kanlab.data.svhn:SVHNDataModule", 'SVHN (cropped digits, without the "extra" split): 32x32 RGB, 10 classes.', task="classification", params="kanlab._signatures:image_data"),
        "synthetic":          item("kanlab.data.synthetic:SyntheticDataModule", "Regression on a named closed-form function of uniform inputs on [-1, 1]^n.", task="regression", params="kanlab._signatures:synthetic_data"),
        "tiny_fashion_mnist": item("kanlab.data.tiny_fashion_mnist:TinyFashionMNISTDataModule", "Fashion-MNIST cut to 1,200 training-pool images (1,000 train + 200 val) and 200 test.", task="classification", params="kanlab._signatures:image_data"),
    },
    "optimizers": {
        "adam":    item("torch.optim:Adam", "Adam."),
        "adamw":   item("torch.optim:AdamW", "AdamW (decoupled weight decay)."),
        "lbfgs":   item("kanlab.optim:LBFGS", "L-BFGS (full-batch; for function fitting)."),
        "rmsprop": item("torch.optim:RMSprop", "RMSprop."),
        "sgd":     item("torch.optim:SGD", "SGD with optional momentum/Nesterov."),
    },
    "schedulers": {
        "cosine":      item("torch.optim.lr_scheduler:CosineAnnealingLR", "Cosine decay to eta_min over T_max epochs.", wiring=_SCHED, example_hparams={"T_max": 10}),
        "exponential": item("torch.optim.lr_scheduler:ExponentialLR", "lr *= gamma after every epoch.", wiring=_SCHED, example_hparams={"gamma": 0.9}),
        "linear":      item("torch.optim.lr_scheduler:LinearLR", "Linear warm-up/decay of the lr factor.", wiring=_SCHED, example_hparams={}),
        "multistep":   item("torch.optim.lr_scheduler:MultiStepLR", "lr *= gamma at each milestone epoch.", wiring=_SCHED, example_hparams={"milestones": [2, 4]}),
        "plateau":     item("torch.optim.lr_scheduler:ReduceLROnPlateau", "lr *= factor when val/loss stops improving.", wiring=_SCHED, example_hparams={}),
        "step":        item("torch.optim.lr_scheduler:StepLR", "lr *= gamma every step_size epochs.", wiring=_SCHED, example_hparams={"step_size": 2}),
    },
    "callbacks": {
        "grid_update":   item("kanlab.lit.grid_update:GridUpdate", "Call ``model.update_grid(x)`` on the first training batch of selected epochs.", params="kanlab._signatures:grid_update"),
        "skan_schedule": item("kanlab.lit.skan_schedule:SKANSchedule", "Switch an S-KAN model's stage at fixed epochs and re-create the optimiser.", example_hparams={"selective_epoch": 1}, params="kanlab._signatures:skan_schedule"),
    },
    "samplers": {
        "brute_force": item("optuna.samplers:BruteForceSampler", "Enumerates a discrete (also conditional) space exhaustively."),
        "cmaes":       item("optuna.samplers:CmaEsSampler", "CMA-ES for flat numeric spaces (falls back to random otherwise)."),
        "gp":          item("optuna.samplers:GPSampler", "Gaussian-process Bayesian optimisation (numeric spaces)."),
        "grid":        item("optuna.samplers:GridSampler", "Every combination of the space's values (stops when exhausted).", wiring=("search_space",)),
        "nsga2":       item("optuna.samplers:NSGAIISampler", "NSGA-II genetic algorithm (multi-objective)."),
        "nsga3":       item("optuna.samplers:NSGAIIISampler", "NSGA-III genetic algorithm (many objectives)."),
        "qmc":         item("optuna.samplers:QMCSampler", "Quasi-Monte Carlo (Sobol/Halton) space filling."),
        "random":      item("optuna.samplers:RandomSampler", "Independent uniform sampling."),
        "tpe":         item("optuna.samplers:TPESampler", "Tree-structured Parzen estimator (default; handles conditional spaces)."),
    },
    "pruners": {
        "hyperband":          item("optuna.pruners:HyperbandPruner", "Hyperband: several successive-halving brackets."),
        "median":             item("kanlab.search.pruners:MedianPruner", "Stop when below the median of earlier trials at the same epoch."),
        "none":               item("optuna.pruners:NopPruner", "Never prune."),
        "percentile":         item("kanlab.search.pruners:PercentilePruner", "Stop when below a percentile of earlier trials at the same epoch.", example_hparams={"percentile": 25.0}),
        "successive_halving": item("optuna.pruners:SuccessiveHalvingPruner", "Asynchronous successive halving (keeps the top 1/eta per rung)."),
        "threshold":          item("optuna.pruners:ThresholdPruner", "Stop when the metric crosses fixed lower/upper bounds.", example_hparams={"lower": 0.1}),
    },
}

for _kind, _lines in CATALOG.items():
    for _name, (_source, _summary, _meta) in _lines.items():
        REGISTRIES[_kind].declare(_name, _source, summary=_summary, **_meta)
