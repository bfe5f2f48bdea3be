"""``galzoo-fm pretrain``: build encoder, objective, data and views from a configuration, then train."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from galzoo_fm._utils.settings import from_tables
from galzoo_fm.models.encoder import Encoder
from galzoo_fm.plugins import get_registry
from galzoo_fm.preprocess import Preprocessor
from galzoo_fm.preprocess.pipeline import check_for_encoder
from galzoo_fm.preprocess.settings import preset_settings
from galzoo_fm.training.config import PRETRAIN_SPEC, load_config
from galzoo_fm.training.data import open_dataset
from galzoo_fm.training.trainer import Trainer, TrainResult, TrainSettings, ViewsFn, identity_views
from galzoo_fm.training.views import AugmentViews, PreprocessViews

__all__ = ["PretrainJob", "build_preprocessor", "data_geometry", "prepare_pretraining", "pretrain",
           "settings_from_config"]


@dataclass
class PretrainJob:
    """Everything a pretraining run needs, built and checked before the first step."""

    config: dict[str, Any]
    objective: nn.Module
    dataset: Any
    settings: TrainSettings
    views_fn: ViewsFn
    out: Path

    def trainer(self) -> Trainer:
        """The :class:`Trainer` for this job."""
        resume = self.config["train"]["resume"]
        return Trainer(self.objective, self.dataset, self.settings, self.out, views_fn=self.views_fn,
                       target_key="votes", run_config=_jsonable_config(self.config),
                       resume=resume if isinstance(resume, bool) or resume == "auto" else Path(resume))


def _jsonable_config(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def settings_from_config(cfg: dict[str, Any]) -> TrainSettings:
    """:class:`TrainSettings` from the validated ``[optim]``, ``[train]`` and ``[logging]`` tables (each field
    from the key it declares; ``eval_every`` and ``patience`` default to 0 when the tables lack them)."""
    return from_tables(TrainSettings, cfg)


def _loss_entry(name: str):

    registry = get_registry("losses")
    try:
        return registry.entry(name)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"loss.name: {exc}") from None


def data_geometry(dataset: Any, info: dict[str, Any]) -> tuple[list[str] | None, float | None]:
    """``(band names, arcsec per pixel)`` that the data records.

    A cutout store records its bands (``info["bands"]`` of :func:`~galzoo_fm.training.data.open_dataset`) and,
    when its survey has one, its pixel scale (the manifest's ``pixscale``); a ``.npy`` image file records
    neither: ``(None, None)``.
    """
    bands = info.get("bands")
    return (None if bands is None else [str(b) for b in bands]), getattr(dataset, "pixel_scale", None)


def _table_settings(table: dict[str, Any] | None, recorded: dict[str, Any] | None, data_bands: list[str] | None,
                    n_chans: int) -> tuple[dict[str, Any], list[str], str, bool] | None:
    """``(settings, model bands, where, explicit input settings)`` from ``[preprocess]`` or a recorded dict."""
    if table is not None:
        settings = dict(table)
        preset = settings.pop("preset", None)
        if preset is not None:  # e.g. preset = "zoobot": the preset's settings, those given beside it replacing them
            try:
                settings = {**preset_settings(str(preset)), **settings}
            except ValueError as exc:
                raise ValueError(f"[preprocess] {exc}") from None
            settings.pop("input_bands", None)  # the data's bands are the input's
        model_bands = settings.pop("bands", data_bands or [f"band{i}" for i in range(n_chans)])
        return settings, model_bands, "[preprocess]", True
    if not recorded:
        return None

    try:
        settings = Preprocessor.from_dict(recorded).settings
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model.init recorded preprocessing that cannot be rebuilt ({exc}); give a "
                         "[preprocess] table") from None
    for key in ("format", "version"):
        settings.pop(key)
    model_bands = settings.pop("bands")
    return settings, model_bands, "the preprocessing recorded with model.init", False


def build_preprocessor(table: dict[str, Any] | None, dataset: Any, info: dict[str, Any], *,
                       recorded: dict[str, Any] | None = None) -> Any:
    """The :class:`~galzoo_fm.preprocess.Preprocessor` the training views run, or ``None``.

    Built from the ``[preprocess]`` table, else from ``recorded`` (the preprocessing saved with
    ``model.init``), else ``None`` (no preprocessing). Its ``input_bands`` and ``input_pixel_scale`` are
    those of the data, so its :meth:`~galzoo_fm.preprocess.Preprocessor.to_dict` (saved with the encoder) is
    exactly what the views used:

    - input bands: a cutout store's bands; for a ``.npy`` file, ``[preprocess] input_bands`` when given, else
      the model bands when the images have as many channels;
    - input pixel scale: a cutout store's pixel scale when it records one, else ``input_pixel_scale`` or the
      ``survey``'s default.

    Parameters
    ----------
    table : dict, optional
        The ``[preprocess]`` table: :class:`~galzoo_fm.preprocess.Preprocessor` settings, with the model
        ``bands`` (default: the data's band names, or ``band0``, ``band1``, ... for a ``.npy`` file); or
        ``preset = "zoobot"`` (:data:`~galzoo_fm.preprocess.PREPROCESS_PRESETS`) with any settings that
        replace the preset's.
    dataset : galzoo_fm.training.data.BatchDataset
        The training data (``image_shape`` ``(C, H, W)``; a store's through its ``store`` attribute).
    info : dict
        :func:`~galzoo_fm.training.data.open_dataset`'s info (``"bands"``).
    recorded : dict, optional
        A :meth:`~galzoo_fm.preprocess.Preprocessor.to_dict`, used when ``table`` is ``None``.

    Raises
    ------
    ValueError
        Input band names that cannot be known or that contradict the store's, an input pixel scale that
        contradicts the store's or is needed and unknown, or settings the pipeline refuses.
    TypeError
        An unknown or mistyped setting.
    """

    n_chans = int(dataset.image_shape[0])
    data_bands, data_scale = data_geometry(dataset, info)
    got = _table_settings(table, recorded, data_bands, n_chans)
    if got is None:
        return None
    settings, model_bands, where, explicit = got
    given_bands, given_scale = settings.get("input_bands"), settings.get("input_pixel_scale")
    if data_bands is not None:
        if explicit and given_bands is not None and [str(b) for b in given_bands] != data_bands:
            raise ValueError(f"[preprocess] input_bands = {list(given_bands)} but the cutout store of data.path "
                             f"holds bands {data_bands}: remove input_bands (a store's bands are used)")
        in_bands = data_bands
    elif given_bands is not None and (explicit or len(given_bands) == n_chans):
        if len(given_bands) != n_chans:
            raise ValueError(f"[preprocess] input_bands = {list(given_bands)} names {len(given_bands)} bands but "
                             f"the images of data.path have {n_chans} channels")
        in_bands = list(given_bands)
    elif isinstance(model_bands, list | tuple) and len(model_bands) == n_chans:
        in_bands = list(model_bands)
    else:
        n_model = len(model_bands) if isinstance(model_bands, list | tuple) else "?"
        raise ValueError(f"the band names of data.path's {n_chans}-channel images are unknown (a .npy file records "
                         f"none) and the {n_model} model bands {model_bands!r} of {where} do not match the channel "
                         "count: set [preprocess] input_bands = [...], one name per channel")
    settings["input_bands"] = in_bands
    if data_scale is not None:
        if (explicit and isinstance(given_scale, int | float) and not isinstance(given_scale, bool)
                and not math.isclose(float(given_scale), data_scale, rel_tol=1e-6)):
            raise ValueError(f"[preprocess] input_pixel_scale = {given_scale} but the cutout store of data.path "
                             f"records {data_scale} arcsec/pixel: remove input_pixel_scale (a store's is used)")
        settings["input_pixel_scale"] = data_scale
    try:
        pre = Preprocessor(model_bands, **settings)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    resolved = pre.settings
    if resolved["pixel_scale"] is not None and resolved["input_pixel_scale"] is None:
        raise ValueError(f"{where} resamples to pixel_scale = {resolved['pixel_scale']} arcsec/pixel but the pixel "
                         "scale of data.path is unknown (a .npy file, or a store without one): set [preprocess] "
                         "input_pixel_scale or survey")
    return pre


def build_views(cfg: dict[str, Any], dataset: Any, info: dict[str, Any], *,
                recorded: dict[str, Any] | None = None) -> tuple[ViewsFn, int | None, Any]:
    """``(views_fn, output size or None, preprocessor or None)`` from ``[augment]`` and ``[preprocess]``.

    With a preprocessor (:func:`build_preprocessor`; from ``[preprocess]``, else ``recorded``) the views are
    :class:`~galzoo_fm.training.views.PreprocessViews`: ``stretch(augment(flux(raw)))``, or ``pre(raw).images``
    with ``[augment] enabled = false``. Without one, the ``[augment]`` views of the raw images (or the images
    themselves when augmentation is off).
    """

    pre = build_preprocessor(cfg.get("preprocess"), dataset, info, recorded=recorded)
    aug = dict(cfg["augment"] or {})
    enabled = aug.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise TypeError(f"[augment] enabled must be a boolean, got {enabled!r}")
    augment = AugmentViews(aug) if enabled else None
    if pre is None:
        if augment is None:
            return identity_views, None, None
        return augment, augment.output_size, None
    s = pre.settings
    views = PreprocessViews(pre, augment, bands=s["input_bands"], pixel_scale=s["input_pixel_scale"])
    return views, pre.image_size, pre


def load_init(model_cfg: dict[str, Any]) -> nn.Module | None:
    """The encoder of ``model.init`` (a pretrained folder or hub id), or ``None`` when it is not set."""

    return Encoder.from_pretrained(model_cfg["init"]) if model_cfg["init"] else None


def build_encoder(model_cfg: dict[str, Any], in_chans: int, image_size: int, *, bands: list[str] | None,
                  preprocessing: dict[str, Any] | None, init: nn.Module | None = None) -> nn.Module:
    """The encoder of ``[model]``: from ``init`` (a pretrained folder) or a fresh ``backbone``.

    ``in_chans`` is the channel count the model gets (the preprocessing's output channels when there is
    one); ``init``: the already loaded ``model.init`` encoder (see :func:`load_init`).
    """

    if model_cfg["init"]:
        encoder = init if init is not None else Encoder.from_pretrained(model_cfg["init"])
        if encoder.in_chans != in_chans:
            raise ValueError(f"model.init {model_cfg['init']!r} takes {encoder.in_chans} channels but the data has "
                             f"{in_chans}")
        if preprocessing is not None:  # this run's preprocessing replaces the one the init was trained with

            pre = Preprocessor.from_dict(preprocessing)
            try:
                check_for_encoder(pre, encoder.in_chans, encoder.image_size)
            except ValueError as exc:
                raise ValueError(f"[preprocess] does not fit model.init {model_cfg['init']!r}: {exc}") from None
            encoder.preprocessing = dict(preprocessing)
            encoder.bands = list(pre.bands) if len(pre.bands) == encoder.in_chans else None  # None: a mask channel
        if model_cfg["symmetry"] is not None:  # else the init's own
            encoder.symmetry = model_cfg["symmetry"]
        return encoder
    want_c = model_cfg["in_chans"] or in_chans
    if want_c != in_chans:
        raise ValueError(f"model.in_chans = {want_c} but the data has {in_chans} channels")
    try:
        return Encoder(model_cfg["backbone"], in_chans=in_chans, image_size=model_cfg["image_size"] or image_size,
                       pretrained=model_cfg["pretrained"] or None, seed=model_cfg["seed"], bands=bands,
                       backbone_kwargs=model_cfg["backbone_kwargs"], preprocessing=preprocessing,
                       symmetry=model_cfg["symmetry"] or "none")
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"model.backbone = {model_cfg['backbone']!r}: {exc}") from None


def build_model_input(cfg: dict[str, Any], dataset: Any, info: dict[str, Any]) -> tuple[ViewsFn, Any, nn.Module]:
    """``(views_fn, preprocessor or None, encoder)`` for a pretraining or finetuning configuration.

    The preprocessing is the ``[preprocess]`` table's, else the one recorded with ``model.init``; the
    encoder saves exactly the preprocessing the views run (input bands and pixel scale included).
    """
    init = load_init(cfg["model"])
    recorded = (init.preprocessing or None) if init is not None and cfg.get("preprocess") is None else None
    views_fn, size, pre = build_views(cfg, dataset, info, recorded=recorded)
    c, h, _ = dataset.image_shape
    if pre is not None:
        model_c = pre.n_channels
        model_size = pre.image_size
        if cfg["model"]["image_size"] is not None and cfg["model"]["image_size"] != model_size:
            raise ValueError(f"model.image_size = {cfg['model']['image_size']} but [preprocess] image_size = "
                             f"{model_size}: the model is trained (and used) on the preprocessing's images")
    else:
        model_c, model_size = c, size or h
    if pre is None:
        bands = info["bands"]
    else:  # an Encoder's bands name its channels: none for the mask channel, so no names then
        bands = pre.bands if len(pre.bands) == model_c else None
    encoder = build_encoder(cfg["model"], model_c, model_size, bands=bands,
                            preprocessing=pre.to_dict() if pre is not None else None, init=init)
    return views_fn, pre, encoder


def prepare_pretraining(config: str | Path | dict[str, Any], *, views_fn: ViewsFn | None = None) -> PretrainJob:
    """Validate a configuration against the registry and the data, and build the run.

    Everything that can be wrong with a configuration is found here, before any training step: unknown
    keys and wrong types (see :func:`~galzoo_fm.training.load_config`), an unknown loss or backbone, a loss
    that needs vote counts without a ``loss.schema`` or without vote columns in ``data.catalog``, options
    the loss does not take, a batch larger than the data.

    Parameters
    ----------
    config : str, path or dict
        TOML file or parsed tables (see :data:`~galzoo_fm.training.PRETRAIN_SPEC`).
    views_fn : callable, optional
        Replace the ``[augment]`` views (``views_fn(images, n_views, generator) -> list of tensors``).

    Returns
    -------
    PretrainJob
    """

    cfg = load_config(config, PRETRAIN_SPEC)
    where = cfg["_source"]
    loss_cfg, data_cfg = cfg["loss"], cfg["data"]
    entry = _loss_entry(loss_cfg["name"])
    needs = bool(entry.metadata.get("needs_votes", False))
    uses = bool(entry.metadata.get("uses_votes", False)) or needs
    schema = None
    if uses:
        if loss_cfg["schema"] is None:
            raise ValueError(f"loss.name = {loss_cfg['name']!r} uses Galaxy Zoo vote counts: set loss.schema "
                             f"(e.g. \"decals_dr5\"; see `galzoo-fm schemas`) ({where})")
        try:
            schema = get_registry("schemas").create(loss_cfg["schema"])
        except (KeyError, ValueError) as exc:
            raise ValueError(f"loss.schema: {exc} ({where})") from None
        if needs and data_cfg["catalog"] is None:
            raise ValueError(f"loss.name = {loss_cfg['name']!r} needs vote counts but data.catalog is not set: give "
                             f"the catalogue with the {{question}}_{{answer}} columns of schema {schema.name!r} "
                             f"({where})")
    try:
        dataset, info = open_dataset(data_cfg["path"], catalog=data_cfg["catalog"] if uses else None,
                                     schema=schema if uses and data_cfg["catalog"] else None,
                                     statuses=data_cfg["statuses"])
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"data.path / data.catalog: {exc} ({where})") from None
    if needs and info["n_labelled"] == 0:
        raise ValueError(
            f"loss.name = {loss_cfg['name']!r} needs vote counts, but data.catalog {data_cfg['catalog']!r} has no "
            f"votes for the galaxies of data.path: none of schema {schema.name!r}'s label columns (e.g. "
            f"{schema.label_cols[0]!r}) holds a vote ({where})")
    vf, _, encoder = build_model_input(cfg, dataset, info)
    try:
        with torch.random.fork_rng(devices=[]):  # heads initialised from train.seed: runs are reproducible
            torch.manual_seed(cfg["train"]["seed"])
            objective = get_registry("losses").create(loss_cfg["name"], encoder=encoder, schema=schema,
                                                      **loss_cfg["options"])
    except TypeError as exc:
        raise TypeError(f"loss.options: {exc} ({where})") from None
    except ValueError as exc:
        raise ValueError(f"loss.options: {exc} ({where})") from None
    if hasattr(objective, "check_values"):
        objective.check_values = False  # the dataset checked its votes once: no device sync per step
    settings = settings_from_config(cfg)
    if settings.batch_size > len(dataset):
        raise ValueError(f"train.batch_size = {settings.batch_size} is larger than the {len(dataset)} galaxies of "
                         f"data.path ({where})")
    return PretrainJob(cfg, objective, dataset, settings, views_fn or vf, Path(cfg["train"]["out"]))


def pretrain(config: str | Path | dict[str, Any], *, views_fn: ViewsFn | None = None) -> TrainResult:
    """Pretrain an encoder as a configuration describes; the Python API of ``galzoo-fm pretrain``.

    Run it under ``torchrun --nproc-per-node N`` for DistributedDataParallel training. The encoder of
    the last checkpoint is ``result.checkpoint / "encoder"`` (an :meth:`~galzoo_fm.Encoder.from_pretrained`
    folder).

    Examples
    --------
    >>> from galzoo_fm.training import pretrain
    >>> result = pretrain("byol.toml")  # doctest: +SKIP
    >>> encoder = Encoder.from_pretrained(result.checkpoint / "encoder")  # doctest: +SKIP
    """
    return prepare_pretraining(config, views_fn=views_fn).trainer().fit()
