"""EAFO: symbolic derivation, CRReLU relation, entropy decrease, running stats, refusals."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
import sympy
import torch
from torch.func import functional_call
from torch.nn import functional as F

import kanlab
from kanlab.cli import main
from kanlab.layers.activations._base import X
from kanlab.layers.activations.crrelu import CRReLU
from kanlab.layers.activations.eafo import EAFO, EPS, MU, SIGMA, derive
from kanlab.registry import ACTIVATIONS

F64 = torch.float64
PHI = sympy.exp(-(X**2) / 2) / sympy.sqrt(2 * sympy.pi)   # standard normal density


def _same(a: sympy.Expr, b: sympy.Expr) -> bool:
    return sympy.simplify(a - b) == 0


def test_relu_derivation_is_the_crrelu_case() -> None:
    d = derive("relu")
    assert d.ratio == 0                                    # f'' = 0, f''/f' := 0 on the flat half
    standard = d.correction.subs({MU: 0, SIGMA: 1})
    assert _same(standard, -EPS * X * PHI)                 # eps * p'(x) = -eps x phi(x)
    assert _same(EAFO.derive("relu"), d.correction)


def test_softplus_derivation_matches_hand_formula() -> None:
    d = derive("softplus")
    assert _same(d.d1, 1 / (1 + sympy.exp(-X)))            # sigmoid
    assert _same(d.ratio, 1 / (1 + sympy.exp(X)))          # f''/f' = sigmoid(-x)
    p = sympy.exp(-((X - MU) ** 2) / (2 * SIGMA**2)) / (sympy.sqrt(2 * sympy.pi) * SIGMA)
    hand = EPS * (sympy.diff(p, X) - p / (1 + sympy.exp(X)))
    assert _same(d.correction, hand)


@pytest.mark.parametrize(("base", "ratio"), [
    ("tanh", -2 * sympy.tanh(X)),
    ("sigmoid", -sympy.tanh(X / 2)),
    ("identity", sympy.S.Zero),
    ("leaky_relu", sympy.S.Zero),
])
def test_other_bases_ratio(base: str, ratio: sympy.Expr) -> None:
    assert _same(derive(base).ratio, ratio)


def test_crrelu_equals_eafo_relu_with_scaled_eps() -> None:
    eps = 0.37
    crrelu = CRReLU(eps=eps, dtype=F64)
    eafo = EAFO(base="relu", eps=-math.sqrt(2 * math.pi) * eps, dtype=F64).eval()
    x = torch.linspace(-5, 5, 201, dtype=F64)
    torch.testing.assert_close(eafo(x), crrelu(x))


def test_softplus_forward_matches_hand_formula_with_running_stats() -> None:
    act = EAFO(base="softplus", eps=0.2, dtype=F64).eval()
    act.running_mean.fill_(0.5)
    act.running_var.fill_(4.0)
    x = torch.tensor([-3.0, -1.0, 0.0, 0.5, 2.0, 6.0], dtype=F64)
    mu, sigma = 0.5, 2.0
    p = torch.exp(-((x - mu) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    expected = F.softplus(x) - 0.2 * p * ((x - mu) / sigma**2 + torch.sigmoid(-x))
    torch.testing.assert_close(act(x), expected)
    value = act.sympy().subs(X, sympy.Rational(1, 2))      # .sympy() carries the same numbers
    assert math.isclose(float(value), float(expected[3]), rel_tol=1e-12)


def _entropy_change(eps: float, x: torch.Tensor) -> float:
    """H(f(X)) - H(X) = E[log f'(X)], Monte Carlo over the samples x ~ N(0, 1)."""
    act = EAFO(base="softplus", eps=eps, dtype=F64).eval()  # standard running stats
    x = x.clone().requires_grad_(True)
    (slope,) = torch.autograd.grad(act(x).sum(), x)
    assert (slope > 0).all()
    return float(torch.log(slope).mean())


def test_small_positive_eps_lowers_output_entropy() -> None:
    x = torch.randn(200_000, generator=torch.Generator().manual_seed(0), dtype=F64)
    h0, h1, h2 = (_entropy_change(e, x) for e in (0.0, 0.01, 0.1))
    assert abs(h0 - -0.80606) < 0.01                     # reference brief A3 values
    assert h2 < h1 < h0                                   # same samples: a clean comparison
    assert abs((h1 - h0) - (-0.80879 - -0.80606)) < 5e-4
    assert abs((h2 - h0) - (-0.83444 - -0.80606)) < 3e-3


def test_running_stats_update_in_train_mode_only() -> None:
    act = EAFO(base="tanh", momentum=0.1, dtype=F64)
    assert float(act.running_mean) == 0.0 and float(act.running_var) == 1.0
    x = torch.randn(4096, generator=torch.Generator().manual_seed(0), dtype=F64) * 2 + 3
    act(x)
    torch.testing.assert_close(act.running_mean, 0.1 * x.mean())
    torch.testing.assert_close(act.running_var, 0.9 + 0.1 * x.var())
    frozen = act.running_mean.clone(), act.running_var.clone()
    act.eval()
    y = act(x)
    assert torch.equal(act.running_mean, frozen[0]) and torch.equal(act.running_var, frozen[1])
    torch.testing.assert_close(act(x[:3]), y[:3])         # eval output is batch-independent
    assert set(act.state_dict()) >= {"eps", "running_mean", "running_var"}


@pytest.mark.parametrize("base", ["softplus", "tanh", "elu", "sigmoid"])
def test_gradcheck_eval_including_eps(base: str) -> None:
    act = EAFO(base=base, eps=0.3, dtype=F64).eval()
    act.running_mean.fill_(0.2)
    act.running_var.fill_(1.5)
    x = torch.tensor([-2.1, -0.7, 0.35, 1.3, 2.4], dtype=F64, requires_grad=True)
    e = torch.tensor(0.3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, e: functional_call(act, {"eps": e}, (x,)), (x, e))


def test_large_inputs_stay_finite_in_float32() -> None:
    for base in ("softplus", "sigmoid", "tanh", "elu"):
        act = EAFO(base=base, eps=0.5)
        act.running_var.fill_(1e4)                         # wide p: the ratio matters far out
        x = torch.tensor([-1e4, -300.0, -90.0, 0.0, 90.0, 300.0, 1e4], requires_grad=True)
        y = act.eval()(x)
        y.sum().backward()
        assert torch.isfinite(y).all() and x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("base", ["silu", "gelu", "mish"])
def test_non_monotone_bases_are_refused(base: str) -> None:
    with pytest.raises(ValueError, match=rf"`base` must be a non-decreasing activation .* "
                                         rf"base='{base}' with f'\(.*\) = .* < 0"):
        EAFO(base=base)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": "softpluss"}, r"`base`: Unknown activation 'softpluss'\. Did you mean "
                                r"'softplus'\?"),
        ({"base": "eafo"}, r"`base` must not be an EAFO module"),
        ({"momentum": 1.5}, r"`momentum` must be in \[0, 1\], but got momentum=1\.5"),
        ({"eps": float("inf")}, r"`eps` must be a finite number, but got eps=inf"),
        ({"inplace": 1}, r"`inplace` must be a bool, but got inplace=1"),
        ({"base": {"name": "prelu", "init": -0.5}}, r"non-decreasing"),
        ({"base": {"name": "softplus", "beta": 0}}, r"`beta` must be > 0, but got beta=0"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EAFO(**kwargs)  # type: ignore[arg-type]


def test_non_elementwise_base_is_refused() -> None:
    sparse = [e.name for e in ACTIVATIONS.entries() if not e.meta.get("elementwise", False)]
    assert "topk" in sparse
    with pytest.raises(ValueError, match=r"`base` must be an elementwise activation"):
        EAFO(base="topk")


def test_spec_factory_copy_and_pickle() -> None:
    act = kanlab.create_activation("eafo", base={"name": "softplus", "beta": 2.0}, eps=0.05)
    assert isinstance(act, EAFO) and act.no_weight_decay() == {"eps"}
    assert "base='softplus'" in repr(act)
    x = torch.randn(8)
    act.eval()
    for clone in (copy.deepcopy(act), pickle.loads(pickle.dumps(act))):
        torch.testing.assert_close(clone(x), act(x))
    assert "\\frac" in act.formula_latex() or "e^" in act.formula_latex()


def test_info_extra_default_and_tanh(capsys: pytest.CaptureFixture[str]) -> None:
    text = EAFO.info_extra()
    assert "base='softplus'" in text and "1/(exp(x) + 1)" in text and "\\Delta f(x)" in text
    assert "-2*tanh(x)" in EAFO.info_extra(base="tanh")
    with pytest.raises(ValueError, match="EAFO hyperparameters.*'bsae'. Did you mean 'base'"):
        EAFO.info_extra(bsae="tanh")
    assert main(["info", "eafo", "--set", "base=tanh"]) == 0
    out = capsys.readouterr().out
    assert "f''(x)/f'(x) = -2*tanh(x)" in out and "LaTeX" in out


@pytest.mark.parametrize("name", ["eafo", "crrelu"])
def test_runs_on_test_device(name: str, device: torch.device) -> None:
    """Device-agnostic: matches the CPU result ($KANLAB_TEST_DEVICE=cuda checks a GPU)."""
    cpu = kanlab.create_activation(name, eps=0.2)
    moved = copy.deepcopy(cpu).to(device)
    x = torch.randn(3, 7) * 3
    y = moved(x.to(device))
    y.sum().backward()
    torch.testing.assert_close(y.detach().cpu(), cpu(x).detach())
    assert moved.eps.grad is not None and moved.eps.grad.device.type == device.type


def test_info_extra_several_unknown_keys_one_sentence() -> None:
    """Several unknown keys: one 'Did you mean' naming each key's closest hyperparameter."""
    with pytest.raises(ValueError, match=r"but got 'bsae', 'epz', 'zzz'\. Did you mean "
                       r"'base' for 'bsae', 'eps' for 'epz'\?$") as info:
        EAFO.info_extra(bsae="tanh", epz=0.1, zzz=1)
    assert str(info.value).count("Did you mean") == 1
