"""Image backbones: the contract, the factory, and the built-in timm plugin.

The names below are imported on first use, so that loading the plugins (``galzoo-fm --help``) does not
import torch or timm.
"""

from __future__ import annotations

from galzoo_fm._utils.lazy import lazy_exports

__all__ = ["TimmBackbone", "build_backbone", "read_timm_config", "validate_backbone"]

_WHERE = {
    "TimmBackbone": "timm_model",
    "build_backbone": "base",
    "read_timm_config": "timm_config",
    "validate_backbone": "base",
}

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
