"""Image backbones: the contract, the factory, and the built-in timm plugin."""

from .base import build_backbone, validate_backbone
from .timm_backbones import TimmBackbone, read_timm_config

__all__ = ["TimmBackbone", "build_backbone", "read_timm_config", "validate_backbone"]
