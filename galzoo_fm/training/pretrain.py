"""``galzoo-fm pretrain``: build encoder, objective, data and views from a configuration, then train."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import PRETRAIN_SPEC, load_config
from .trainer import Trainer, TrainResult, TrainSettings, ViewsFn, identity_views

__all__ = ["PretrainJob", "prepare_pretraining", "pretrain", "settings_from_config"]


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
    """:class:`TrainSettings` from the ``[optim]``, ``[train]`` and ``[logging]`` tables."""
    o, t, log = cfg["optim"], cfg["train"], cfg["logging"]
    auto = {"auto": None, True: True, False: False}
    return TrainSettings(
        steps=t["steps"], batch_size=t["batch_size"], optimizer=o["name"], lr=o["lr"],
        weight_decay=o["weight_decay"], betas=tuple(o["betas"]), momentum=o["momentum"],
        trust_coefficient=o["trust_coefficient"], warmup_steps=o["warmup_steps"], min_lr_ratio=o["min_lr_ratio"],
        grad_clip=o["grad_clip"], seed=t["seed"], precision=t["precision"], channels_last=t["channels_last"],
        compile=t["compile"], device=t["device"], sync_batchnorm=t["sync_batchnorm"],
        find_unused_parameters=t["find_unused_parameters"], num_workers=t["num_workers"],
        checkpoint_every=t["checkpoint_every"], keep=t["keep"], log_every=log["every"],
        tensorboard=log["tensorboard"], progress=auto[log["progress"]],
        eval_every=t.get("eval_every", 0), patience=t.get("patience", 0),
    )


def _loss_entry(name: str):
    from ..plugins import get_registry

    registry = get_registry("losses")
    try:
        return registry.entry(name)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"loss.name: {exc}") from None


def build_views(cfg: dict[str, Any], bands: list[str] | None, n_chans: int) -> tuple[ViewsFn, int | None, Any]:
    """``(views_fn, output size or None, preprocessor or None)`` from ``[augment]`` and ``[preprocess]``."""
    pre = None
    if cfg.get("preprocess") is not None:
        from ..preprocess import Preprocessor

        settings = dict(cfg["preprocess"])
        pre_bands = settings.pop("bands", bands or [f"band{i}" for i in range(n_chans)])
        try:
            pre = Preprocessor(pre_bands, **settings)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"[preprocess]: {exc}") from None
        if pre.settings.get("softening") == "noise":
            raise ValueError("[preprocess] softening = \"noise\" needs each cutout's measured noise, which training "
                             "views do not carry: give softening per band (a list) or a survey")
    aug = dict(cfg["augment"] or {})
    if aug.pop("enabled", True) is False:
        if pre is None:
            return identity_views, None, None
        return (lambda x, n, g: [pre.apply_stretch(x)] * n), None, pre
    from .views import AugmentViews

    views = AugmentViews(aug, post=pre.apply_stretch if pre is not None else None)
    return views, views.output_size, pre


def build_encoder(model_cfg: dict[str, Any], in_chans: int, image_size: int, *, bands: list[str] | None,
                  preprocessing: dict[str, Any] | None) -> nn.Module:
    """The encoder of ``[model]``: from ``init`` (a pretrained folder) or a fresh ``backbone``."""
    from ..encoder import Encoder

    if model_cfg["init"]:
        encoder = Encoder.from_pretrained(model_cfg["init"])
        if encoder.in_chans != in_chans:
            raise ValueError(f"model.init {model_cfg['init']!r} takes {encoder.in_chans} channels but the data has "
                             f"{in_chans}")
        if preprocessing is not None:  # this run's [preprocess] replaces the one the init was trained with
            from ..preprocess import Preprocessor
            from ..preprocess.pipeline import check_for_encoder

            pre = Preprocessor.from_dict(preprocessing)
            try:
                check_for_encoder(pre, encoder.in_chans, encoder.image_size)
            except ValueError as exc:
                raise ValueError(f"[preprocess] does not fit model.init {model_cfg['init']!r}: {exc}") from None
            encoder.preprocessing, encoder.bands = dict(preprocessing), list(pre.bands)
        return encoder
    want_c = model_cfg["in_chans"] or in_chans
    if want_c != in_chans:
        raise ValueError(f"model.in_chans = {want_c} but the data has {in_chans} channels")
    try:
        return Encoder(model_cfg["backbone"], in_chans=in_chans, image_size=model_cfg["image_size"] or image_size,
                       pretrained=model_cfg["pretrained"] or None, seed=model_cfg["seed"], bands=bands,
                       backbone_kwargs=model_cfg["backbone_kwargs"], preprocessing=preprocessing)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"model.backbone = {model_cfg['backbone']!r}: {exc}") from None


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
    from .. import get_loss, get_schema
    from ..datasets import open_dataset

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
            schema = get_schema(loss_cfg["schema"])
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
    c, h, _ = dataset.image_shape
    vf, size, pre = build_views(cfg, info["bands"], c)
    encoder = build_encoder(cfg["model"], c, size or h, bands=pre.bands if pre is not None else info["bands"],
                            preprocessing=pre.to_dict() if pre is not None else None)
    try:
        with torch.random.fork_rng(devices=[]):  # heads initialised from train.seed: runs are reproducible
            torch.manual_seed(cfg["train"]["seed"])
            objective = get_loss(loss_cfg["name"], encoder=encoder, schema=schema, **loss_cfg["options"])
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
