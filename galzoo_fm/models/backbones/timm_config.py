"""What the timm plugin and the timm backbone share, without importing torch or timm: the model folder layout.

A timm / Hugging Face model folder holds ``config.json`` (naming the ``architecture``) and one weight file;
a Hugging Face Hub model is named ``hf_hub:<repo id>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["HUB_PREFIXES", "read_timm_config"]

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")
#: Prefixes of a Hugging Face Hub id given as ``pretrained`` (``hf_hub:<repo id>``).
HUB_PREFIXES = ("hf_hub:", "hf-hub:")


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
