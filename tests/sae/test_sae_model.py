from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F
from torch.testing import assert_close

from kanlab.sae.model import SparseAutoencoder, geometric_median, normalized_mse


def _sae(**kw: object) -> SparseAutoencoder:
    torch.manual_seed(0)
    return SparseAutoencoder(6, 10, activation={"name": "topk", "k": 3, "relu": True}, **kw)


def test_forward_formula_tied_init_and_unit_columns() -> None:
    sae = _sae()
    with torch.no_grad():
        sae.b_pre.copy_(torch.linspace(-1, 1, 6))
        sae.b_enc.copy_(torch.linspace(0, 0.5, 10))
    x = torch.randn(4, 6)
    out = sae(x)
    pre = (x - sae.b_pre) @ sae.W_enc.T + sae.b_enc
    assert_close(out.pre, pre)
    top = pre.topk(3, dim=-1)
    z = torch.zeros_like(pre).scatter(-1, top.indices, F.relu(top.values))
    assert_close(out.z, z)
    assert_close(out.x_hat, z @ sae.W_dec.T + sae.b_pre)
    assert_close(sae.W_dec.norm(dim=0), torch.ones(10))
    direction = sae.W_enc.T / sae.W_enc.T.norm(dim=0, keepdim=True)   # tied init
    assert_close(sae.W_dec, direction)


def test_aux_loss_hand_computed_with_nonzero_bias() -> None:
    sae = _sae()
    with torch.no_grad():
        sae.b_pre.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0, 1.0, -0.5]))
    x = torch.randn(5, 6)
    out = sae(x)
    dead = torch.zeros(10, dtype=torch.bool)
    dead[[1, 4, 7]] = True
    loss = sae.aux_loss(x, out, dead, k_aux=2)
    rows = []
    for r in range(5):                                             # loop-by-loop reference
        cand = sorted(((float(out.pre[r, i].detach()), i) for i in (1, 4, 7)), reverse=True)[:2]
        e_hat = torch.zeros(6)
        for value, i in cand:
            e_hat += max(value, 0.0) * sae.W_dec[:, i].detach()    # no b_pre added
        rows.append(e_hat)
    e_hat = torch.stack(rows)
    e = (x - out.x_hat).detach()
    expected = (e_hat - e).square().mean() / (e - e.mean(0)).square().mean()
    assert_close(loss, expected)
    loss.backward()
    assert sae.W_enc.grad is not None
    assert (sae.W_enc.grad[[0, 2, 3, 5, 6, 8, 9]] == 0).all()      # only dead latents learn
    assert float(sae.aux_loss(x, sae(x), torch.zeros(10, dtype=torch.bool), 4)) == 0.0


def test_decoder_grad_projection_and_normalisation() -> None:
    sae = _sae()
    x = torch.randn(8, 6)
    sae(x).x_hat.square().sum().backward()
    sae.remove_parallel_grad_()
    assert sae.W_dec.grad is not None
    assert_close((sae.W_dec.grad * sae.W_dec).sum(0), torch.zeros(10), atol=1e-6, rtol=0)
    with torch.no_grad():
        sae.W_dec.mul_(3.0)
    sae.normalize_decoder_()
    assert_close(sae.W_dec.norm(dim=0), torch.ones(10))


def test_helpers_and_activation_plumbing() -> None:
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [100.0, 100.0]])
    med = geometric_median(points)
    assert float(med.norm()) < 1.0                                 # robust to the outlier
    x = torch.randn(50, 4)
    assert_close(normalized_mse(x.mean(0).expand_as(x), x), torch.tensor(1.0))
    afa = SparseAutoencoder(6, 10, activation="top_afa")
    assert afa(torch.randn(3, 6)).z.shape == (3, 10)
    g = SparseAutoencoder(6, 10, activation={"name": "g_topk", "k": 2, "beta": 5.0})
    x = torch.randn(3, 6)
    attribution = g.attribution(torch.randn(3, 6))
    assert ((g(x, attribution).z != 0).sum(-1) <= 2).all()
    with pytest.raises(ValueError, match="must have last dim 6"):
        g(torch.randn(3, 5))


def test_the_default_activation_keeps_the_configs_k() -> None:
    from kanlab.sae.config import DEFAULT_K, SAEConfig

    config_k = SAEConfig(name="s", hook="net.1", source="run").activation["k"]
    assert config_k == DEFAULT_K
    assert SparseAutoencoder(6, 100).activation.k == DEFAULT_K
    assert SparseAutoencoder(6, 10).activation.k == min(DEFAULT_K, 10)
