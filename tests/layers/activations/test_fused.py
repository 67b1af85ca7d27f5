"""Fused CRReLU / EAFO: values and gradients of every order against the sympy reference.

The fused path (one ``autograd.Function`` with a closed-form backward, ``_fused.py``) must give
what the symbolic forms give: values and first derivatives (x and eps) compared with
derivatives that sympy takes of ``act.sympy()``, second derivatives through double backward,
``gradcheck``/``gradgradcheck`` in float64, and ``torch.func`` transforms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import sympy
import torch
from torch.func import functional_call

import kanlab
from kanlab.layers.activations import _fused
from kanlab.layers.activations import eafo as eafo_module
from kanlab.layers.activations._base import X
from kanlab.layers.activations.crrelu import CRReLU, crrelu
from kanlab.layers.activations.eafo import EAFO, closed_base, derive

F64 = torch.float64
FUSED_BASES = ["relu", "softplus", "tanh", "sigmoid", "identity", "leaky_relu", "elu"]
EPS_SYMBOL = sympy.Symbol("e", real=True)


def _grid(n: int = 257) -> torch.Tensor:
    """Points on [-6, 6] that avoid x = 0 exactly (kinks of relu-like bases)."""
    return torch.linspace(-6.0, 6.0, n, dtype=F64) + 0.0123


def _module(name: str, **hp: Any) -> torch.nn.Module:
    if name == "crrelu":
        return CRReLU(dtype=F64, **hp)
    act = EAFO(base=name, dtype=F64, **hp).eval()
    act.running_mean.fill_(0.3)
    act.running_var.fill_(1.7)
    return act


def _sympy_reference(act: torch.nn.Module) -> tuple[Any, Any, Any, Any]:
    """lambdified f, df/dx, d2f/dx2 and df/deps of act.sympy() with eps made a symbol."""
    eps = float(act.eps.detach())
    expr = act.sympy()
    f0 = _with_eps(act, 0.0)              # the formula is linear in eps: f = f0 + eps * g
    g = sympy.expand((expr - f0) / eps) if eps else sympy.S.Zero
    full = f0 + EPS_SYMBOL * g
    parts = [full, sympy.diff(full, X), sympy.diff(full, X, 2), sympy.diff(full, EPS_SYMBOL)]
    parts = [p.replace(sympy.DiracDelta, lambda *a: sympy.S.Zero) for p in parts]  # x != 0
    fns = [sympy.lambdify((X, EPS_SYMBOL), p, modules=["scipy", "numpy"]) for p in parts]
    return tuple(lambda x, fn=fn: np.broadcast_to(fn(x, eps), x.shape) for fn in fns)


def _with_eps(act: torch.nn.Module, value: float) -> sympy.Expr:
    saved = act.eps.detach().clone()
    with torch.no_grad():
        act.eps.fill_(value)
    try:
        return act.sympy()
    finally:
        with torch.no_grad():
            act.eps.copy_(saved)


def _is_fused(y: torch.Tensor) -> bool:
    return y.grad_fn is not None and "PointwiseFunction" in type(y.grad_fn).__name__


@pytest.mark.parametrize("name", ["crrelu", *FUSED_BASES])
def test_values_and_derivatives_match_sympy(name: str) -> None:
    act = _module(name, eps=0.37)
    f, df, d2f, dfe = _sympy_reference(act)
    x = _grid().requires_grad_(True)
    y = act(x)
    assert _is_fused(y)
    xn = x.detach().numpy()
    torch.testing.assert_close(y.detach(), torch.from_numpy(f(xn).copy()))
    (dx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    torch.testing.assert_close(dx.detach(), torch.from_numpy(df(xn).copy()))
    (d2x,) = torch.autograd.grad(dx.sum(), x)                  # double backward through fused
    torch.testing.assert_close(d2x, torch.from_numpy(d2f(xn).copy()))
    act.zero_grad()
    act(x.detach()).backward(torch.ones_like(x))
    torch.testing.assert_close(act.eps.grad, torch.tensor(dfe(xn).sum(), dtype=F64))


@pytest.mark.parametrize("name", ["crrelu", *FUSED_BASES])
def test_gradcheck_and_gradgradcheck_including_eps(name: str) -> None:
    act = _module(name, eps=0.3)
    x = torch.tensor([-2.1, -0.7, 0.35, 1.3, 2.4, 5.2], dtype=F64, requires_grad=True)
    e = torch.tensor(0.3, dtype=F64, requires_grad=True)

    def fn(x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return functional_call(act, {"eps": e}, (x,))

    assert _is_fused(fn(x, e))
    assert torch.autograd.gradcheck(fn, (x, e))
    assert torch.autograd.gradgradcheck(fn, (x, e))


@pytest.mark.parametrize("name", ["crrelu", "softplus", "tanh"])
def test_torch_func_grad_jacrev_and_vmap(name: str) -> None:
    act = _module(name, eps=0.25)
    x = _grid(33)
    xg = x.clone().requires_grad_(True)
    (dx_ref,) = torch.autograd.grad(act(xg).sum(), xg)
    grad = torch.func.grad(lambda t: act(t).sum())(x)
    torch.testing.assert_close(grad, dx_ref)
    jac = torch.func.jacrev(act)(x[:5])
    torch.testing.assert_close(jac, torch.diag(dx_ref[:5]))
    second = torch.func.grad(lambda t: torch.func.grad(lambda u: act(u).sum())(t).sum())(x)
    (d2_ref,) = torch.autograd.grad(torch.autograd.grad(act(xg).sum(), xg, create_graph=True)[0]
                                    .sum(), xg)
    torch.testing.assert_close(second, d2_ref)
    batched = torch.func.vmap(act)(x.reshape(3, 11))
    torch.testing.assert_close(batched, act(x).detach().reshape(3, 11))


def test_eafo_fused_equals_reference_in_train_mode() -> None:
    """Same outputs, gradients (x, eps) and running statistics as the autograd expression."""
    for base in FUSED_BASES:
        fused, plain = EAFO(base=base, eps=0.2, dtype=F64), EAFO(base=base, eps=0.2, dtype=F64)
        x = (torch.randn(4, 50, dtype=F64, generator=torch.Generator().manual_seed(0)) * 2 + 0.5)
        outs = []
        for act, run in ((fused, fused.forward), (plain, plain.reference)):
            xi = x.clone().requires_grad_(True)
            y = run(xi)
            y.backward(torch.cos(x))
            outs.append((y.detach(), xi.grad, act.eps.grad, act.running_mean, act.running_var))
        for a, b in zip(*outs, strict=True):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("base", FUSED_BASES)
def test_closed_base_forms_match_the_sympy_derivation(base: str) -> None:
    """f, f', r = f''/f' and r' of the fused table against sympy's d1, ratio and d ratio/dx."""
    module = kanlab.create_activation(base)
    closed = closed_base(module)
    assert closed is not None
    d = derive(base)
    x = torch.cat([_grid(), torch.tensor([-40.0, -15.0, 15.0, 40.0], dtype=F64)])
    xn = x.numpy()

    def ref(expr: sympy.Expr) -> torch.Tensor:
        fn = sympy.lambdify(X, expr, modules=["scipy", "numpy"])
        return torch.from_numpy(np.broadcast_to(np.asarray(fn(xn), dtype=np.float64),
                                                xn.shape).copy())

    f, r_value = closed.value(x)
    slope, r, dr = closed.slopes(x)
    torch.testing.assert_close(f, module(x))
    torch.testing.assert_close(slope, ref(d.d1))
    ratio = ref(d.ratio)
    dratio = ref(sympy.diff(d.ratio, X))
    for got in (r_value, r):
        torch.testing.assert_close(torch.zeros_like(x) if got is None else got, ratio)
    torch.testing.assert_close(torch.zeros_like(x) if dr is None else dr, dratio)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_closed_softplus_is_accurate_and_finite_in_low_precision(dtype: torch.dtype) -> None:
    """The closed softplus (log1p by Goldberg's log form, exp of -|bx| only) against float64:
    within two units in the last place wherever the value is a normal number of the dtype,
    float16's overflow of exp between bx = 11.1 and the threshold 20 included (log1p(exp(bx))
    gave inf there)."""
    closed = closed_base(kanlab.create_activation("softplus", beta=2.0))
    assert closed is not None
    x = torch.linspace(-6.0, 14.0, 4001, dtype=F64).to(dtype)
    f, r = closed.value(x)
    exact = torch.nn.functional.softplus(x.to(F64), beta=2.0, threshold=20.0)
    info = torch.finfo(dtype)
    assert torch.isfinite(f).all() and torch.isfinite(r).all()
    tol = {"rtol": 2 * info.eps, "atol": info.tiny}     # subnormal results: absolute
    torch.testing.assert_close(f.to(F64), exact, **tol)
    torch.testing.assert_close(r.to(F64), 2 * torch.sigmoid(-2 * x.to(F64)), **tol)


def test_bases_without_a_closed_form_keep_autograd() -> None:
    act = EAFO(base="celu", eps=0.3, dtype=F64).eval()
    x = _grid(9).requires_grad_(True)
    y = act(x)
    assert not _is_fused(y)
    torch.testing.assert_close(y, act.reference(x))
    prelu = EAFO(base={"name": "prelu", "init": 0.25}).eval()        # learnable slope
    assert not _is_fused(prelu(torch.randn(5, requires_grad=True)))


def test_compiled_kernels_match_eager() -> None:
    """``compile_kernels=True`` (torch.compile) gives the eager values and gradients."""
    x = (torch.randn(64, 33, dtype=F64, generator=torch.Generator().manual_seed(1)) * 2)
    for name in ("crrelu", "tanh"):
        outs = []
        for compiled in (False, True):
            act = _module(name, eps=0.3, compile_kernels=compiled)
            xi = x.clone().requires_grad_(True)
            y = act(xi)
            y.backward(torch.sin(x))
            outs.append((y.detach(), xi.grad, act.eps.grad))
        for a, b in zip(*outs, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)
    assert not _fused._FORWARD.failed and not _fused._BACKWARD.failed


def test_compiled_running_statistics_match_var_mean() -> None:
    """Train mode, compiled: the shifted float64 sums give var_mean's running statistics."""
    x = torch.randn(3000, generator=torch.Generator().manual_seed(2)) * 0.01 + 1000.0
    acts = [EAFO(base="sigmoid", compile_kernels=c) for c in (False, True)]
    for _ in range(3):                                     # mean far from the running shift
        outs = [act(x) for act in acts]
    torch.testing.assert_close(outs[1], outs[0])
    torch.testing.assert_close(acts[1].running_mean, acts[0].running_mean)
    torch.testing.assert_close(acts[1].running_var, acts[0].running_var, rtol=1e-5, atol=0)
    assert not eafo_module._SHIFTED_SUMS.failed


def test_crrelu_reference_expression_and_compile_flag_validation() -> None:
    act = CRReLU(eps=0.1, dtype=F64)
    x = _grid(11)
    torch.testing.assert_close(act(x), crrelu(x, act.eps))
    with pytest.raises(ValueError, match=r"`compile_kernels` must be a bool, but got "
                                         r"compile_kernels='yes'"):
        CRReLU(compile_kernels="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`compile_kernels` must be a bool"):
        EAFO(compile_kernels=1)  # type: ignore[arg-type]


def test_crrelu_paper_relation_holds_on_the_fused_path() -> None:
    eps = 0.37
    x = _grid(101)
    eafo = EAFO(base="relu", eps=-math.sqrt(2 * math.pi) * eps, dtype=F64).eval()
    torch.testing.assert_close(eafo(x), CRReLU(eps=eps, dtype=F64)(x))
