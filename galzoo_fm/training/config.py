"""TOML run configurations for ``galzoo-fm pretrain`` / ``finetune``, validated before anything trains.

A configuration is a TOML file (read with :mod:`tomllib`) or a dict of tables. :func:`load_config` checks
every key against a specification: unknown keys (with a "did you mean"), wrong types and out-of-range
values raise ``ValueError`` / ``TypeError`` naming the key, e.g. ``train.steps``. Defaults fill in what
is not given. Checks that need the data (does the catalogue have vote columns for a loss that needs
them?) happen in :func:`galzoo_fm.training.prepare_pretraining`, still before the first step.
"""

from __future__ import annotations

import copy
import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FINETUNE_SPEC", "PRETRAIN_SPEC", "Field", "load_config"]

REQUIRED = object()
_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
               dict: "a table"}


@dataclass(frozen=True)
class Field:
    """One configuration key: accepted types, default, and optional allowed values / bounds.

    ``choices`` lists every allowed value; ``words`` the allowed strings of a key that also takes numbers.
    """

    types: tuple[type, ...]
    default: Any = REQUIRED
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    length: int | None = None
    items: type | None = None
    words: tuple[str, ...] | None = None


def _f(*types: type, default: Any = REQUIRED, **kw: Any) -> Field:
    return Field(tuple(types), default, **kw)


_OPEN = "open"  # a table whose keys are checked by the code that uses it (loss options, augment settings)

_OPTIM = {
    "name": _f(str, default="adamw", choices=("adamw", "lars", "sgd")),
    "lr": _f(float, default=1e-3, minimum=0.0),
    "weight_decay": _f(float, default=0.05, minimum=0.0),
    "betas": _f(list, default=[0.9, 0.999], length=2, items=float),
    "momentum": _f(float, default=0.9, minimum=0.0, maximum=0.999999),
    "trust_coefficient": _f(float, default=0.001, minimum=1e-12),
    "warmup_steps": _f(int, default=0, minimum=0),
    "min_lr_ratio": _f(float, default=0.0, minimum=0.0, maximum=1.0),
    "grad_clip": _f(float, default=0.0, minimum=0.0),
}
_TRAIN = {
    "out": _f(str),
    "steps": _f(int, default=1000, minimum=1),
    "batch_size": _f(int, default=256, minimum=2),
    "seed": _f(int, default=0, minimum=0),
    "precision": _f(str, default="auto", choices=("auto", "bf16", "fp32")),
    "channels_last": _f(bool, default=True),
    "compile": _f(bool, default=False),
    "device": _f(str, default="auto"),
    "sync_batchnorm": _f(bool, str, default="auto", choices=(True, False, "auto")),
    "find_unused_parameters": _f(bool, default=False),
    "num_workers": _f(int, str, default="auto", minimum=0, words=("auto",)),
    "checkpoint_every": _f(int, default=0, minimum=0),
    "keep": _f(int, default=3, minimum=0),
    "resume": _f(bool, str, default="auto"),
}
_LOGGING = {
    "every": _f(int, default=10, minimum=1),
    "tensorboard": _f(bool, str, default="auto", choices=(True, False, "auto")),
    "progress": _f(bool, str, default="auto", choices=(True, False, "auto")),
}
_MODEL = {
    "backbone": _f(str, default="resnet18"),
    "init": _f(str, default=None),
    "pretrained": _f(bool, str, default=False),
    "in_chans": _f(int, default=None, minimum=1),
    "image_size": _f(int, default=None, minimum=8),
    "backbone_kwargs": _f(dict, default={}),
    "seed": _f(int, default=0, minimum=0),
    "symmetry": _f(str, default=None, choices=("none", "d4")),
}
_DATA = {
    "path": _f(str),
    "catalog": _f(str, default=None),
    "statuses": _f(list, default=["ok", "partial"], items=str),
}

#: Tables and keys of a pretraining configuration.
PRETRAIN_SPEC: dict[str, Any] = {
    "model": _MODEL,
    "loss": {"name": _f(str), "schema": _f(str, default=None), "options": _f(dict, default={})},
    "data": _DATA,
    "augment": _OPEN,
    "preprocess": _OPEN,
    "optim": _OPTIM,
    "train": _TRAIN,
    "logging": _LOGGING,
}

#: Tables and keys of a finetuning configuration.
FINETUNE_SPEC: dict[str, Any] = {
    "model": {**_MODEL, "init": _f(str)},
    "task": {
        "kind": _f(str, choices=("classifier", "regressor", "dirichlet")),
        "label_columns": _f(str, list, default=None),
        "schema": _f(str, default=None),
        "head": _f(str, default="linear", choices=("linear", "mlp")),
        "hidden": _f(int, default=256, minimum=1),
        "dropout": _f(float, default=0.0, minimum=0.0, maximum=0.99),
        "freeze_encoder": _f(bool, default=False),
    },
    "data": {**_DATA, "catalog": _f(str), "val_fraction": _f(float, default=0.2, minimum=0.01, maximum=0.9)},
    "augment": _OPEN,
    "preprocess": _OPEN,
    "optim": {**_OPTIM, "lr": _f(float, default=1e-4, minimum=0.0)},
    "train": {**_TRAIN, "steps": _f(int, default=500, minimum=1), "batch_size": _f(int, default=64, minimum=2),
              "eval_every": _f(int, default=50, minimum=1), "patience": _f(int, default=5, minimum=0)},
    "logging": _LOGGING,
}


def _suggest(name: str, candidates: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean {prefix}{close[0]}?" if close else f"; allowed: {', '.join(candidates)}"


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)


def _check_value(key: str, value: Any, spec: Field, where: str) -> Any:
    types = spec.types
    ok = any(isinstance(value, t) and not (t in (int, float) and isinstance(value, bool)) for t in types)
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        wanted = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
        raise TypeError(f"{key} must be {wanted}, got {_type_name(value)} {value!r} ({where})")
    if spec.words is not None and isinstance(value, str) and value not in spec.words:
        raise ValueError(f"{key} must be a number or one of {', '.join(map(repr, spec.words))}; got {value!r} "
                         f"({where})")
    if spec.choices is not None and value not in spec.choices:
        raise ValueError(f"{key} must be one of {', '.join(map(repr, spec.choices))}; got {value!r} ({where})")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if spec.minimum is not None and value < spec.minimum:
            raise ValueError(f"{key} must be >= {spec.minimum}, got {value!r} ({where})")
        if spec.maximum is not None and value > spec.maximum:
            raise ValueError(f"{key} must be <= {spec.maximum}, got {value!r} ({where})")
    if isinstance(value, list):
        if spec.length is not None and len(value) != spec.length:
            raise ValueError(f"{key} must have {spec.length} entries, got {len(value)} ({where})")
        if spec.items is not None:
            out = []
            for i, item in enumerate(value):
                out.append(_check_value(f"{key}[{i}]", item, Field((spec.items,)), where))
            value = out
    return value


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
            raise ValueError(f"unknown table [{table}] ({where})" + _suggest(table, list(spec), ""))
        if not isinstance(doc[table], dict):
            raise TypeError(f"{table} must be a table ([{table}]), got {_type_name(doc[table])} ({where})")
    for table, fields in spec.items():
        given = doc.get(table, {})
        if fields == _OPEN:
            out[table] = dict(given) if table in doc else None
            continue
        for key in given:
            if key not in fields:
                raise ValueError(f"unknown key {table}.{key} ({where})" + _suggest(key, list(fields), f"{table}."))
        section = {}
        for key, field in fields.items():
            if key in given:
                section[key] = _check_value(f"{table}.{key}", given[key], field, where)
            elif field.default is REQUIRED:
                raise ValueError(f"missing required key {table}.{key} ({where})")
            else:
                section[key] = copy.deepcopy(field.default)
        out[table] = section
    return out
