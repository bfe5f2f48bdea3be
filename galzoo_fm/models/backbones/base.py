"""The backbone contract and the factory that builds registered backbones.

A backbone is a :class:`torch.nn.Module` that maps images ``(N, C, H, W)`` to pooled features
``(N, D)`` and exposes ``num_features = D`` (and ``in_chans = C``). Any plugin can register one through the
``register_backbones`` hook; :func:`galzoo_fm.testing.check_backbone` checks the contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from galzoo_fm.plugins import get_registry

if TYPE_CHECKING:  # torch is imported when a backbone is built, not when the plugins load
    from torch import nn

__all__ = ["build_backbone", "validate_backbone"]


def validate_backbone(module: Any, name: str) -> nn.Module:
    """Check the static part of the backbone contract; return ``module``.

    Raises
    ------
    TypeError
        If ``module`` is not an ``nn.Module`` or lacks a positive integer ``num_features``.
    """
    from torch import nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"backbone {name!r} factory returned {type(module).__name__}, not a torch.nn.Module")
    nf = getattr(module, "num_features", None)
    if not isinstance(nf, int) or isinstance(nf, bool) or nf <= 0:
        raise TypeError(
            f"backbone {name!r} must have a positive integer attribute num_features (its output width), "
            f"got {nf!r}"
        )
    return module


def build_backbone(
    name: str,
    *,
    in_chans: int = 3,
    image_size: int | None = None,
    pretrained: bool | str | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build the backbone registered as ``name``.

    Parameters
    ----------
    name : str
        A registered backbone name (see :func:`galzoo_fm.list_backbones`).
    in_chans : int
        Number of input channels (survey bands).
    image_size : int, optional
        Input size in pixels, for architectures with a fixed input size (vision transformers).
    pretrained : bool or str, optional
        ``None``/``False`` for random weights; otherwise passed to the backbone's factory (for timm
        backbones: ``True`` for timm's default weights, a local folder in the timm / Hugging Face layout,
        or ``"hf_hub:<repo id>"``).
    **kwargs
        Passed to the factory.

    Returns
    -------
    torch.nn.Module
        Maps ``(N, in_chans, H, W)`` to ``(N, num_features)``.
    """

    if not isinstance(in_chans, int) or isinstance(in_chans, bool) or in_chans < 1:
        raise ValueError(f"in_chans must be a positive integer (number of bands), got {in_chans!r}")
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size must be a positive integer number of pixels, got {image_size!r}")
    module = get_registry("backbones").create(
        name, in_chans=in_chans, image_size=image_size, pretrained=pretrained, **kwargs
    )
    return validate_backbone(module, name)
