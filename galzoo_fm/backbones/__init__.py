"""Image backbones: the contract, the factory, and the built-in timm plugin.

The names below are imported on first use, so that loading the plugins (``galzoo-fm --help``) does not
import torch or timm.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["TimmBackbone", "build_backbone", "read_timm_config", "validate_backbone"]

_WHERE = {
    "TimmBackbone": "timm_model",
    "build_backbone": "base",
    "read_timm_config": "timm_backbones",
    "validate_backbone": "base",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
