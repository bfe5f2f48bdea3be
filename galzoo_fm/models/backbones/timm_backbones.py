"""Built-in plugin: every `timm <https://github.com/huggingface/pytorch-image-models>`_ architecture.

Each timm model name (``timm.list_models()``) is registered as a backbone of the same name, built with
``num_classes=0`` so that it returns pooled features, with any number of input channels. Pretrained
weights load from a local folder in the timm / Hugging Face layout (``config.json`` plus
``model.safetensors`` or ``pytorch_model.bin``, as Zoobot publishes its encoders) or from an
``hf_hub:`` id when the network is available; timm adapts the first convolution to the number of bands.
"""

from __future__ import annotations

from typing import Any

from galzoo_fm.hookspecs import hookimpl
from galzoo_fm.models.backbones.timm_config import read_timm_config

__all__ = ["read_timm_config", "register_backbones"]  # read_timm_config: handed on from timm_config


def _timm_factory(model_name: str):
    def factory(*, in_chans: int = 3, image_size: int | None = None, pretrained=None, **kwargs):
        from galzoo_fm.models.backbones.timm_model import TimmBackbone

        return TimmBackbone(model_name, in_chans=in_chans, image_size=image_size, pretrained=pretrained, **kwargs)

    factory.__name__ = f"timm_{model_name}"
    factory.__doc__ = f"timm {model_name!r} backbone returning pooled features."
    return factory


@hookimpl
def register_backbones(register):
    """Register every timm architecture under its timm name (imports timm: called when backbones are listed)."""
    import timm

    for name in timm.list_models():
        register(name, _timm_factory(name), description=f"timm {name}", library="timm")


def __getattr__(name: str) -> Any:
    # TimmBackbone imports torch and timm: loaded on first use, so that plugin discovery stays light
    if name == "TimmBackbone":
        from galzoo_fm.models.backbones.timm_model import TimmBackbone

        return TimmBackbone
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
