"""Contract checks that plugin authors (and our own tests) run on registered items.

Each ``check_*`` function builds the item through the public factory and raises ``AssertionError`` with an
explanation when the item breaks the contract that the rest of galzoo_fm relies on::

    from galzoo_fm.testing import check_backbone

    def test_my_backbone():
        check_backbone("my_backbone")
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["TinyEncoder", "check_backbone", "check_loss"]


def _fail(message: str) -> None:
    raise AssertionError(message)


def check_backbone(
    name: str,
    *,
    in_chans: Sequence[int] = (1, 3, 5),
    image_size: int = 32,
    batch_size: int = 2,
    **kwargs,
) -> None:
    """Check that backbone ``name`` follows the backbone contract.

    For each channel count: built by :func:`galzoo_fm.get_backbone` with ``in_chans`` and ``image_size``; maps
    ``(batch_size, C, image_size, image_size)`` float32 images to finite ``(batch_size, num_features)``
    features; is deterministic in eval mode; the rows of a batch are independent in eval mode (no
    cross-sample leakage); and gradients reach its parameters in train mode.

    Raises
    ------
    AssertionError
        Describing the first broken rule.
    """
    from galzoo_fm.models.backbones.base import build_backbone

    gen = torch.Generator().manual_seed(0)
    for c in in_chans:
        model = build_backbone(name, in_chans=c, image_size=image_size, **kwargs)
        d = model.num_features
        x = torch.randn(batch_size, c, image_size, image_size, generator=gen)
        model.eval()
        with torch.no_grad():
            y = model(x)
            if not isinstance(y, torch.Tensor) or tuple(y.shape) != (batch_size, d):
                got = getattr(y, "shape", type(y))
                _fail(f"{name} (in_chans={c}): output shape {got}, expected ({batch_size}, {d})")
            if not y.is_floating_point() or not torch.isfinite(y).all():
                _fail(f"{name} (in_chans={c}): output must be finite floating point, got {y.dtype}")
            if not torch.equal(model(x), y):
                _fail(f"{name} (in_chans={c}): two eval-mode forward passes differ")
            single = model(x[:1])
            if not torch.allclose(single, y[:1], rtol=1e-4, atol=1e-5):
                _fail(f"{name} (in_chans={c}): features of an image depend on the other images of the batch")
        model.train()
        model(x).float().square().mean().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        if not grads or not any(g is not None and torch.count_nonzero(g) > 0 for g in grads):
            _fail(f"{name} (in_chans={c}): no gradient reached the parameters")


class TinyEncoder(nn.Module):
    """A small CNN with the encoder contract, ``(N, in_chans, H, W)`` → ``(N, num_features)``, for tests.

    Parameters
    ----------
    in_chans : int
        Input bands.
    num_features : int
        Output width.
    seed : int
        Seed of the initialisation (the global random state is left untouched).
    """

    def __init__(self, in_chans: int = 3, num_features: int = 16, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(
                nn.Conv2d(in_chans, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, num_features),
            )
        self.in_chans = in_chans
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(N, num_features)``."""
        return self.net(x)


def _loss_declarations(name: str, obj: Any) -> dict[str, Any]:
    decl = {}
    for attr, kind in (("n_views", int), ("needs_votes", bool), ("uses_votes", bool), ("has_ema_target", bool)):
        value = getattr(obj, attr, None)
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 1)):
            _fail(f"loss {name!r} must declare {attr} as {'a positive int' if kind is int else 'a bool'}, "
                  f"got {value!r}")
        decl[attr] = value
    return decl


def check_loss(
    name: str,
    *,
    schema: Any = "decals_dr5",
    batch_size: int = 6,
    image_size: int = 16,
    in_chans: int = 3,
    **kwargs: Any,
) -> None:
    """Check that loss ``name`` follows the loss contract that the trainer relies on.

    The loss is built by :func:`galzoo_fm.get_loss` around a :class:`TinyEncoder` (with ``schema`` when it
    declares that it uses votes) and checked for: declared ``n_views`` / ``needs_votes`` / ``uses_votes`` /
    ``has_ema_target``; a finite 0-d loss in a :class:`~galzoo_fm.losses.LossOutput`; gradients that reach
    the encoder; determinism (the same inputs and seed give the same loss); a finite loss under bfloat16
    autocast; a finite loss on a batch where only some galaxies have votes and, for losses that do not
    need votes, on an all-unlabelled batch; a clear ``ValueError`` for the wrong number of views; EMA
    targets that move on :meth:`update_target` and are excluded from the optimizer parameters.

    Parameters
    ----------
    name : str
        Registered loss name.
    schema : Schema or str
        Vote schema for losses that use votes.
    batch_size, image_size, in_chans : int
        Size of the synthetic batch.
    **kwargs
        Passed to the loss factory (e.g. small head sizes).

    Raises
    ------
    AssertionError
        Describing the first broken rule.
    """
    from galzoo_fm.losses import LossOutput
    from galzoo_fm.losses.base import resolve_question_groups
    from galzoo_fm.plugins import get_registry

    gen = torch.Generator().manual_seed(0)
    groups, n_answers = resolve_question_groups(schema)
    encoder = TinyEncoder(in_chans=in_chans)
    probe = get_registry("losses").create(name, encoder=TinyEncoder(in_chans=in_chans), schema=schema, **kwargs)
    decl = _loss_declarations(name, probe)
    uses_votes = decl["needs_votes"] or decl["uses_votes"]
    loss_obj = get_registry("losses").create(name, encoder=encoder, schema=schema if uses_votes else None, **kwargs)
    views = [torch.randn(batch_size, in_chans, image_size, image_size, generator=gen) for _ in range(decl["n_views"])]
    votes = torch.zeros(batch_size, n_answers)
    for start, end in groups[:2]:  # the first galaxies answer a couple of questions
        votes[: batch_size // 2, start:end] = torch.randint(0, 8, (batch_size // 2, end - start), generator=gen).float()
    votes_arg = votes if uses_votes else None

    def run(obj, vs, vt):
        torch.manual_seed(1234)
        out = obj(vs, vt)
        if not isinstance(out, LossOutput):
            _fail(f"loss {name!r} must return a LossOutput, got {type(out).__name__}")
        if not isinstance(out.loss, torch.Tensor) or out.loss.ndim != 0:
            _fail(f"loss {name!r} must return a 0-d tensor loss, got {getattr(out.loss, 'shape', out.loss)}")
        if not torch.isfinite(out.loss):
            _fail(f"loss {name!r} is not finite: {out.loss}")
        return out

    loss_obj.train()
    first = run(loss_obj, views, votes_arg)
    first.loss.backward()
    grads = [p.grad for p in encoder.parameters()]
    if not any(g is not None and torch.count_nonzero(g) > 0 for g in grads):
        _fail(f"loss {name!r}: no gradient reached the encoder")
    again = run(copy.deepcopy(loss_obj), views, votes_arg)
    twin = run(copy.deepcopy(loss_obj), views, votes_arg)
    if not torch.equal(again.loss.detach(), twin.loss.detach()):
        _fail(f"loss {name!r} is not deterministic: {again.loss.item()} vs {twin.loss.item()} for the same inputs")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        run(copy.deepcopy(loss_obj), views, votes_arg)
    if not decl["needs_votes"]:
        run(copy.deepcopy(loss_obj), views, torch.zeros_like(votes) if uses_votes else None)
    wrong = [*views, views[0]]
    try:
        loss_obj(wrong, votes_arg)
    except ValueError:
        pass
    else:
        _fail(f"loss {name!r} accepted {len(wrong)} views but declares n_views={decl['n_views']}")
    if decl["has_ema_target"]:
        trainable = {id(p) for p in loss_obj.optimizer_parameters()}
        frozen = [p for p in loss_obj.parameters() if id(p) not in trainable]
        if not frozen:
            _fail(f"loss {name!r} declares an EMA target but every parameter is trained by the optimizer")
        before = [p.detach().clone() for p in frozen]
        with torch.no_grad():
            for p in encoder.parameters():
                p.add_(0.1)
        loss_obj.update_target(0, 10)
        if all(torch.equal(b, p) for b, p in zip(before, frozen, strict=True)):
            _fail(f"loss {name!r}: update_target did not move the EMA target towards the online network")
