"""The one-matmul KAN weight: assembly without a copy where the storage is the weight, and
the spline gradient of either storage order, laid out like the parameter."""

from __future__ import annotations

import pytest
import torch

from kanlab.layers.kan._fused._weight import assemble_weight, basis_major_empty, weight_grads


def _splines(o: int, d: int, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same ``(O, D, M)`` coefficients stored input-major and basis-major."""
    flat = torch.randn(o, d, m)
    stored = basis_major_empty(o, d, m)
    stored.copy_(flat)
    return flat, stored


def test_weight_without_base_or_scaler_is_the_storage() -> None:
    flat, stored = _splines(4, 5, 3)
    weight = assemble_weight(None, stored, None)                         # (O, M*D)
    assert weight.data_ptr() == stored.data_ptr() and weight.is_contiguous()
    assert torch.equal(weight, assemble_weight(None, flat, None))       # copied from the view


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("lead", [0, 1])
@pytest.mark.parametrize("shape", [(64, 784, 8), (10, 64, 8), (10, 64, 6), (3, 5, 2)])
def test_both_layouts_give_the_same_gradients(
    shape: tuple[int, int, int], lead: int, scaled: bool
) -> None:
    """Input-major (``(feats^T grad)^T``) and basis-major (``grad^T feats``) coefficients get
    the same gradients up to rounding, the basis-major one in the parameter's strides."""
    torch.manual_seed(0)
    o, d, m = shape
    flat, stored = _splines(o, d, m)
    base = torch.randn(o, d) if lead else None
    scaler = torch.randn(o, d) if scaled else None
    feats, grad = torch.randn(64, (lead + m) * d), torch.randn(64, o)
    kw = {"lead": lead, "need_base": True, "need_spline": True, "compiled": False}
    want = weight_grads(grad, feats, flat, scaler, **kw)
    got = weight_grads(grad, feats, stored, scaler, **kw)
    assert got[1] is not None and got[1].stride() == stored.stride()
    for g, w in zip(got, want, strict=True):
        assert (g is None) == (w is None)
        if g is not None:
            torch.testing.assert_close(g, w)
    assert (got[0] is not None) == bool(lead) and (got[2] is not None) == scaled
    assert torch.equal(assemble_weight(base, stored, scaler), assemble_weight(base, flat, scaler))


def test_grad_first_orientation_is_the_transposed_product() -> None:
    """The B-spline layer's orientation: ``grad^T feats``, straight into the layout."""
    torch.manual_seed(0)
    _, stored = _splines(10, 64, 8)
    feats, grad = torch.randn(64, 9 * 64), torch.randn(64, 10)
    g_base, g_spline, _ = weight_grads(grad, feats, stored, None, lead=1, need_base=True,
                                       need_spline=True, compiled=False)
    assert g_base is not None and g_spline is not None
    assert g_spline.stride() == stored.stride()
    assert torch.equal(g_base, grad.t() @ feats[:, :64])
    assert torch.equal(g_spline.transpose(1, 2).reshape(10, -1), grad.t() @ feats[:, 64:])
