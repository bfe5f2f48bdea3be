"""Contract checks that plugin authors (and our own tests) run on registered items.

Each ``check_*`` function builds the item through the public factory and raises ``AssertionError`` with an
explanation when the item breaks the contract that the rest of galzoo_fm relies on::

    from galzoo_fm.testing import check_backbone

    def test_my_backbone():
        check_backbone("my_backbone")
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["check_backbone"]


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
    from . import get_backbone

    gen = torch.Generator().manual_seed(0)
    for c in in_chans:
        model = get_backbone(name, in_chans=c, image_size=image_size, **kwargs)
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
