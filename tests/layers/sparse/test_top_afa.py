from __future__ import annotations

import torch
from torch.testing import assert_close

from kanlab.layers.sparse.top_afa import TopAFA


def test_hand_computed_nearest_match() -> None:
    z = torch.tensor([[3.0, -1.0, 4.0, 0.5]])
    # energies sorted: 16, 9, 0.25, 0; sqrt cumsum: 4, 5, 5.025, 5.025; target 4.6 -> k = 2
    y = TopAFA()(z, target=torch.tensor([4.6]))
    assert_close(y, torch.tensor([[3.0, 0.0, 4.0, 0.0]]))
    norms = torch.tensor([1.0, 1.0, 0.5, 1.0])               # energies: 9, 1, 4, 0.25
    y = TopAFA(decoder_norms=norms)(z, target=torch.tensor([3.1]))
    assert_close(y, torch.tensor([[3.0, 0.0, 0.0, 0.0]]))


def test_k_range_prefix_and_support_invariants() -> None:
    torch.manual_seed(0)
    z = torch.randn(500, 40)
    target = torch.rand(500) * 6
    layer = TopAFA()
    y = layer(z, target=target)
    k = layer.last_k
    assert k is not None and (k >= 1).all() and (k <= 40).all() and k.min() < k.max()
    assert ((y != 0) <= (z > 0)).all()                         # non-zeros within positives
    assert_close(y[y != 0], z[y != 0])
    kept_min = torch.where(y != 0, z, torch.inf).amin(-1)     # prefix of the energy order
    dropped_max = torch.where((y == 0) & (z > 0), z, -torch.inf).amax(-1)
    has_both = torch.isfinite(kept_min) & torch.isfinite(dropped_max)
    assert (kept_min[has_both] >= dropped_max[has_both]).all()


def test_orthonormal_dictionary_tracks_input_norm() -> None:
    torch.manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(64, 64))               # orthonormal columns
    codes = torch.relu(torch.randn(200, 64)) * (torch.rand(200, 64) < 0.1)
    x = codes @ q.T                                             # in the span
    f = TopAFA()(x @ q, target=x.norm(dim=-1))
    ratio = f.norm(dim=-1) / x.norm(dim=-1).clamp_min(1e-6)
    assert float((ratio - 1).abs().median()) < 0.05


def test_standalone_energy_fraction_and_gradients() -> None:
    z = torch.randn(8, 16, requires_grad=True)
    y = TopAFA(energy_fraction=1.0)(z)
    assert_close(y, torch.relu(z))                              # whole energy: all positives
    y = TopAFA(energy_fraction=0.5)(z)
    y.sum().backward()
    assert z.grad is not None
    assert_close(z.grad, (y != 0).float())
