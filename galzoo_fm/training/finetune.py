"""``galzoo-fm finetune``: a pretrained encoder plus a new head, trained on labels with early stopping.

Three kinds of head: ``classifier`` (cross-entropy on one class column), ``regressor`` (mean squared
error on one or more numeric columns, rows with NaN targets skipped) and ``dirichlet`` (a Dirichlet head
on the vote counts of a new schema, as in Zoobot's finetuning; Walmsley et al. 2022). With
``task.freeze_encoder = true`` only the head trains and the encoder stays in eval mode (frozen BatchNorm
statistics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from galzoo_fm._utils.atomic import honour_umask
from galzoo_fm._utils.checks import one_of
from galzoo_fm.losses import LossOutput, dirichlet_loss, resolve_question_groups
from galzoo_fm.models.checkpoint import atomic_write_bytes
from galzoo_fm.models.encoder import Encoder
from galzoo_fm.models.inference import validate_images
from galzoo_fm.plugins import get_registry
from galzoo_fm.training.config import FINETUNE_SPEC, load_config
from galzoo_fm.training.data import BatchSubset, open_dataset
from galzoo_fm.training.pretrain import build_model_input, settings_from_config
from galzoo_fm.training.state import load_state
from galzoo_fm.training.trainer import Trainer, TrainResult
from galzoo_fm.training.views import PreprocessViews

__all__ = ["FinetuneModel", "FinetuneResult", "finetune", "load_finetuned"]

KINDS: tuple[str, ...] = FINETUNE_SPEC["task"]["kind"].choices  # ("classifier", "regressor", "dirichlet")
HEADS: tuple[str, ...] = FINETUNE_SPEC["task"]["head"].choices  # ("linear", "mlp")


class FinetuneModel(nn.Module):
    """Encoder + task head with the objective interface the :class:`~galzoo_fm.training.Trainer` runs.

    Parameters
    ----------
    encoder : torch.nn.Module
        With ``num_features``.
    kind : {"classifier", "regressor", "dirichlet"}
    n_outputs : int
        Classes, regression targets, or answers of the schema.
    head : {"linear", "mlp"}
        One Linear layer, or Linear–ReLU–Linear with ``hidden`` units.
    hidden : int
    dropout : float
        Before the head.
    freeze_encoder : bool
        Train only the head; the encoder stays in eval mode.
    schema : Schema, optional
        For ``kind="dirichlet"``.

    Notes
    -----
    ``forward(views, targets)`` takes ``[images (N, C, H, W)]`` and targets ``(N,)`` int64 classes
    (``-1``: unlabelled), ``(N, k)`` floats (NaN: unknown) or ``(N, A)`` vote counts; returns a
    :class:`~galzoo_fm.losses.LossOutput`; the trainer gives it model-ready views (see
    ``build_views``). :meth:`predict` takes raw cutouts, runs the encoder's
    recorded preprocessing, and gives class probabilities, values or Dirichlet concentrations.
    """

    n_views = 1
    needs_votes = True
    uses_votes = True
    has_ema_target = False

    def __init__(self, encoder: nn.Module, kind: str, n_outputs: int, *, head: str = "linear", hidden: int = 256,
                 dropout: float = 0.0, freeze_encoder: bool = False, schema: Any = None):
        super().__init__()
        one_of(kind, KINDS, "task.kind")
        one_of(head, HEADS, "task.head")
        self.encoder = encoder
        self.kind = kind
        self.freeze_encoder = bool(freeze_encoder)
        d = int(encoder.num_features)
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if head == "mlp":
            layers += [nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, n_outputs)]
        else:
            layers.append(nn.Linear(d, n_outputs))
        self.head = nn.Sequential(*layers)
        self.groups = None
        if kind == "dirichlet":

            self.groups, n_answers = resolve_question_groups(schema)
            if n_answers != n_outputs:
                raise ValueError(f"the schema has {n_answers} answers but n_outputs is {n_outputs}")
        if self.freeze_encoder:
            for p in self.encoder.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> FinetuneModel:
        """Set training mode; with ``freeze_encoder`` the encoder stays in eval mode (frozen batch norm)."""
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def outputs(self, images: Tensor) -> Tensor:
        """Raw head outputs ``(N, n_outputs)`` (logits, values, or pre-activation concentrations)."""
        if self.freeze_encoder:
            with torch.no_grad():
                features = self.encoder(images)
        else:
            features = self.encoder(images)
        return self.head(features.float())

    def predict(self, images: Tensor | np.ndarray, *, preprocess: bool = True, bands: list[str] | None = None,
                pixel_scale: float | None = None) -> Tensor:
        """Class probabilities, regression values, or Dirichlet concentrations of raw cutouts.

        Parameters
        ----------
        images : torch.Tensor or numpy.ndarray
            ``(N, C, H, W)`` real numbers: raw cutouts in the survey's flux units, as the training data (with
            ``preprocess=True`` and recorded preprocessing), else model-ready ``(N, in_chans, S, S)`` images.
            A tensor is processed on its own device (the model should be there too); a NumPy array is
            copied to the model's device as float32.
        preprocess : bool
            Run the encoder's recorded preprocessing (:attr:`~galzoo_fm.Encoder.preprocessor`, the pipeline
            the model was trained with, as :meth:`Encoder.embed(raw, preprocess=True)
            <galzoo_fm.Encoder.embed>` runs it: ``pre(images).images``) first; ignored when the encoder
            recorded none. ``False``: ``images`` are already preprocessed.
        bands : list of str, optional
            Band names of the ``C`` input channels; default the recorded ``input_bands`` (the training data's).
        pixel_scale : float, optional
            Arcsec per input pixel; default the recorded ``input_pixel_scale`` (the training data's).

        Returns
        -------
        torch.Tensor
            ``(N, n_outputs)`` float32, without gradient: class probabilities (rows sum to 1), values, or
            concentrations.

        Raises
        ------
        TypeError
            ``images`` is not a tensor or array of real numbers.
        ValueError
            Not of shape ``(N, C, H, W)``; a channel count that matches neither the input bands (with
            preprocessing) nor the encoder's ``in_chans`` (without).
        """

        pre = self.encoder.preprocessor if preprocess and getattr(self.encoder, "preprocessing", None) else None
        if isinstance(images, np.ndarray):
            if images.dtype.kind not in "fiu":
                raise TypeError(f"images must have a real numeric dtype, got {images.dtype}")
            device = next(self.parameters()).device
            host = np.ascontiguousarray(images, dtype=np.float32)
            host = host if host.flags.writeable else host.copy()  # e.g. a read-only memory map
            images = torch.from_numpy(host).to(device)
        elif not isinstance(images, Tensor):
            raise TypeError(f"images must be a torch.Tensor or numpy.ndarray (N, C, H, W), got "
                            f"{type(images).__name__}")
        with torch.no_grad():
            if pre is not None:
                images = pre(images, bands=bands, pixel_scale=pixel_scale).images
            else:
                validate_images(images, int(getattr(self.encoder, "in_chans", images.shape[1] if images.ndim > 1
                                                    else 0)))
            out = self.outputs(images.float()).float()
            if self.kind == "classifier":
                return out.softmax(1)
            if self.kind == "dirichlet":
                return 1.0 + 100.0 * torch.sigmoid(out)
            return out

    def forward(self, views: list[Tensor], targets: Tensor | None) -> LossOutput:
        """The task's loss on ``views[0]`` ``(N, C, H, W)`` against ``targets``: labels ``(N,)`` or votes
        ``(N, A)``."""
        if targets is None:
            raise ValueError("finetuning needs targets (labels or votes) in every batch")
        out = self.outputs(views[0]).float()
        if self.kind == "classifier":
            known = targets >= 0
            loss = F.cross_entropy(out, targets.clamp(min=0), reduction="none")
            n = known.sum().clamp(min=1)
            loss = (loss * known).sum() / n
            acc = ((out.argmax(1) == targets) & known).sum() / n
            return LossOutput(loss, {"loss": loss.detach(), "accuracy": acc.detach()})
        if self.kind == "regressor":
            known = torch.isfinite(targets)
            err = torch.where(known, out - torch.nan_to_num(targets), torch.zeros_like(out))
            n = known.sum().clamp(min=1)
            loss = (err ** 2).sum() / n
            return LossOutput(loss, {"loss": loss.detach(), "mae": (err.abs().sum() / n).detach()})

        conc = 1.0 + 100.0 * torch.sigmoid(out)
        loss = dirichlet_loss(conc, targets.float(), self.groups, validate=False).mean()
        return LossOutput(loss, {"loss": loss.detach()})

    def update_target(self, step: int, total_steps: int) -> None:
        """No EMA target."""

    def optimizer_parameters(self) -> list[nn.Parameter]:
        """Head parameters, plus the encoder's unless it is frozen."""
        return [p for p in self.parameters() if p.requires_grad]


@dataclass
class FinetuneResult:
    """What :func:`finetune` returns.

    ``best_metrics`` holds the validation metrics of the kept (lowest ``val_loss``) model: ``val_loss``,
    and ``val_accuracy`` for a classifier or ``val_mae`` (mean absolute error) for a regressor.
    """

    model_dir: Path
    best_val_loss: float | None
    best_step: int | None
    train: TrainResult
    best_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def already_complete(self) -> bool:
        """The run folder held a finished run: nothing was trained, the model was exported again."""
        return self.train.already_complete

    def summary(self) -> str:
        """One line: the best validation metrics and their step, and where the model is."""
        done = (f"{self.train.out} is already complete ({self.train.step} steps); nothing to train. "
                if self.already_complete else "")
        if self.best_step is None:
            return f"{done}no validation was run; model: {self.model_dir}"
        metrics = self.best_metrics or {"val_loss": self.best_val_loss}
        shown = ", ".join(f"{_METRIC_NAMES.get(k, k)} {v:.4g}" for k, v in metrics.items())
        return f"{done}best validation at step {self.best_step}: {shown}; model: {self.model_dir}"


_METRIC_NAMES = {"val_loss": "loss", "val_accuracy": "accuracy", "val_mae": "mean absolute error"}


def _labelled_positions(dataset: Any, kind: str) -> np.ndarray:
    if kind == "dirichlet":
        return np.flatnonzero(dataset.votes.sum(1) > 0)
    if kind == "classifier":
        return np.flatnonzero(dataset.labels >= 0)
    return np.flatnonzero(np.isfinite(dataset.labels).any(1))


def _validator(val: Any, target_key: str, batch_size: int, views: Any = None):
    """Validation loss and the model's other metrics (``val_accuracy``, ``val_mae``) on ``val``.

    With preprocessing (``views``, a :class:`~galzoo_fm.training.views.PreprocessViews`) the model gets the
    whole pipeline without augmentation, ``pre(raw).images`` (what embedding and :meth:`FinetuneModel.predict`
    give it), so early stopping measures the model as it will be used."""

    pre_views = None
    if views is not None:
        pre_views = PreprocessViews(views.pre, None, bands=views.bands, pixel_scale=views.pixel_scale)

    def validate(model: FinetuneModel) -> dict[str, float]:
        dev = next(model.parameters()).device
        sums: dict[str, float] = {}
        n = 0
        for start in range(0, len(val), batch_size):
            batch = val[np.arange(start, min(start + batch_size, len(val)))]
            images, targets = batch["images"].to(dev), batch[target_key].to(dev)
            if pre_views is not None:
                images = pre_views(images, 1, None)[0]
            out = model([images], targets)
            m = len(images)
            for name, value in {**out.to_floats(), "loss": float(out.loss.detach())}.items():
                sums[f"val_{name}"] = sums.get(f"val_{name}", 0.0) + value * m
            n += m
        return {"val_loss": sums.pop("val_loss") / max(n, 1), **{k: v / max(n, 1) for k, v in sums.items()}}

    return validate


def finetune(config: str | Path | dict[str, Any]) -> FinetuneResult:
    """Finetune a pretrained encoder as a configuration describes (see :data:`FINETUNE_SPEC`).

    The best model on the validation split (lowest validation loss) is written to ``<train.out>/model``:
    ``encoder/`` (:meth:`~galzoo_fm.Encoder.save_pretrained`), ``head.safetensors`` and ``task.json``;
    reload it with :func:`load_finetuned`. Run again on a finished run folder, nothing is trained
    (``result.already_complete``) and the best model is exported again.
    """

    cfg = load_config(config, FINETUNE_SPEC)
    where = cfg["_source"]
    task, data = cfg["task"], cfg["data"]
    kind = task["kind"]
    schema = None
    if kind == "dirichlet":
        if task["schema"] is None:
            raise ValueError(f"task.kind = 'dirichlet' needs task.schema ({where})")
        schema = get_registry("schemas").create(task["schema"])
    elif task["label_columns"] is None:
        raise ValueError(f"task.kind = {kind!r} needs task.label_columns ({where})")
    try:
        dataset, info = open_dataset(
            data["path"], catalog=data["catalog"], schema=schema,
            label_columns=None if schema else task["label_columns"],
            task="classification" if kind == "classifier" else "regression", statuses=data["statuses"])
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"data.path / data.catalog / task.label_columns: {exc} ({where})") from None
    labelled = _labelled_positions(dataset, kind)
    if len(labelled) < 4:
        raise ValueError(f"only {len(labelled)} galaxies of data.path have labels in data.catalog ({where})")
    order = np.random.default_rng(cfg["train"]["seed"]).permutation(labelled)
    n_val = max(1, round(data["val_fraction"] * len(order)))
    train_set, val_set = BatchSubset(dataset, np.sort(order[n_val:])), BatchSubset(dataset, np.sort(order[:n_val]))
    # [preprocess], else the init's recorded preprocessing; saved with the model
    views_fn, _, encoder = build_model_input(cfg, dataset, info)
    n_out = schema.n_answers if schema else (len(info["classes"]) if kind == "classifier" else dataset.labels.shape[1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["train"]["seed"])
        model = FinetuneModel(encoder, kind, n_out, head=task["head"], hidden=task["hidden"],
                              dropout=task["dropout"], freeze_encoder=task["freeze_encoder"], schema=schema)
    settings = settings_from_config(cfg)
    if settings.batch_size > len(train_set):
        raise ValueError(f"train.batch_size = {settings.batch_size} is larger than the {len(train_set)} labelled "
                         f"training galaxies ({where})")
    key = "votes" if schema else "labels"
    out = Path(cfg["train"]["out"])
    resume = cfg["train"]["resume"]
    trainer = Trainer(model, train_set, settings, out, views_fn=views_fn, target_key=key,
                      validate_fn=_validator(val_set, key, settings.batch_size,
                                             views_fn if isinstance(views_fn, PreprocessViews) else None),
                      run_config={k: v for k, v in cfg.items() if not k.startswith("_")},
                      resume=resume if isinstance(resume, bool) or resume == "auto" else Path(resume))
    result = trainer.fit()
    best = result.best_checkpoint
    meta = json.loads((best / "state.json").read_text()) if best else {}
    early = meta.get("early_stopping") or {}
    if best is not None:

        load_state(best, objective=model)
    task_doc = {"format": "galzoo_fm.finetuned", "kind": kind, "n_outputs": n_out, "head": task["head"],
                "hidden": task["hidden"], "classes": info["classes"], "label_columns": task["label_columns"],
                "schema": task["schema"], "best_step": meta.get("step"),
                "best_val_loss": early.get("best"),
                "best_val_metrics": early.get("best_metrics") or {}}
    model_dir = save_finetuned(model, out / "model", task_doc)
    return FinetuneResult(model_dir, task_doc["best_val_loss"], task_doc["best_step"], result,
                          dict(task_doc["best_val_metrics"]))


def save_finetuned(model: FinetuneModel, folder: Path, task_doc: dict[str, Any]) -> Path:
    """Write ``encoder/``, ``head.safetensors`` and ``task.json`` into ``folder``."""

    folder.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(folder / "encoder")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()},
              str(folder / "head.safetensors"))
    honour_umask(folder / "head.safetensors")  # safetensors creates its files 0600
    atomic_write_bytes(folder / "task.json", (json.dumps(task_doc, indent=2) + "\n").encode())
    return folder


def load_finetuned(folder: str | Path) -> tuple[FinetuneModel, dict[str, Any]]:
    """Reload a :func:`finetune` output folder: ``(model in eval mode, task description)``."""

    folder = Path(folder)
    doc_path = folder / "task.json"
    if not doc_path.is_file():
        raise ValueError(f"{folder} is not a finetuned model folder (no task.json)")
    doc = json.loads(doc_path.read_text())
    schema = get_registry("schemas").create(doc["schema"]) if doc["kind"] == "dirichlet" else None
    model = FinetuneModel(Encoder.from_pretrained(folder / "encoder"), doc["kind"], doc["n_outputs"],
                          head=doc["head"], hidden=doc["hidden"], schema=schema)
    model.head.load_state_dict(load_file(str(folder / "head.safetensors")))
    return model.eval(), doc
