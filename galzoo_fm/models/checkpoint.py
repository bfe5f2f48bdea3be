"""Reading and writing encoder checkpoints: a folder with ``config.json`` and ``model.safetensors``.

Checkpoints never contain pickles; weights are `safetensors <https://huggingface.co/docs/safetensors>`_.
Files are written to temporary names and renamed into place (:mod:`galzoo_fm._utils.atomic`, the package's one
writer), so an interrupted save never leaves a half-written checkpoint that looks complete.

Saves are reproducible: the same weights and config give byte-identical files (and the same
:func:`file_sha256`, recorded in embedding runs). safetensors writes its ``__metadata__`` in a random key
order (a Rust ``HashMap``), so :func:`canonical_header` rewrites the JSON header with those keys sorted:
the same keys, values, tensors and offsets, readable by any safetensors reader.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from galzoo_fm._utils.atomic import atomic_path, remove_stale_temporaries
from galzoo_fm._utils.atomic import atomic_write as atomic_write_bytes

__all__ = [
    "CONFIG_NAME",
    "FORMAT",
    "WEIGHTS_NAME",
    "atomic_write_bytes",
    "canonical_header",
    "check_state_dict",
    "file_sha256",
    "read_config",
    "write_checkpoint",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: Value of the ``format`` key that marks a galzoo_fm encoder checkpoint.
FORMAT = "galzoo_fm.encoder"
FORMAT_VERSION = 1


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def canonical_header(path: str | Path) -> Path:
    """Rewrite the JSON header of the safetensors file ``path`` in place with its ``__metadata__`` keys sorted.

    A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON (padded with
    spaces), then the tensor bytes, whose offsets count from the end of the header. The JSON is written
    again compactly, with the tensor entries in their order and the metadata keys sorted, and padded with
    spaces to the same ``N``, so the tensor bytes do not move; the file stays valid for every reader (the
    format allows trailing spaces in the header).

    Parameters
    ----------
    path : str or path
        A safetensors file, rewritten in place (pass a temporary file, before its atomic rename).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        ``path`` is not a safetensors file, or its canonical header would not fit in the old one.
    """
    path = Path(path)
    with open(path, "r+b") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise ValueError(f"{path} is not a safetensors file: shorter than its 8-byte header length")
        (n,) = struct.unpack("<Q", head)
        raw = fh.read(n)
        try:
            header = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not a safetensors file: its header is not JSON ({exc})") from exc
        if len(raw) != n or not isinstance(header, dict):
            raise ValueError(f"{path} is not a safetensors file: a header of {n} bytes holding a JSON object "
                             "was expected")
        meta = header.get("__metadata__")
        if isinstance(meta, dict):
            header["__metadata__"] = dict(sorted(meta.items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > n:  # the same content compacted as safetensors does: never longer
            raise ValueError(f"{path}: the sorted header ({len(text)} bytes) does not fit in {n} bytes")
        fh.seek(8)
        fh.write(text + b" " * (n - len(text)))
    return path


def write_checkpoint(folder: str | Path, config: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``folder`` (created if needed).

    The weights are written first and the config last, so a folder whose config exists is complete. Both
    files are byte-identical for identical weights and config (:func:`canonical_header`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared or non-contiguous storage: give every tensor its own contiguous copy
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    remove_stale_temporaries(folder)
    with atomic_path(folder / WEIGHTS_NAME) as tmp:  # gives the file the umask's mode (safetensors makes 0600)
        save_file(tensors, tmp, metadata={"format": "pt", "producer": FORMAT})
        canonical_header(tmp)  # metadata keys in a fixed order: reproducible bytes and model_sha256
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(folder / CONFIG_NAME, text.encode())
    return folder


def read_config(folder: Path) -> dict[str, Any]:
    """Parse ``folder/config.json``; a clear ``ValueError`` if it is missing or not JSON."""
    cfg_file = folder / CONFIG_NAME
    if not cfg_file.is_file():
        raise ValueError(
            f"checkpoint folder {folder} has no {CONFIG_NAME}: expected a galzoo_fm encoder "
            f"({CONFIG_NAME} + {WEIGHTS_NAME}, written by Encoder.save_pretrained) or a timm / Hugging Face "
            "model folder"
        )
    try:
        cfg = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{cfg_file} is not valid JSON: {exc}") from exc
    if not isinstance(cfg, dict):
        raise ValueError(f"{cfg_file} must hold a JSON object, got {type(cfg).__name__}")
    return cfg


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Load ``folder/model.safetensors`` onto the CPU."""
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise ValueError(f"checkpoint folder {folder} has a {CONFIG_NAME} but no {WEIGHTS_NAME}")
    try:
        return load_file(weights, device="cpu")
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"cannot read {weights}: {exc}") from exc


def check_state_dict(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], source: str) -> None:
    """Raise ``ValueError`` describing missing, unexpected and mis-shaped tensors, if any."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [
        f"{k}: checkpoint {tuple(found[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in found and tuple(found[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or shapes):
        return

    def show(items: list[str]) -> str:
        return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing tensors: {show(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected tensors: {show(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches: {show(shapes)}")
    raise ValueError(
        f"weights in {source} do not match the model described by its config.json: " + "; ".join(parts)
    )
