from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from kanlab.sae.model import SparseAutoencoder
from kanlab.sae.trainer import collect_activations, downstream_metrics, evaluate_sae, fit_sae


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny matmuls run faster on one thread, above all on a busy machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _sparse_data(n: int = 3000, d: int = 16, atoms: int = 32, k: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    dictionary = torch.nn.functional.normalize(torch.randn(atoms, d, generator=g), dim=-1)
    codes = torch.zeros(n, atoms)
    idx = torch.rand(n, atoms, generator=g).argsort(-1)[:, :k]
    codes.scatter_(-1, idx, torch.rand(n, k, generator=g) + 0.5)
    return codes @ dictionary + 0.3


def test_fit_reduces_fvu_and_keeps_budget() -> None:
    torch.manual_seed(0)
    data = _sparse_data()
    sae = SparseAutoencoder(16, 48, activation={"name": "topk", "k": 4, "relu": True})
    before = evaluate_sae(sae, data)
    result = fit_sae(sae, data, steps=150, batch_size=128, lr=3e-3, log_every=50)
    after = evaluate_sae(sae, data)
    assert after["fvu"] < 0.25 < before["fvu"]
    assert after["l0"] <= 4.0
    assert 0.0 <= after["dead_fraction"] <= 1.0
    assert [h["step"] for h in result.history] == [50.0, 100.0, 150.0]
    assert torch.allclose(sae.W_dec.norm(dim=0), torch.ones(48), atol=1e-5)


def test_auxk_revives_dead_latents() -> None:
    torch.manual_seed(1)
    data = _sparse_data()

    def run(aux_coef: float) -> float:
        torch.manual_seed(1)
        sae = SparseAutoencoder(16, 96, activation={"name": "topk", "k": 2, "relu": True})
        with torch.no_grad():
            sae.b_enc[48:] = -0.5                                   # half start (nearly) dead
        fit_sae(sae, data, steps=150, batch_size=128, lr=3e-3, aux_coef=aux_coef, dead_steps=20)
        return evaluate_sae(sae, data)["dead_fraction"]

    revived, without = run(aux_coef=1.0), run(aux_coef=0.0)
    assert without > 0.4 and revived < 0.75 * without


class _Host(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 12), nn.ReLU())
        self.head = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_collect_with_grads_splice_and_g_sae() -> None:
    torch.manual_seed(2)
    host = _Host()
    batches = [(torch.randn(20, 8), torch.randint(0, 3, (20,))) for _ in range(3)]
    acts, grads = collect_activations(host, "body", batches, max_rows=50, with_grads=True)
    assert acts.shape == (50, 12) and grads is not None and grads.shape == (50, 12)
    x, y = batches[0]
    hidden = host.body(x).detach().requires_grad_()
    torch.nn.functional.cross_entropy(host.head(hidden), y, reduction="sum").backward()
    assert hidden.grad is not None
    torch.testing.assert_close(grads[:20], hidden.grad)
    sae = SparseAutoencoder(12, 24, activation={"name": "g_topk", "k": 3, "beta": 2.0})
    fit_sae(sae, acts, grads=grads, steps=20, batch_size=16)
    down = downstream_metrics(host, "body", sae, batches)
    assert set(down) >= {"clean_loss", "sae_loss", "zero_loss", "loss_recovered", "sae_acc"}
    identity = SparseAutoencoder(12, 12, activation={"name": "topk", "k": 12})
    with torch.no_grad():
        identity.W_enc.copy_(torch.eye(12))
        identity.W_dec.copy_(torch.eye(12))
        identity.b_enc.zero_()
        identity.b_pre.zero_()
    exact = downstream_metrics(host, "body", identity, batches)
    assert abs(exact["sae_loss"] - exact["clean_loss"]) < 1e-5
    assert abs(exact["loss_recovered"] - 1.0) < 1e-5


def test_conv_activations_are_channel_rows() -> None:
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    batches = [(torch.randn(3, 1, 6, 6), torch.tensor([0, 1, 0]))]
    acts, _ = collect_activations(conv, "1", batches)
    assert acts.shape == (3 * 4 * 4, 4)


def test_top_afa_sae_with_norm_matching_term() -> None:
    torch.manual_seed(4)
    data = _sparse_data(n=1000)
    sae = SparseAutoencoder(16, 48, activation="top_afa")
    result = fit_sae(sae, data, steps=60, batch_size=128, lr=3e-3, afa_coef=1 / 32, log_every=60)
    assert result.history[-1]["l0"] >= 1.0
    assert evaluate_sae(sae, data)["fvu"] < 1.0


def test_g_sae_is_evaluated_with_the_selection_it_was_trained_with() -> None:
    torch.manual_seed(5)
    host = _Host()
    batches = [(torch.randn(20, 8), torch.randint(0, 3, (20,))) for _ in range(2)]
    acts, grads = collect_activations(host, "body", batches, max_rows=40, with_grads=True)
    assert grads is not None
    sae = SparseAutoencoder(12, 24, activation={"name": "g_topk", "k": 3, "beta": 50.0})
    fit_sae(sae, acts, grads=grads, steps=20, batch_size=16)
    steered = evaluate_sae(sae, acts, grads=grads)
    plain = evaluate_sae(sae, acts)
    with torch.no_grad():
        by_hand = sae(acts, sae.attribution(grads))
        err = float((by_hand.x_hat - acts).square().sum())
        total = float((acts - acts.mean(0)).square().sum())
    assert steered["fvu"] == pytest.approx(err / total, rel=1e-5)
    assert steered["fvu"] != pytest.approx(plain["fvu"])  # the attribution changes the choice
    with torch.no_grad():
        plain_hand = sae(acts)
    assert plain["fvu"] == pytest.approx(
        float((plain_hand.x_hat - acts).square().sum()) / total, rel=1e-5)
    with pytest.raises(ValueError, match="`grads` must match"):
        evaluate_sae(sae, acts, grads=grads[:5])
    # downstream: per batch, the attribution of the clean loss gradient at the true labels
    down = downstream_metrics(host, "body", sae, batches)
    loss = 0.0
    for x, y in batches:
        hidden = host.body(x).detach().requires_grad_()
        torch.nn.functional.cross_entropy(host.head(hidden), y, reduction="sum").backward()
        assert hidden.grad is not None
        with torch.no_grad():
            rec = sae(hidden.detach(), sae.attribution(hidden.grad)).x_hat
            loss += float(torch.nn.functional.cross_entropy(host.head(rec), y, reduction="sum"))
    assert down["sae_loss"] == pytest.approx(loss / 40, rel=1e-5)
    unsteered = downstream_metrics(host, "body", sae, batches, attribution=False)
    assert unsteered["sae_loss"] != pytest.approx(down["sae_loss"])


def test_an_unknown_hook_names_the_closest_submodule() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    batch = (torch.randn(3, 4), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match=r"hook='l'\. Available: 0, 1, 2\."):
        collect_activations(model, "l", [batch])
    named = nn.Sequential()
    named.add_module("encoder", nn.Linear(4, 8))
    named.add_module("act", nn.ReLU())
    with pytest.raises(ValueError, match=r"hook='encodr'\. Did you mean 'encoder'\?"):
        collect_activations(named, "encodr", [batch])
