"""Shared pieces of the embedding tests: a small synthetic sky and a tiny encoder with recorded preprocessing."""

from __future__ import annotations

from pathlib import Path

from galzoo_fm import Encoder
from galzoo_fm.embedding.demo import make_demo_field
from galzoo_fm.preprocess import Preprocessor


def demo_field(folder: Path, n_side: int = 4, spacing: int = 30) -> tuple[Path, Path]:
    """A ``local``-survey mosaic and its catalogue (``n_side²`` galaxies + one off-footprint + one NaN row)."""
    return make_demo_field(folder, n_side=n_side, spacing=spacing)


def local(mosaic: Path) -> dict:
    return {"survey": "local", "survey_options": {"path": str(mosaic)}}


def tiny_encoder(image_size: int = 32, pixel_scale: float = 0.262, bands=("g", "r", "z")) -> Encoder:
    pre = Preprocessor(list(bands), image_size=image_size, pixel_scale=pixel_scale, survey="legacy")
    return Encoder("resnet18", in_chans=len(bands), image_size=image_size, preprocessing=pre, bands=list(bands),
                   seed=1)
