"""Training checkpoints without pickles: safetensors for every tensor, JSON for everything else.

A checkpoint is a folder ``<run>/checkpoints/step-XXXXXXX/`` holding

* ``encoder/`` — the encoder in the :meth:`~galzoo_fm.Encoder.save_pretrained` format (``config.json`` +
  ``model.safetensors``), loadable on its own with :meth:`~galzoo_fm.Encoder.from_pretrained`;
* ``state.safetensors`` — the objective's other tensors (heads, EMA target: ``objective.*``), the
  optimizer's tensors (``optimizer.<param>.<name>``) and the random number generator states as uint8
  tensors (``rng.<rank>.<name>``);
* ``state.json`` — step, epoch, sampler position, scheduler, optimizer hyperparameters, the objective's
  scalar attributes, the run configuration.

The folder is written under a temporary name and renamed into place (:mod:`galzoo_fm._utils.atomic`), and
``latest.json`` (the pointer
that :func:`latest_checkpoint` follows) is replaced atomically afterwards, so an interrupted save never
leaves a half-written checkpoint that a resume would pick up.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from galzoo_fm._utils.atomic import (
    atomic_folder,
    atomic_write,
    honour_umask,
    remove_stale_temporaries,
)
from galzoo_fm.models.checkpoint import load_weights

__all__ = [
    "FORMAT",
    "capture_rng",
    "latest_checkpoint",
    "load_state",
    "restore_rng",
    "save_state",
]

FORMAT = "galzoo_fm.training_state"
FORMAT_VERSION = 1
STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"
LATEST = "latest.json"
_SCALARS = (bool, int, float, str)


# ---------------------------------------------------------------------------------------------- RNG
def capture_rng(generators: dict[str, torch.Generator] | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Random states of torch (CPU and CUDA), NumPy, Python and the given generators.

    Returns ``(tensors, json)``: uint8 tensors keyed by name and the JSON-able rest.
    """
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{i}"] = s
    for name, gen in (generators or {}).items():
        tensors[f"gen.{name}"] = gen.get_state()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 - saving the legacy global stream others may use
    tensors["numpy"] = torch.from_numpy(np.ascontiguousarray(keys, dtype=np.uint32).view(np.uint8).copy())
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": _python_state()}
    return tensors, meta


def _python_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict, generators: dict[str, torch.Generator] | None = None
                ) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(tensors["torch"])
    cuda = sorted(k for k in tensors if k.startswith("cuda"))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda][: torch.cuda.device_count()])
    for name, gen in (generators or {}).items():
        if f"gen.{name}" in tensors:
            gen.set_state(tensors[f"gen.{name}"])
    kind, pos, has_gauss, cached = meta["numpy"]
    keys = tensors["numpy"].numpy().view(np.uint32)
    np.random.set_state((kind, keys, pos, has_gauss, cached))  # noqa: NPY002
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


# ------------------------------------------------------------------------------------------ optimizer
def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    other: dict[str, dict[str, Any]] = {}
    for pid, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{pid}.{name}"] = value
            else:
                other.setdefault(str(pid), {})[name] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": other}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, entries in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}


# ------------------------------------------------------------------------------------------- objective
def _encoder_saves_itself(encoder: nn.Module) -> bool:
    return callable(getattr(encoder, "save_pretrained", None))


def _objective_scalars(objective: nn.Module) -> dict[str, Any]:
    return {k: v for k, v in vars(objective).items()
            if not k.startswith("_") and k != "training" and isinstance(v, _SCALARS)}


# ------------------------------------------------------------------------------------------ save / load
def save_state(
    root: str | Path,
    step: int,
    *,
    objective: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rng: list[tuple[dict[str, torch.Tensor], dict]],
    meta: dict[str, Any],
    keep: int = 3,
    name: str | None = None,
) -> Path:
    """Write a checkpoint folder ``root/step-XXXXXXX`` atomically and point ``root/latest.json`` at it.

    Parameters
    ----------
    root : str or path
        The run's checkpoint folder.
    step : int
        Optimizer steps done.
    objective : torch.nn.Module
        The (unwrapped) objective; its ``encoder`` is saved with ``save_pretrained`` when it has one.
    optimizer, scheduler
        Their states are saved (the scheduler's ``state_dict`` must be JSON-serialisable).
    rng : list of (tensors, json)
        :func:`capture_rng` of every rank, in rank order.
    meta : dict
        More JSON-serialisable state (epoch, sampler position, configuration, ...).
    keep : int
        Keep this many ``step-*`` checkpoints (older ones are deleted); 0 keeps all.
    name : str, optional
        Folder name instead of ``step-XXXXXXX`` (e.g. ``"best"``); such folders are never pruned and do
        not move ``latest.json``.

    Returns
    -------
    pathlib.Path
        The checkpoint folder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _remove_debris(root)
    final = root / (name or f"step-{step:07d}")
    with atomic_folder(final) as tmp:  # renamed into place only once complete
        encoder = objective.encoder
        tensors: dict[str, torch.Tensor] = {}
        skip = ""
        if _encoder_saves_itself(encoder):
            encoder.save_pretrained(tmp / "encoder")
            skip = "encoder."
        for k, v in objective.state_dict().items():
            if not (skip and k.startswith(skip)):
                tensors[f"objective.{k}"] = v
        opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
        tensors.update(opt_tensors)
        for rank, (rng_tensors, _) in enumerate(rng):
            tensors.update({f"rng.{rank}.{k}": v for k, v in rng_tensors.items()})
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
        save_file(tensors, str(tmp / STATE_TENSORS), metadata={"format": FORMAT})
        honour_umask(tmp / STATE_TENSORS)  # safetensors creates its files 0600
        document = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "step": int(step),
            "encoder_in_folder": bool(skip), "optimizer": opt_meta,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "objective_scalars": _objective_scalars(objective), "rng": [m for _, m in rng], **meta,
        }
        atomic_write(tmp / STATE_JSON, (json.dumps(document, indent=1, default=_jsonable) + "\n").encode())
    if name is None:
        pointer = {"step": int(step), "path": final.name}
        atomic_write(root / LATEST, (json.dumps(pointer) + "\n").encode())
        if keep > 0:
            done = sorted(p for p in root.glob("step-*") if p.is_dir())
            for old in done[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    return final


#: The temporary folder names of versions before 0.1 (``.tmp-<name>-<pid>``, ``.trash-<name>-<pid>``); today's
#: are :func:`~galzoo_fm._utils.atomic.temporary_folder`'s, removed by ``remove_stale_temporaries``.
_DEBRIS = re.compile(r"^\.(tmp|trash)-.+-(\d+)$")


def _remove_debris(root: Path) -> None:
    """Remove the half-written and half-deleted checkpoint folders of dead processes, and stray temporary
    files (:func:`galzoo_fm._utils.atomic.remove_stale_temporaries`; older versions' names too)."""
    for entry in root.iterdir():
        m = _DEBRIS.match(entry.name)
        if m and entry.is_dir() and int(m.group(2)) != os.getpid():
            try:
                os.kill(int(m.group(2)), 0)
                continue  # a live process (another rank saving right now)
            except ProcessLookupError:
                shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue
    remove_stale_temporaries(root)


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot save {type(value).__name__} {value!r} in a checkpoint's JSON")


def latest_checkpoint(root: str | Path) -> Path | None:
    """The folder ``root/latest.json`` points to, or ``None`` when there is no checkpoint yet."""
    root = Path(root)
    pointer = root / LATEST
    if not pointer.is_file():
        return None
    try:
        folder = root / json.loads(pointer.read_text())["path"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{pointer} is corrupt ({exc}); delete it to start afresh, or resume from a step "
                         "folder") from None
    if not (folder / STATE_JSON).is_file():
        raise ValueError(f"{pointer} points to {folder}, which is not a complete checkpoint")
    return folder


def load_state(
    folder: str | Path,
    *,
    objective: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
) -> tuple[dict[str, Any], list[tuple[dict[str, torch.Tensor], dict]]]:
    """Load a checkpoint written by :func:`save_state` into the given objects.

    Returns
    -------
    meta : dict
        The ``state.json`` document.
    rng : list of (tensors, json)
        Per-rank random states, for :func:`restore_rng`.
    """
    folder = Path(folder)
    json_path = folder / STATE_JSON
    if not json_path.is_file():
        raise ValueError(f"{folder} is not a training checkpoint (no {STATE_JSON})")
    meta = json.loads(json_path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{json_path} is not a galzoo_fm training state (format={meta.get('format')!r})")
    tensors = load_file(str(folder / STATE_TENSORS), device="cpu")
    state = {k[len("objective."):]: v for k, v in tensors.items() if k.startswith("objective.")}
    if meta["encoder_in_folder"]:

        state.update({f"encoder.{k}": v for k, v in load_weights(folder / "encoder").items()})
    missing, unexpected = objective.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint {folder} does not match this objective: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]} (was it written with another loss or backbone?)")
    for k, v in meta.get("objective_scalars", {}).items():
        if hasattr(objective, k):
            setattr(objective, k, v)
    if optimizer is not None:
        optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
    if scheduler is not None and meta.get("scheduler") is not None:
        scheduler.load_state_dict(meta["scheduler"])
    ranks = sorted({int(k.split(".")[1]) for k in tensors if k.startswith("rng.")})
    rng = []
    for r in ranks:
        prefix = f"rng.{r}."
        rng.append(({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, meta["rng"][r]))
    return meta, rng
