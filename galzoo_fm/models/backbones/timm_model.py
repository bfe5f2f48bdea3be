"""The :class:`TimmBackbone` module: a timm model returning pooled features.

Imported when a timm backbone is built (it imports torch and timm), not when the plugins load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from galzoo_fm.models.backbones.timm_config import HUB_PREFIXES, read_timm_config

__all__ = ["TimmBackbone"]


class TimmBackbone(nn.Module):
    """A timm model returning pooled features.

    Parameters
    ----------
    model_name : str
        A timm architecture name, e.g. ``"resnet18"`` or ``"convnext_nano"``.
    in_chans : int
        Number of input channels (bands).
    image_size : int, optional
        Input size, passed as ``img_size`` to architectures that take one (vision transformers).
    pretrained : bool or str, optional
        ``None``/``False``: random init. ``True``: timm's default weights (needs the network).
        A folder path: timm / Hugging Face layout. ``"hf_hub:<repo id>"``: from the Hugging Face Hub.
    **timm_kwargs
        Passed to :func:`timm.create_model` (e.g. ``drop_path_rate``).

    Notes
    -----
    **One default differs from timm's**: a randomly initialised architecture that takes ``zero_init_last``
    (ResNets, RegNets, ...) is built with ``zero_init_last=False`` unless you pass it. timm zeroes the last
    BatchNorm of every residual block by default (Goyal et al. 2017, for large-batch supervised training), so
    each block starts as the identity; in this package's measurements (``docs/low_label.rst``) that starved
    short self-supervised runs: BYOL and hybrid encoders pretrained for 150 steps stayed at the level of a
    linear probe on the raw pixels. Pass ``zero_init_last=True`` for timm's behaviour. Pretrained weights are
    not affected (they overwrite the initialisation).

    Attributes
    ----------
    num_features : int
        Width ``D`` of the output features ``(N, D)``.
    """

    def __init__(
        self,
        model_name: str,
        in_chans: int = 3,
        image_size: int | None = None,
        pretrained: bool | str | None = None,
        **timm_kwargs: Any,
    ):
        super().__init__()
        source, load = self._resolve_source(model_name, pretrained)
        kwargs = dict(num_classes=0, in_chans=in_chans, **timm_kwargs)
        optional = {}  # dropped, one by one, by architectures that do not take them
        if image_size is not None:
            optional["img_size"] = image_size
        if not load and "zero_init_last" not in timm_kwargs:
            optional["zero_init_last"] = False  # see the class docstring
        while True:
            try:
                model = timm.create_model(source, pretrained=load, **kwargs, **optional)
                break
            except TypeError as exc:
                refused = [k for k in optional if f"'{k}'" in str(exc)]
                if not refused:
                    raise
                del optional[refused[0]]
        self.model = model
        self.model_name = model_name
        self.in_chans = in_chans
        head_hidden = getattr(model, "head_hidden_size", None)
        self.num_features = int(head_hidden if head_hidden else model.num_features)

    @staticmethod
    def _resolve_source(model_name: str, pretrained: bool | str | None) -> tuple[str, bool]:
        if pretrained is None or pretrained is False:
            return model_name, False
        if pretrained is True:
            return model_name, True
        if not isinstance(pretrained, str | Path):
            raise TypeError(f"pretrained must be None, a bool, a folder or an hf_hub: id, got {pretrained!r}")
        text = str(pretrained)
        for prefix in HUB_PREFIXES:
            if text.startswith(prefix):
                return "hf-hub:" + text[len(prefix):], True
        folder = Path(text).expanduser()
        if not folder.is_dir():
            raise ValueError(
                f"pretrained weights {text!r}: no such folder (expected a timm / Hugging Face model folder "
                f"or an 'hf_hub:<repo id>')"
            )
        arch = read_timm_config(folder)["architecture"]
        if arch != model_name:
            raise ValueError(
                f"pretrained folder {folder} holds a {arch!r} model, but backbone {model_name!r} was asked for"
            )
        return f"local-dir:{folder.resolve()}", True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features.

        Parameters
        ----------
        x : torch.Tensor
            Images, shape ``(N, in_chans, H, W)``.

        Returns
        -------
        torch.Tensor
            Features, shape ``(N, num_features)``.
        """
        return self.model(x)
