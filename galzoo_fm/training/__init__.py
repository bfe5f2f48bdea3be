"""The training engine: pretraining with any registered loss, finetuning, and evaluation.

* ``config`` — TOML configurations, validated before training starts;
* ``trainer`` — the :class:`Trainer` loop (AMP, channels-last, ``torch.compile``,
  gradient clipping, EMA targets, checkpoints and exact resume, NaN guard, DDP under ``torchrun``);
* ``optim`` — AdamW / :class:`LARS` and the warm-up + cosine schedule;
* ``state`` — pickle-free training checkpoints (safetensors + JSON);
* :mod:`~galzoo_fm.training.pretrain`, :mod:`~galzoo_fm.training.finetune`,
  :mod:`~galzoo_fm.training.evaluate` — the ``galzoo-fm pretrain / finetune / evaluate`` commands;
* :mod:`~galzoo_fm.training.invariance` — the invariance benchmark (:func:`invariance_scores`).
"""

from __future__ import annotations

from galzoo_fm.training.config import FINETUNE_SPEC, PRETRAIN_SPEC, load_config
from galzoo_fm.training.evaluate import (
    EvaluationResult,
    evaluate,
    extract_features,
    knn_classify,
    linear_probe,
    low_label_curve,
    plot_low_label_curve,
)
from galzoo_fm.training.finetune import FinetuneModel, FinetuneResult, finetune, load_finetuned
from galzoo_fm.training.invariance import InvarianceResult, invariance_scores, invariant_fraction, transform_images
from galzoo_fm.training.optim import LARS, WarmupCosine, build_optimizer
from galzoo_fm.training.pretrain import PretrainJob, prepare_pretraining, pretrain
from galzoo_fm.training.state import latest_checkpoint
from galzoo_fm.training.trainer import NonFiniteLossError, Trainer, TrainResult, TrainSettings, identity_views
from galzoo_fm.training.views import AugmentViews

__all__ = [
    "FINETUNE_SPEC",
    "LARS",
    "PRETRAIN_SPEC",
    "AugmentViews",
    "EvaluationResult",
    "FinetuneModel",
    "FinetuneResult",
    "InvarianceResult",
    "NonFiniteLossError",
    "PretrainJob",
    "TrainResult",
    "TrainSettings",
    "Trainer",
    "WarmupCosine",
    "build_optimizer",
    "evaluate",
    "extract_features",
    "finetune",
    "identity_views",
    "invariance_scores",
    "invariant_fraction",
    "knn_classify",
    "latest_checkpoint",
    "linear_probe",
    "load_config",
    "load_finetuned",
    "low_label_curve",
    "plot_low_label_curve",
    "prepare_pretraining",
    "pretrain",
    "transform_images",
]
