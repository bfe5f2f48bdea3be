"""Built-in plugin: every `timm <https://github.com/huggingface/pytorch-image-models>`_ architecture.

Each timm model name (``timm.list_models()``) is registered as a backbone of the same name, built with
``num_classes=0`` so that it returns pooled features, with any number of input channels. Pretrained
weights load from a local folder in the timm / Hugging Face layout (``config.json`` plus
``model.safetensors`` or ``pytorch_model.bin``, as Zoobot publishes its encoders) or from an
``hf_hub:`` id when the network is available; timm adapts the first convolution to the number of bands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from ..hookspecs import hookimpl

__all__ = ["TimmBackbone", "read_timm_config", "register_backbones"]

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")
_HUB_PREFIXES = ("hf_hub:", "hf-hub:")


def read_timm_config(folder: str | Path) -> dict[str, Any]:
    """Read and check the ``config.json`` of a timm / Hugging Face model folder.

    Raises
    ------
    ValueError
        If the folder has no ``config.json``, no weight file, or the config names no ``architecture``.
    """
    folder = Path(folder)
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise ValueError(f"{folder} has no config.json; a timm model folder holds config.json and weights")
    try:
        cfg = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{cfg_file} is not valid JSON: {exc}") from exc
    if "architecture" not in cfg:
        raise ValueError(f"{cfg_file} names no 'architecture'; it is not a timm model config")
    if not any((folder / f).is_file() for f in _WEIGHT_FILES):
        raise ValueError(f"{folder} has a config.json but no weights (expected one of {', '.join(_WEIGHT_FILES)})")
    return cfg


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
        if image_size is not None:
            try:
                model = timm.create_model(source, pretrained=load, img_size=image_size, **kwargs)
            except TypeError as exc:  # architectures with no fixed input size take no img_size
                if "img_size" not in str(exc):
                    raise
                model = timm.create_model(source, pretrained=load, **kwargs)
        else:
            model = timm.create_model(source, pretrained=load, **kwargs)
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
        for prefix in _HUB_PREFIXES:
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


def _timm_factory(model_name: str):
    def factory(*, in_chans: int = 3, image_size: int | None = None, pretrained=None, **kwargs):
        return TimmBackbone(model_name, in_chans=in_chans, image_size=image_size, pretrained=pretrained, **kwargs)

    factory.__name__ = f"timm_{model_name}"
    factory.__doc__ = f"timm {model_name!r} backbone returning pooled features."
    return factory


@hookimpl
def register_backbones(register):
    """Register every timm architecture under its timm name."""
    for name in timm.list_models():
        register(name, _timm_factory(name), description=f"timm {name}", library="timm")
