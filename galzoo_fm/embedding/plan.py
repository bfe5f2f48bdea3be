"""Everything ``galzoo-fm embed`` checks before the first download: the run's *plan*.

:func:`make_plan` reads the catalogue, loads the model, builds the survey and the preprocessing, and fails
with a clear ``ValueError``/``TypeError`` on any problem that would otherwise surface hours into a run: an
unknown output extension, an unreadable or empty catalogue, missing or ambiguous coordinate columns (the
message lists the columns that exist), model bands the survey cannot serve (naming them). Duplicate ids
only warn (both rows are kept) and NaN coordinates become a per-row ``invalid`` status.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from galzoo_fm._utils.tableio import table_format
from galzoo_fm.catalog import Catalog, read_catalog
from galzoo_fm.fetch import build_survey
from galzoo_fm.models.encoder import Encoder
from galzoo_fm.preprocess import SURVEY_DEFAULTS, Preprocessor, band_mapping
from galzoo_fm.preprocess.pipeline import check_for_encoder
from galzoo_fm.surveys.base import Survey

__all__ = ["EmbedPlan", "default_preprocessor", "load_encoder", "make_plan", "output_path", "weights_hash"]


@dataclass
class EmbedPlan:
    """The validated inputs of one embedding run.

    Attributes
    ----------
    catalog : Catalog
        The catalogue with resolved positions.
    encoder : Encoder
        The model.
    model_name : str
        How the model is described in the output (a path, a hub id, or ``random-init ...``).
    model_hash : str
        SHA-256 of the weight file, or of the weights themselves for an in-memory or random model.
    preprocessor : Preprocessor
        The preprocessing applied to every cutout.
    preprocessing_source : str
        ``"checkpoint"`` (recorded with the model), ``"preset <name>"`` (asked for: a model that records
        none, e.g. ``preset zoobot``) or ``"survey default"``.
    survey : Survey
        The survey adapter (open: close it when done).
    size : int
        Cutout side in survey pixels.
    out, store, partial : pathlib.Path or None
        Output table, cutout store folder and partial-progress folder.
    keep_cols : list of str
        Input columns copied to the output.
    owns_survey : bool
        The survey was built from a name here (and is closed after the run); ``False`` for a survey object
        passed in by the caller.
    fingerprint : str
        Hash of everything that decides the output's content (set by the run; written as ``RUNHASH``), so
        that rerunning the same command recognises its finished output.
    """

    catalog: Catalog
    encoder: Encoder
    model_name: str
    model_hash: str
    preprocessor: Preprocessor
    preprocessing_source: str
    survey: Survey
    size: int
    out: Path | None
    store: Path
    partial: Path
    keep_cols: list[str] = field(default_factory=list)
    owns_survey: bool = True
    fingerprint: str = ""

    @property
    def bands(self) -> list[str]:
        """The model's bands, in channel order."""
        return self.preprocessor.bands


def weights_hash(encoder: Encoder) -> str:
    """SHA-256 of the weight file the encoder came from, else of its parameters and buffers in order."""
    if encoder.weights_sha256:
        return encoder.weights_sha256
    h = hashlib.sha256()
    for name, tensor in encoder.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def load_encoder(model: str | Path | Encoder | None, *, backbone: str = "resnet18", image_size: int = 64,
                 in_chans: int = 3, seed: int = 0) -> tuple[Encoder, str]:
    """The encoder and its description: a checkpoint folder / ``hf_hub:`` id, an :class:`Encoder`, or ``None``
    for a randomly initialised ``backbone`` (seeded; embeddings then reflect image statistics only)."""
    if isinstance(model, Encoder):
        return model, model.source or f"in-memory {model.backbone_name}"
    if model is None:
        encoder = Encoder(backbone, in_chans=in_chans, image_size=image_size, seed=seed)
        return encoder, f"random-init {backbone} (seed {seed})"
    if not isinstance(model, str | Path):
        raise TypeError(f"model must be a checkpoint path, a hub id or an Encoder, got {type(model).__name__}")
    return Encoder.from_pretrained(model), str(model)


def default_preprocessor(encoder: Encoder, survey: Survey) -> Preprocessor:
    """The documented fallback when a model recorded no preprocessing.

    Model bands: the encoder's ``bands`` if recorded, else the survey's first ``in_chans`` bands. Pixel scale:
    the survey's native scale, so the cutout is ``image_size`` survey pixels. Arcsinh softening: the survey's
    defaults (:meth:`Survey.preprocessing_defaults <galzoo_fm.surveys.Survey.preprocessing_defaults>`; the
    built-in ``legacy``, ``panstarrs`` and ``sdss`` have them, :data:`~galzoo_fm.preprocess.SURVEY_DEFAULTS`,
    and a plugin survey may set its own) when they know every band, else each image's measured sky noise
    (``softening="noise"``).
    """
    bands = list(encoder.bands or survey.bands[: encoder.in_chans])
    if len(bands) != encoder.in_chans:
        raise ValueError(
            f"the model has {encoder.in_chans} input channels but survey {survey.name!r} serves only "
            f"{len(survey.bands)} bands ({', '.join(survey.bands)}); choose a survey or layer with more bands"
        )
    settings: dict[str, Any] = {"image_size": encoder.image_size, "pixel_scale": survey.pixscale,
                                "input_bands": list(survey.bands), "input_pixel_scale": survey.pixscale}
    getter = getattr(survey, "preprocessing_defaults", None)
    known = getter() if callable(getter) else SURVEY_DEFAULTS.get(survey.name)
    if known is not None and all(b in known["softening"] for b in bands):
        if SURVEY_DEFAULTS.get(survey.name) == known:
            settings["survey"] = survey.name  # a built-in's defaults are recorded by name, as before
        else:
            settings["softening"] = [float(known["softening"][b]) for b in bands]
    else:
        settings["softening"] = "noise"
    return Preprocessor(bands, **settings)


def read_checked_catalog(source: Any, columns: Mapping[str, str | None] | None) -> Catalog:
    """Read the catalogue (which refuses ambiguous coordinates); refuse an empty one; warn on duplicate ids."""
    cols = dict(columns or {})
    return checked(read_catalog(source, id_col=cols.get("id"), ra_col=cols.get("ra"), dec_col=cols.get("dec")))


def checked(catalog: Catalog) -> Catalog:
    """``catalog``, refused when empty; a warning when ids repeat."""
    if len(catalog) == 0:
        raise ValueError(f"catalogue {catalog.source} has no rows (columns: {', '.join(catalog.table.colnames)})")
    if catalog.columns["id"] is not None:
        uniq, counts = np.unique(catalog.ids, return_counts=True)
        dupes = uniq[counts > 1]
        if len(dupes):
            shown = ", ".join(map(str, dupes[:5])) + (" ..." if len(dupes) > 5 else "")
            warnings.warn(f"{len(dupes)} id(s) appear more than once in column {catalog.columns['id']!r} "
                          f"({shown}); all rows are kept and embedded", stacklevel=4)
    return catalog


def _check_bands(pre: Preprocessor, survey: Survey) -> None:
    rule = pre.to_dict()["missing_band"]
    missing = [b for b in pre.bands if b not in survey.bands]
    if missing and rule == "error":
        layer = f" layer {survey.layer!r}" if survey.layer else ""
        raise ValueError(
            f"the model needs bands {', '.join(pre.bands)} but survey {survey.name!r}{layer} serves "
            f"{', '.join(survey.bands) or 'none'}: missing {', '.join(missing)}. Choose another survey, layer "
            "or --survey-opt bands=..., or a model trained on these bands"
        )
    band_mapping(pre.bands, list(survey.bands), rule)


def _check_scale(pre: Preprocessor, survey: Survey, model: str) -> None:
    """Warn when the model records no pixel scale and so cannot be checked against the survey's.

    Such a model sees the cutout's own pixels (no resampling): if it was trained at another scale, every
    galaxy looks larger or smaller to it than in training. The input scale recorded with the preprocessing
    (the training data's), when there is one, is compared with the survey's.
    """
    settings = pre.to_dict()
    if settings["pixel_scale"] is not None or survey.pixscale is None:
        return
    trained = settings.get("input_pixel_scale")
    if trained is None:
        warnings.warn(f"model {model} records no pixel scale, so its cutouts are not resampled and cannot be "
                      f"checked against the survey's {survey.pixscale:g} arcsec/pixel; if it was trained at "
                      "another scale, record pixel_scale in its preprocessing", stacklevel=3)
    elif abs(trained / survey.pixscale - 1) > 0.01:
        warnings.warn(f"model {model} records no output pixel scale and was set up for input at {trained:g} "
                      f"arcsec/pixel, but survey {survey.name!r} serves {survey.pixscale:g} arcsec/pixel: the "
                      "cutouts are not resampled, so galaxies appear at another size than in training", stacklevel=3)


def cutout_size(pre: Preprocessor, survey: Survey, size: int | None) -> int:
    """Cutout side in survey pixels: ``size`` if given, else the preprocessing's field of view."""
    if size is None:
        scale = pre.to_dict()["pixel_scale"]
        if scale is None or survey.pixscale is None:
            size = pre.image_size
        else:
            size = math.ceil(pre.image_size * scale / survey.pixscale - 1e-6)
    return survey.check_size(size)


def output_path(catalog: str | Path, out: str | Path | None = None) -> Path:
    """The output table of ``galzoo-fm embed CATALOG``: ``out`` if given, else ``CATALOG_embeddings.fits``.

    The default sits beside the catalogue: its name without the extension, ``_embeddings.fits`` appended.

    Parameters
    ----------
    catalog : str or path
        The catalogue file.
    out : str or path, optional
        The ``--out`` given, if any.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> output_path("data/galaxies.csv").as_posix()
    'data/galaxies_embeddings.fits'
    >>> output_path("data/galaxies.csv", "vectors.parquet").as_posix()
    'vectors.parquet'
    """
    if out:
        return Path(out)
    catalog = Path(catalog)
    return catalog.with_name(catalog.stem + "_embeddings.fits")


def _paths(out: str | Path | None, store: str | Path | None, partial: str | Path | None,
           workdir: Path | None) -> tuple[Path | None, Path, Path]:
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        table_format(out_path)
        if out_path.is_dir():
            raise ValueError(f"output {str(out_path)!r} is a folder; give a file name such as embeddings.parquet")
    if out_path is None and store is not None:
        base = Path(store)
    else:
        base = out_path if out_path is not None else (workdir or Path(".")) / "embeddings"
    store_path = Path(store) if store is not None else base.with_name(base.name + ".cutouts")
    partial_path = Path(partial) if partial is not None else base.with_name(base.name + ".partial")
    return out_path, store_path, partial_path


def make_plan(catalog: Any, *, model: Any = None, survey: str | Survey = "legacy",
              survey_options: Mapping[str, Any] | None = None, layer: str | None = None, size: int | None = None,
              out: str | Path | None = None, store: str | Path | None = None, partial: str | Path | None = None,
              workdir: Path | None = None, keep_cols: Sequence[str] = (),
              columns: Mapping[str, str | None] | None = None, backbone: str = "resnet18", image_size: int = 64,
              seed: int = 0, images: str | Mapping[str, Any] | Survey | None = None,
              preset: str | None = None) -> EmbedPlan:
    """Validate every input of :func:`~galzoo_fm.embedding.embed_catalog`; see there for the parameters."""
    out_path, store_path, partial_path = _paths(out, store, partial, workdir)
    if images is not None:
        return _image_plan(catalog, images, model, size, out_path, store_path, partial_path, keep_cols, columns,
                           backbone, image_size, seed, preset)
    cat = read_checked_catalog(catalog, columns)
    keep = _kept(cat, keep_cols)
    options = dict(survey_options or {})
    if layer is not None:
        options["layer"] = layer
    if isinstance(survey, Survey):
        if options:
            raise ValueError("survey options cannot be applied to a survey object; build it with them")
        sv, own = survey, False
    else:
        sv, own = build_survey(survey, options, cache_dir=store_path / "cache"), True
    try:
        encoder, name, pre, source = _model(model, sv, backbone, image_size, seed, preset)
        if own and "bands" not in options and set(sv.bands) > set(pre.bands):
            sv = _narrow(survey, options, sv, pre, store_path)
        cut = cutout_size(pre, sv, size)
        return EmbedPlan(cat, encoder, name, weights_hash(encoder), pre, source, sv, cut, out_path, store_path,
                         partial_path, keep, own)
    except BaseException:
        if own:
            sv.close()
        raise


def _model(model: Any, sv: Survey, backbone: str, image_size: int, seed: int, preset: str | None
           ) -> tuple[Encoder, str, Preprocessor, str]:
    """The encoder, its description, the preprocessing and where that came from; checked against ``sv``."""
    encoder, name = load_encoder(model, backbone=backbone, image_size=image_size,
                                 in_chans=len(sv.bands) if model is None else 3, seed=seed)
    if preset is not None:
        if encoder.preprocessing:
            raise ValueError(f"model {name} records its own preprocessing; a preset ({preset!r}) is only for a "
                             "model that records none (e.g. a Zoobot encoder folder)")
        pre, source = Preprocessor.preset(preset), f"preset {preset}"
    elif encoder.preprocessing:
        pre, source = encoder.preprocessor, "checkpoint"
    else:
        pre, source = default_preprocessor(encoder, sv), "survey default"
    check_for_encoder(pre, encoder.in_chans, encoder.image_size)
    _check_bands(pre, sv)
    _check_scale(pre, sv, name)
    return encoder, name, pre, source


def _image_plan(catalog: Any, images: Any, model: Any, size: int | None, out_path: Path | None, store_path: Path,
                partial_path: Path, keep_cols: Sequence[str], columns: Mapping[str, str | None] | None,
                backbone: str, image_size: int, seed: int, preset: str | None) -> EmbedPlan:
    """The plan of a run over the user's own image files (:mod:`galzoo_fm.images`) instead of a survey."""
    from galzoo_fm.images import ImageFiles, open_images

    if isinstance(images, ImageFiles):
        sv, own = images, False
    else:
        if not isinstance(catalog, str | Path):
            raise TypeError("images= needs the catalogue, folder or Parquet file as a path, not a table")
        options = {"column": images} if isinstance(images, str) else dict(images)
        sv, own = open_images(catalog, id_col=(columns or {}).get("id"), **options), True
    try:
        cat = checked(sv.catalog)
        keep = _kept(cat, keep_cols)
        encoder, name, pre, source = _model(model, sv, backbone, image_size, seed, preset)
        cut = sv.check_size(size if size is not None else sv.native_size)
        return EmbedPlan(cat, encoder, name, weights_hash(encoder), pre, source, sv, cut, out_path, store_path,
                         partial_path, keep, own)
    except BaseException:
        if own:
            sv.close()
        raise


def _kept(cat: Catalog, keep_cols: Sequence[str]) -> list[str]:
    keep = [str(c) for c in keep_cols]
    absent = [c for c in keep if c not in cat.table.colnames]
    if absent:
        raise ValueError(f"--keep-cols {', '.join(absent)} not in the catalogue; it has columns: "
                         f"{', '.join(cat.table.colnames)}")
    reserved = {"id", "ra", "dec", "embedding", "status", "reason", "flags", "anomaly_score"}
    clash = [c for c in keep if c.lower() in reserved]
    if clash:
        raise ValueError(f"--keep-cols {', '.join(clash)} would clash with output columns {sorted(reserved)}")
    return keep


def _narrow(name: str, options: dict[str, Any], survey: Survey, pre: Preprocessor, store: Path) -> Survey:
    """The survey rebuilt to serve only the model's bands (smaller downloads), if it takes ``bands``."""
    try:
        narrower = build_survey(name, {**options, "bands": ",".join(b for b in survey.bands if b in pre.bands)},
                                cache_dir=store / "cache")
    except (TypeError, ValueError):
        return survey
    survey.close()
    return narrower
