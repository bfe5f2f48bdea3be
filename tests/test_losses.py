"""Tests of the built-in losses against independent reference implementations."""

from __future__ import annotations

import copy
import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import galzoo_fm
from galzoo_fm.losses import (
    ByolObjective,
    DirichletObjective,
    HybridObjective,
    LossOutput,
    Objective,
    SpectralObjective,
    byol_loss,
    cosine_tau,
    dirichlet_loss,
    dirichlet_multinomial_nll,
    expected_vote_fractions,
    hybrid_combine,
    resolve_question_groups,
    spectral_contrastive_loss,
)
from galzoo_fm.losses.heads import DirichletHead, MLPHead
from galzoo_fm.plugins import get_registry
from galzoo_fm.testing import TinyEncoder, check_loss

GROUPS = [(0, 2), (2, 5), (5, 7)]
N_ANSWERS = 7


class FakeSchema:
    question_index_groups = GROUPS
    n_answers = N_ANSWERS


def _views(n: int = 8, k: int = 2, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 8, 8, generator=g) for _ in range(k)]


def _votes(n: int = 8, seed: int = 0, labelled: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    votes = torch.randint(0, 6, (n, N_ANSWERS), generator=g).float()
    votes[:, 5:7] = 0  # the last question is never asked in this batch
    if labelled is not None:
        votes[labelled:] = 0
    return votes


# ---------------------------------------------------------------- Dirichlet
def test_dirichlet_matches_scipy_float64():
    from scipy.stats import dirichlet_multinomial

    rng = np.random.default_rng(1)
    alpha = rng.uniform(1.0, 101.0, size=(20, 4))
    counts = rng.integers(0, 40, size=(20, 4)).astype(float)
    counts[counts.sum(1) == 0, 0] = 1
    ours = dirichlet_multinomial_nll(torch.from_numpy(alpha), torch.from_numpy(counts)).numpy()
    ref = np.array([-dirichlet_multinomial.logpmf(k, a, k.sum()) for a, k in zip(alpha, counts, strict=True)])
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
    # float32 (what training uses) stays close as well
    ours32 = dirichlet_multinomial_nll(torch.from_numpy(alpha).float(), torch.from_numpy(counts).float())
    np.testing.assert_allclose(ours32.numpy(), ref, rtol=1e-4)


def test_dirichlet_loss_sums_questions_like_scipy():
    from scipy.stats import dirichlet_multinomial

    rng = np.random.default_rng(2)
    alpha = rng.uniform(1.0, 101.0, size=(6, N_ANSWERS))
    counts = rng.integers(0, 10, size=(6, N_ANSWERS)).astype(float)
    counts[:3, 2:5] = 0  # unanswered question for half the galaxies
    ours = dirichlet_loss(torch.from_numpy(alpha), torch.from_numpy(counts), FakeSchema()).numpy()
    ref = np.zeros(6)
    for i in range(6):
        for s, e in GROUPS:
            k = counts[i, s:e]
            if k.sum() > 0:
                ref[i] -= dirichlet_multinomial.logpmf(k, alpha[i, s:e], k.sum())
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
    # a plain list of groups and a schema object give the same result
    same = dirichlet_loss(torch.from_numpy(alpha), torch.from_numpy(counts), GROUPS).numpy()
    np.testing.assert_array_equal(ours, same)


def test_dirichlet_zero_votes_exactly_zero_loss_and_gradient():
    alpha = (1 + 100 * torch.rand(5, N_ANSWERS, dtype=torch.float32)).requires_grad_()
    counts = _votes(5)
    counts[0] = 0  # galaxy without any vote
    loss = dirichlet_loss(alpha, counts, GROUPS)
    assert loss[0].item() == 0.0
    loss.sum().backward()
    assert torch.equal(alpha.grad[0], torch.zeros(N_ANSWERS))
    assert torch.equal(alpha.grad[:, 5:7], torch.zeros(5, 2))  # unasked question: exactly no gradient
    assert (alpha.grad[1:, :5] != 0).any()
    single = torch.full((3, 2), 7.0, requires_grad=True)
    out = dirichlet_multinomial_nll(single, torch.zeros(3, 2))
    out.sum().backward()
    assert torch.equal(out, torch.zeros(3)) and torch.equal(single.grad, torch.zeros(3, 2))


def test_dirichlet_under_bf16_autocast_is_float32():
    head = DirichletHead(16, N_ANSWERS, dropout=0.0)
    x = torch.randn(4, 16)
    counts = _votes(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = head.linear(x)
        assert logits.dtype == torch.bfloat16
        alpha_bf16 = 1 + 100 * torch.sigmoid(logits)
        out = dirichlet_loss(alpha_bf16, counts, GROUPS)
        nll = dirichlet_multinomial_nll(alpha_bf16[:, :2], counts[:, :2])
    assert out.dtype == torch.float32 and nll.dtype == torch.float32
    assert torch.equal(out, dirichlet_loss(alpha_bf16.float(), counts, GROUPS))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert head(x).dtype == torch.float32


def test_dirichlet_head_range_and_expected_fractions():
    head = DirichletHead(16, N_ANSWERS)
    alpha = head(torch.randn(32, 16) * 100)
    assert alpha.shape == (32, N_ANSWERS) and (alpha >= 1).all() and (alpha <= 101).all()
    frac = expected_vote_fractions(alpha, GROUPS)
    for s, e in GROUPS:
        torch.testing.assert_close(frac[:, s:e].sum(1), torch.ones(32))


# --------------------------------------------------------------------- BYOL
def test_byol_loss_matches_cosine_formula():
    rng = np.random.default_rng(3)
    p, z = rng.normal(size=(10, 6)), rng.normal(size=(10, 6))
    ref = np.mean(2 - 2 * np.sum(p * z, 1) / (np.linalg.norm(p, axis=1) * np.linalg.norm(z, axis=1)))
    ours = byol_loss(torch.from_numpy(p), torch.from_numpy(z)).item()
    assert ours == pytest.approx(ref, rel=1e-12)


def test_cosine_tau_schedule():
    assert cosine_tau(0, 100, 0.996) == pytest.approx(0.996)
    assert cosine_tau(100, 100, 0.996) == 1.0
    assert cosine_tau(50, 100, 0.99) == pytest.approx(0.995)
    assert cosine_tau(500, 100, 0.99) == 1.0
    with pytest.raises(ValueError, match="total_steps must be a positive integer"):
        cosine_tau(0, 0, 0.99)


def test_byol_ema_update_and_target_gets_no_gradient():
    obj = ByolObjective(TinyEncoder(), projection_hidden=32, projection_dim=8, prediction_hidden=32,
                        tau_base=0.9)
    target_ids = {id(p) for p in obj.target_parameters()}
    trainable = list(obj.optimizer_parameters())
    assert target_ids.isdisjoint(id(p) for p in trainable)
    assert all(not p.requires_grad for p in obj.target_parameters())
    opt = torch.optim.SGD(trainable, lr=0.5)
    out = obj(_views())
    out.loss.backward()
    assert all(p.grad is None for p in obj.target_parameters())
    opt.step()
    before = [p.detach().clone() for p in obj.target_parameters()]
    online = [p.detach().clone() for p in [*obj.encoder.parameters(), *obj.projector.parameters()]]
    assert any(not torch.equal(b, o) for b, o in zip(before, online, strict=True))
    step, total = 3, 10
    tau = 1 - (1 - 0.9) * (math.cos(math.pi * step / total) + 1) / 2
    obj.update_target(step, total)
    assert obj.tau == pytest.approx(tau)
    for b, o, t in zip(before, online, obj.target_parameters(), strict=True):
        # reference in float64; the implementation's float32 rounding may differ by an ulp or two
        expected = (tau * b.double() + (1 - tau) * o.double()).float()
        torch.testing.assert_close(t, expected, rtol=1e-6, atol=1e-6)


def test_byol_with_timm_encoder():
    enc = galzoo_fm.Encoder("resnet18", in_chans=3, image_size=32, seed=0)
    obj = galzoo_fm.get_loss("byol", encoder=enc, projection_hidden=64, projection_dim=16, prediction_hidden=64)
    views = [torch.randn(4, 3, 32, 32) for _ in range(2)]
    out = obj(views)
    assert out.loss.ndim == 0 and 0 <= out.loss.item() <= 8
    assert obj.target_encoder is not obj.encoder
    assert set(out.to_floats()) == {"loss", "tau"}


# ----------------------------------------------------------------- spectral
def _spectral_reference(z1: np.ndarray, z2: np.ndarray, mu: float) -> float:
    """Independent float64 loop version of the official spectral contrastive loss."""
    z1, z2 = z1.astype(np.float64).copy(), z2.astype(np.float64).copy()
    for z in (z1, z2):
        for i in range(len(z)):
            norm = math.sqrt(sum(v * v for v in z[i]))
            if norm >= math.sqrt(mu):
                z[i] = z[i] / norm * math.sqrt(mu)
    b = len(z1)
    positive = -2.0 / b * sum(float(z1[i] @ z2[i]) for i in range(b))
    negative = sum(float(z1[i] @ z2[j]) ** 2 for i in range(b) for j in range(b) if i != j) / (b * (b - 1))
    return (positive + negative) / mu


@pytest.mark.parametrize("mu", [1.0, 10.0])
def test_spectral_matches_loop_reference(mu):
    rng = np.random.default_rng(4)
    # mixed row norms: some below √μ (kept), some above (rescaled)
    z1 = rng.normal(size=(9, 5)) * rng.uniform(0.05, 3.0, size=(9, 1))
    z2 = rng.normal(size=(9, 5)) * rng.uniform(0.05, 3.0, size=(9, 1))
    ours = spectral_contrastive_loss(torch.from_numpy(z1), torch.from_numpy(z2), mu=mu).item()
    assert ours == pytest.approx(_spectral_reference(z1, z2, mu), rel=1e-10)
    ours32 = spectral_contrastive_loss(torch.from_numpy(z1).float(), torch.from_numpy(z2).float(), mu=mu)
    assert ours32.dtype == torch.float32
    assert ours32.item() == pytest.approx(_spectral_reference(z1, z2, mu), rel=1e-5)


def _spectral_worker(rank: int, world: int, init_file: str, z1: torch.Tensor, z2: torch.Tensor,
                     out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        b = z1.shape[0] // world
        a = z1[rank * b:(rank + 1) * b].clone().requires_grad_()
        c = z2[rank * b:(rank + 1) * b].clone().requires_grad_()
        loss = spectral_contrastive_loss(a, c, mu=1.0)
        loss.backward()
        torch.save({"loss": loss.detach(), "g1": a.grad, "g2": c.grad}, Path(out_dir) / f"{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_spectral_gathers_negatives_across_two_gloo_processes(tmp_path):
    import torch.multiprocessing as mp

    world = 2
    g = torch.Generator().manual_seed(5)
    z1 = torch.randn(8, 4, generator=g, dtype=torch.float64) * 0.6
    z2 = torch.randn(8, 4, generator=g, dtype=torch.float64) * 0.6
    mp.spawn(_spectral_worker, args=(world, str(tmp_path / "store"), z1, z2, str(tmp_path)), nprocs=world,
             join=True)
    results = [torch.load(tmp_path / f"{r}.pt") for r in range(world)]
    a, c = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    full = spectral_contrastive_loss(a, c, mu=1.0)
    full.backward()
    # the mean of the per-rank losses is the loss of the global batch ...
    mean_loss = sum(r["loss"] for r in results) / world
    torch.testing.assert_close(mean_loss, full.detach(), rtol=1e-12, atol=1e-12)
    # ... and gradient averaging over ranks (what DDP does) gives the global batch's gradient
    g1 = torch.cat([r["g1"] for r in results]) / world
    g2 = torch.cat([r["g2"] for r in results]) / world
    torch.testing.assert_close(g1, a.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g2, c.grad, rtol=1e-10, atol=1e-12)


def test_spectral_projector_shape():
    obj = SpectralObjective(TinyEncoder(), projection_hidden=32, projection_dim=12)
    assert isinstance(obj.projector, MLPHead)
    assert isinstance(obj.projector.net[-1], nn.BatchNorm1d)
    assert obj.projector(torch.randn(4, 16)).shape == (4, 12)


# ------------------------------------------------------------------- hybrid
def test_hybrid_combine_rescales_supervised_term():
    con = torch.tensor(-1.5, requires_grad=True)
    sup = torch.tensor(37.0, requires_grad=True)
    total, scaled = hybrid_combine(con, sup, 0.3, weighting="matched")
    assert scaled.item() == pytest.approx(0.3 * 1.5)
    assert total.item() == pytest.approx(-1.5 + 0.45)
    total.backward()
    assert con.grad.item() == 1.0  # the ratio is detached
    assert sup.grad.item() == pytest.approx(0.3 * 1.5 / 37.0)
    zero = torch.tensor(0.0, requires_grad=True)
    total, scaled = hybrid_combine(torch.tensor(2.0), zero, 1.0, weighting="matched")
    total.backward()
    assert total.item() == 2.0 and scaled.item() == 0.0 and zero.grad.item() == 0.0


def _hybrid_and_byol(weight: float, weighting: str = "matched") -> tuple[HybridObjective, ByolObjective]:
    kw = {"projection_hidden": 32, "projection_dim": 8, "prediction_hidden": 32, "tau_base": 0.99}
    hybrid = HybridObjective(TinyEncoder(seed=1), schema=FakeSchema(), supervised_weight=weight,
                             weighting=weighting, **kw)
    byol = ByolObjective(TinyEncoder(seed=1), **kw)
    missing, unexpected = byol.load_state_dict(hybrid.state_dict(), strict=False)
    assert not missing and set(unexpected) == {"head.linear.weight", "head.linear.bias"}
    return hybrid, byol


@pytest.mark.parametrize("weighting", ["matched", "fixed"])
def test_hybrid_weight_zero_is_byol_exactly(weighting):
    hybrid, byol = _hybrid_and_byol(0.0, weighting)
    views, votes = _views(), _votes()
    h, b = hybrid(views, votes), byol(views)
    assert torch.equal(h.loss, b.loss)
    h.loss.backward()
    b.loss.backward()
    for ph, pb in zip(hybrid.encoder.parameters(), byol.encoder.parameters(), strict=True):
        assert torch.equal(ph.grad, pb.grad)


def test_hybrid_head_can_read_the_projection():
    hybrid = HybridObjective(TinyEncoder(seed=1), schema=FakeSchema(), projection_hidden=32, projection_dim=8,
                             prediction_hidden=32, head_input="projection")
    assert hybrid.head.linear.in_features == 8
    hybrid(_views(), _votes(labelled=8)).loss.backward()
    assert hybrid.head.linear.weight.grad.abs().sum() > 0
    # the supervised term alone reaches the projector (the BYOL term does too, so compare with w = 0)
    alone = HybridObjective(TinyEncoder(seed=1), schema=FakeSchema(), projection_hidden=32, projection_dim=8,
                            prediction_hidden=32, head_input="projection", supervised_weight=0.0)
    alone.load_state_dict(hybrid.state_dict())
    alone(_views(), _votes(labelled=8)).loss.backward()
    g1 = next(hybrid.projector.parameters()).grad
    g0 = next(alone.projector.parameters()).grad
    assert not torch.allclose(g1, g0)
    with pytest.raises(ValueError, match="head_input must be one of"):
        HybridObjective(TinyEncoder(), schema=FakeSchema(), head_input="logits")


def test_hybrid_default_is_fixed_lambda_one():
    # issue 15's ablation: L = L_BYOL + 1·L_Dirichlet beat the magnitude-matched combination at 1500 steps
    hybrid = HybridObjective(TinyEncoder(seed=1), schema=FakeSchema(), projection_hidden=32, projection_dim=8,
                             prediction_hidden=32)
    assert (hybrid.weighting, hybrid.supervised_weight) == ("fixed", 1.0)
    m = hybrid(_views(), _votes(labelled=3)).to_floats()
    assert m["loss"] == pytest.approx(m["contrastive"] + m["supervised"], rel=1e-6)
    assert m["supervised_scaled"] == pytest.approx(m["supervised"], rel=1e-6)


def test_hybrid_supervised_term_scaled_and_unlabelled_batch_finite():
    hybrid, _ = _hybrid_and_byol(0.7)
    out = hybrid(_views(), _votes(labelled=3))
    m = out.to_floats()
    assert m["supervised"] > 0
    assert m["supervised_scaled"] == pytest.approx(0.7 * abs(m["contrastive"]), rel=1e-6)
    assert out.loss.item() == pytest.approx(m["contrastive"] + 0.7 * abs(m["contrastive"]), rel=1e-6)
    hybrid.zero_grad()
    out = hybrid(_views(), torch.zeros(8, N_ANSWERS))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert torch.equal(hybrid.head.linear.weight.grad, torch.zeros_like(hybrid.head.linear.weight))
    assert out.to_floats()["loss"] == pytest.approx(out.to_floats()["contrastive"])
    # votes are optional for the hybrid loss
    assert torch.isfinite(hybrid(_views()).loss)


# ------------------------------------------------------- every registered loss
def test_registry_lists_builtin_losses_with_metadata():
    assert {"dirichlet", "byol", "spectral", "hybrid"} <= set(galzoo_fm.list_losses())
    meta = get_registry("losses").entry("hybrid").metadata
    assert meta["n_views"] == 2 and meta["uses_votes"] and not meta["needs_votes"] and meta["has_ema_target"]
    assert get_registry("losses").entry("dirichlet").metadata["needs_votes"] is True


@pytest.mark.parametrize("name", galzoo_fm.list_losses())
def test_every_registered_loss_decreases_on_a_fixed_batch(name):
    meta = get_registry("losses").entry(name).metadata
    obj = galzoo_fm.get_loss(name, encoder=TinyEncoder(seed=2), schema=FakeSchema())
    assert isinstance(obj, Objective)
    assert obj.n_views == meta["n_views"]
    views = _views(16, meta["n_views"], seed=3)
    votes = _votes(16) if meta.get("needs_votes") or meta.get("uses_votes") else None

    def evaluate() -> float:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return obj(views, votes).loss.item()

    optimizer = torch.optim.Adam(list(obj.optimizer_parameters()), lr=3e-3)
    start = evaluate()
    steps = 10
    for step in range(steps):
        out = obj(views, votes)
        assert isinstance(out, LossOutput) and out.loss.ndim == 0 and torch.isfinite(out.loss)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        obj.update_target(step, steps)
    end = evaluate()
    assert end < start, f"{name}: loss went from {start:.4f} to {end:.4f}"


# ------------------------------------------------------------------- errors
def test_bad_inputs_raise_clear_errors():
    dirichlet = DirichletObjective(TinyEncoder(), schema=GROUPS)
    with pytest.raises(ValueError, match="takes 1 view"):
        dirichlet(_views(k=2), _votes())
    with pytest.raises(ValueError, match="needs vote counts"):
        dirichlet(_views(k=1))
    with pytest.raises(ValueError, match="n_answers=7"):
        dirichlet(_views(k=1), torch.zeros(8, 6))
    with pytest.raises(ValueError, match="finite, non-negative"):
        dirichlet(_views(k=1), torch.full((8, 7), float("nan")))
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\)"):
        dirichlet([torch.zeros(8, 3, 8)], _votes())
    with pytest.raises(TypeError, match="list of 1 tensors"):
        dirichlet(torch.zeros(8, 3, 8, 8), _votes())
    with pytest.raises(ValueError, match="needs a schema"):
        DirichletObjective(TinyEncoder())
    with pytest.raises(TypeError, match="num_features"):
        ByolObjective(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="takes 2 view"):
        ByolObjective(TinyEncoder(), projection_hidden=8, prediction_hidden=8)(_views(k=3))
    with pytest.raises(ValueError, match="same shape"):
        dirichlet_multinomial_nll(torch.ones(3, 2), torch.ones(3, 3))
    with pytest.raises(ValueError, match="reach answer index 6"):
        dirichlet_loss(torch.ones(2, 5), torch.ones(2, 5), GROUPS)
    with pytest.raises(ValueError, match="overlap"):
        resolve_question_groups([(0, 3), (2, 4)])
    with pytest.raises(ValueError, match="0 <= start < end"):
        resolve_question_groups([(2, 2)])
    with pytest.raises(ValueError, match=r"shape \(B, d\)"):
        spectral_contrastive_loss(torch.ones(4, 3), torch.ones(4, 2))
    with pytest.raises(ValueError, match="mu must be positive"):
        spectral_contrastive_loss(torch.ones(4, 3), torch.ones(4, 3), mu=0)
    with pytest.raises(ValueError, match=r"shape \(N, d\)"):
        byol_loss(torch.ones(4, 3), torch.ones(3, 3))
    with pytest.raises(ValueError, match="supervised_weight must be non-negative"):
        HybridObjective(TinyEncoder(), schema=GROUPS, supervised_weight=-1.0)


def test_objectives_deepcopy_does_not_share_target():
    obj = ByolObjective(TinyEncoder(), projection_hidden=8, prediction_hidden=8)
    clone = copy.deepcopy(obj)
    assert clone.target_encoder is not obj.target_encoder


def test_schema_by_name_and_object():
    names = galzoo_fm.list_schemas()
    if "decals_dr5" not in names:
        pytest.skip("built-in schemas not available")
    schema = galzoo_fm.get_schema("decals_dr5")
    obj = DirichletObjective(TinyEncoder(), schema="decals_dr5")
    assert obj.n_answers == schema.n_answers
    assert obj.question_index_groups == [tuple(g) for g in schema.question_index_groups]
    votes = torch.zeros(4, schema.n_answers)
    votes[:, 0] = 5
    assert torch.isfinite(obj(_views(4, 1), votes).loss)


# ------------------------------------------------------------ contract over every registered loss
@pytest.mark.parametrize("name", galzoo_fm.list_losses())
def test_every_registered_loss_passes_the_contract_check(name):
    check_loss(name)


def test_check_loss_catches_broken_losses(fresh_plugins):
    class NoGradient(Objective):
        n_views = 2

        def compute(self, views, votes):
            return LossOutput(self.encoder(views[0]).detach().sum() * 0 + torch.tensor(1.0, requires_grad=True))

    class IgnoresExtraViews(Objective):
        n_views = 2

        def __init__(self, encoder, *, schema=None):
            super().__init__(encoder)

        def validate_inputs(self, views, votes):
            return list(views), None

        def compute(self, views, votes):
            return LossOutput((self.encoder(views[0]) - self.encoder(views[1])).square().mean())

    mod = types.ModuleType("broken_losses")

    def register_losses(register):
        register("no_gradient", NoGradient)
        register("ignores_extra_views", IgnoresExtraViews)

    mod.register_losses = galzoo_fm.hookimpl(register_losses)
    galzoo_fm.plugins.register_plugin(mod)
    with pytest.raises(AssertionError, match="'no_gradient': no gradient reached the encoder"):
        check_loss("no_gradient")
    with pytest.raises(AssertionError, match="accepted 3 views but declares n_views=2"):
        check_loss("ignores_extra_views")


def test_example_plugin_loss_trains_through_the_registry():
    obj = galzoo_fm.get_loss("example_vic", encoder=TinyEncoder())
    assert (obj.n_views, obj.needs_votes) == (2, False)
    opt = torch.optim.Adam(obj.optimizer_parameters(), lr=1e-2)
    views = _views()
    losses = []
    for _ in range(10):
        opt.zero_grad()
        out = obj(views)
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < losses[0]


# ------------------------------------------------------------ gradient checks in float64
def test_dirichlet_gradcheck_float64():
    gen = torch.Generator().manual_seed(3)
    alpha = (torch.rand(4, 3, generator=gen, dtype=torch.float64) * 5 + 0.5).requires_grad_()
    counts = torch.tensor([[3.0, 0, 1], [0, 0, 0], [10, 2, 5], [1, 1, 1]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: dirichlet_multinomial_nll(a, counts), (alpha,))
    groups = [(0, 1), (1, 3)]
    wide = (torch.rand(4, 3, generator=gen, dtype=torch.float64) * 5 + 0.5).requires_grad_()
    counts2 = torch.tensor([[0.0, 2, 1], [1, 0, 0], [0, 0, 0], [4, 3, 3]], dtype=torch.float64)
    # a one-answer question is allowed by the maths (its likelihood is 1): gradient zero there
    assert torch.autograd.gradcheck(lambda a: dirichlet_loss(a, counts2, groups), (wide,))


@pytest.mark.parametrize("mu", [1.0, 10.0])
def test_spectral_gradcheck_float64(mu):
    gen = torch.Generator().manual_seed(4)
    z1 = torch.randn(5, 3, generator=gen, dtype=torch.float64).requires_grad_()
    z2 = torch.randn(5, 3, generator=gen, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: spectral_contrastive_loss(a, b, mu=mu), (z1, z2))


# ------------------------------------------------------------ issue-3 bad input and options
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_dirichlet_rejects_bad_concentrations(bad):
    alpha = torch.tensor([[2.0, 3.0], [1.0, 1.0]])
    alpha[1, 0] = bad
    votes = torch.tensor([[1.0, 2.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match=r"concentrations must be positive and finite; found .* at index \(1, 0\)"):
        dirichlet_multinomial_nll(alpha, votes)
    with pytest.raises(ValueError, match="concentrations must be positive and finite"):
        dirichlet_loss(alpha, votes, [(0, 2)])


def test_views_of_different_shapes_are_rejected():
    obj = ByolObjective(TinyEncoder(), projection_hidden=32, projection_dim=8, prediction_hidden=32)
    a = torch.randn(4, 3, 16, 16)
    with pytest.raises(ValueError, match=r"same shape: view 0 is \(4, 3, 16, 16\), view 1 is \(4, 3, 12, 12\)"):
        obj([a, torch.randn(4, 3, 12, 12)])


def test_hybrid_fixed_lambda_weighting():
    con, sup = torch.tensor(2.0, requires_grad=True), torch.tensor(50.0, requires_grad=True)
    total, scaled = hybrid_combine(con, sup, 0.1, weighting="fixed")
    assert total.item() == pytest.approx(2.0 + 0.1 * 50.0) and scaled.item() == pytest.approx(5.0)
    total.backward()
    assert sup.grad.item() == pytest.approx(0.1)  # fixed λ: the gradient is λ, not λ·|L_con|/L_sup
    with pytest.raises(ValueError, match="weighting must be one of 'matched', 'fixed'"):
        hybrid_combine(con, sup, 0.1, weighting="ratio")
    obj = HybridObjective(TinyEncoder(), schema=[(0, 2), (2, 5)], weighting="fixed", supervised_weight=0.5,
                          projection_hidden=32, projection_dim=8, prediction_hidden=32)
    views = _views()
    votes = torch.zeros(len(views[0]), 5)
    votes[:2, :2] = 3
    out = obj(views, votes)
    m = out.to_floats()
    assert m["supervised_scaled"] == pytest.approx(0.5 * m["supervised"], rel=1e-5)
    assert m["loss"] == pytest.approx(m["contrastive"] + 0.5 * m["supervised"], rel=1e-5)
