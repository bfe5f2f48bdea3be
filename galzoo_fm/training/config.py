"""TOML run configurations for ``galzoo-fm pretrain`` / ``finetune``, validated before anything trains.

A configuration is a TOML file (read with :mod:`tomllib`) or a dict of tables. :func:`load_config` checks
every key against a specification: unknown keys (with a "did you mean"), wrong types and out-of-range
values raise ``ValueError`` / ``TypeError`` naming the key, e.g. ``train.steps``. Defaults fill in what
is not given. Checks that need the data (does the catalogue have vote columns for a loss that needs
them?) happen in :func:`galzoo_fm.training.prepare_pretraining`, still before the first step.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from galzoo_fm._utils.settings import REQUIRED, Setting, suggest, table_of, type_name, validate_table  # noqa: F401
from galzoo_fm.training.trainer import TrainSettings

__all__ = ["FINETUNE_SPEC", "PRETRAIN_SPEC", "Field", "load_config"]

#: One configuration key (the old name of :class:`galzoo_fm._utils.settings.Setting`).
Field = Setting
_OPEN = "open"  # a table whose keys are checked by the code that uses it (loss options, augment settings)

# [train], [optim] and [logging]: TrainSettings declares them (its fields name their keys), plus the two
# [train] keys that are the Trainer's own arguments
_OUT = Setting(str, doc="The run folder (checkpoints, metrics).")
_RESUME = Setting((bool, str), "auto", doc="Continue the run in train.out (\"auto\"), start afresh (false), or "
                  "resume this checkpoint folder.")
_TRAIN = {"out": _OUT, **table_of(TrainSettings, "train", exclude=("eval_every", "patience")), "resume": _RESUME}
_OPTIM = table_of(TrainSettings, "optim")
_LOGGING = table_of(TrainSettings, "logging")
_MODEL = {
    "backbone": Setting(str, "resnet18", doc="A registered backbone (see `galzoo-fm backbones`)."),
    "init": Setting(str, None, doc="Start from this pretrained encoder folder or hub id."),
    "pretrained": Setting((bool, str), False, doc="The backbone's own pretrained weights (true, or a tag)."),
    "in_chans": Setting(int, None, minimum=1, doc="Input channels (default: the data's)."),
    "image_size": Setting(int, None, minimum=8, doc="Input side in pixels (default: the data's or the views')."),
    "backbone_kwargs": Setting(dict, {}, doc="Extra keyword arguments of the backbone."),
    "seed": Setting(int, 0, minimum=0, doc="Seed of the fresh weights."),
    "symmetry": Setting(str, None, choices=("none", "d4"), doc="Average embeddings over the 8 symmetries of the "
                        "square (\"d4\")."),
}
_DATA = {
    "path": Setting(str, doc="A cutout store folder or a .npy image file."),
    "catalog": Setting(str, None, doc="The catalogue with labels or vote counts."),
    "statuses": Setting(list, ["ok", "partial"], items=str, doc="Cutout statuses used."),
}

#: Tables and keys of a pretraining configuration.
PRETRAIN_SPEC: dict[str, Any] = {
    "model": _MODEL,
    "loss": {"name": Setting(str, doc="A registered loss (see `galzoo-fm losses`)."),
             "schema": Setting(str, None, doc="The vote schema of a loss that uses votes."),
             "options": Setting(dict, {}, doc="Keyword arguments of the loss.")},
    "data": _DATA,
    "augment": _OPEN,
    "preprocess": _OPEN,
    "optim": _OPTIM,
    "train": _TRAIN,
    "logging": _LOGGING,
}

#: Tables and keys of a finetuning configuration.
FINETUNE_SPEC: dict[str, Any] = {
    "model": {**_MODEL, "init": Setting(str, doc="The pretrained encoder folder or hub id.")},
    "task": {
        "kind": Setting(str, choices=("classifier", "regressor", "dirichlet"), doc="The head's task."),
        "label_columns": Setting((str, list), None, doc="The label column(s) of data.catalog."),
        "schema": Setting(str, None, doc="The vote schema (kind = \"dirichlet\")."),
        "head": Setting(str, "linear", choices=("linear", "mlp"), doc="One Linear layer, or Linear-ReLU-Linear."),
        "hidden": Setting(int, 256, minimum=1, doc="Hidden units of the mlp head."),
        "dropout": Setting(float, 0.0, minimum=0.0, maximum=0.99, doc="Dropout before the head."),
        "freeze_encoder": Setting(bool, False, doc="Train only the head."),
    },
    "data": {**_DATA, "catalog": Setting(str, doc="The catalogue with the labels."),
             "val_fraction": Setting(float, 0.2, minimum=0.01, maximum=0.9, doc="Labelled galaxies held out.")},
    "augment": _OPEN,
    "preprocess": _OPEN,
    "optim": table_of(TrainSettings, "optim", lr={"default": 1e-4}),
    "train": {"out": _OUT, **table_of(TrainSettings, "train", steps={"default": 500}, batch_size={"default": 64},
                                      eval_every={"default": 50, "minimum": 1}, patience={"default": 5}),
              "resume": _RESUME},
    "logging": _LOGGING,
}


def load_config(source: str | Path | dict[str, Any], spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read and validate a configuration; return it with every default filled in.

    Parameters
    ----------
    source : str, path or dict
        A TOML file, or the parsed tables.
    spec : dict, optional
        :data:`PRETRAIN_SPEC` (default) or :data:`FINETUNE_SPEC`.

    Returns
    -------
    dict
        ``{table: {key: value}}`` for every table of ``spec``; ``"_source"`` holds the file name.

    Raises
    ------
    ValueError
        Unknown table or key, missing required key, value out of range, unreadable TOML; the message names
        the key (``train.steps``) and the file.
    TypeError
        A value of the wrong type, naming the key.

    Examples
    --------
    >>> cfg = load_config({"loss": {"name": "byol"}, "data": {"path": "store/"}, "train": {"out": "run"}})
    >>> cfg["train"]["steps"], cfg["optim"]["name"]
    (1000, 'adamw')
    >>> load_config({"loss": {"name": "byol"}, "data": {"path": "s"}, "train": {"out": "r", "stesp": 5}})
    Traceback (most recent call last):
    ...
    ValueError: unknown key train.stesp (<dict>); did you mean train.steps?
    """
    spec = PRETRAIN_SPEC if spec is None else spec
    if isinstance(source, dict):
        doc, where = copy.deepcopy(source), "<dict>"
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ValueError(f"configuration file {where!r} does not exist")
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{where} is not valid TOML: {exc}") from None
    out: dict[str, Any] = {"_source": where}
    for table in doc:
        if table not in spec:
            raise ValueError(f"unknown table [{table}] ({where})" + suggest(table, spec))
        if not isinstance(doc[table], dict):
            raise TypeError(f"{table} must be a table ([{table}]), got {type_name(doc[table])} ({where})")
    for table, fields in spec.items():
        if fields == _OPEN:
            out[table] = dict(doc[table]) if table in doc else None
        else:
            out[table] = validate_table(doc.get(table, {}), fields, prefix=f"{table}.", where=where)
    return out
