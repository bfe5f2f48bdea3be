"""The training engine: one loop for every objective, on one device or many (``torchrun``).

The :class:`Trainer` knows nothing about particular losses: it asks the objective how many views it
takes (``n_views``) and whether it keeps an EMA target, passes the batch's targets (vote counts by
default) and backpropagates ``LossOutput.loss``. A third-party loss trains without any change here.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from galzoo_fm._utils.checks import one_of
from galzoo_fm._utils.settings import setting, settings_class
from galzoo_fm.training.distributed import DistInfo, all_gather_objects, barrier, init_distributed
from galzoo_fm.training.metrics import MetricsLogger
from galzoo_fm.training.optim import OPTIMIZERS, WarmupCosine, build_optimizer
from galzoo_fm.training.sampling import ResumableBatchSampler
from galzoo_fm.training.state import capture_rng, latest_checkpoint, load_state, restore_rng, save_state

__all__ = ["PRECISIONS", "NonFiniteLossError", "TrainResult", "TrainSettings", "Trainer", "identity_views"]

ViewsFn = Callable[[Tensor, int, torch.Generator], list[Tensor]]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


def identity_views(images: Tensor, n_views: int, generator: torch.Generator) -> list[Tensor]:
    """``n_views`` copies of the batch (no augmentation): the simplest ``views_fn``."""
    return [images] * n_views


PRECISIONS = ("auto", "bf16", "fp32")
_AUTO = (True, False, "auto")


def _auto_none(value: Any) -> Any:
    return None if value == "auto" and not isinstance(value, bool) else value


@settings_class
class TrainSettings:
    """Settings of :class:`Trainer`: the ``[train]``, ``[optim]`` and ``[logging]`` tables of a configuration.

    Each field is declared once (type, default, bounds, doc, configuration key): the tables of
    :data:`~galzoo_fm.training.PRETRAIN_SPEC` / :data:`~galzoo_fm.training.FINETUNE_SPEC` and this class come
    from the same declaration (``galzoo_fm._utils.settings.table_of``). Building one directly does not
    validate; :func:`~galzoo_fm.training.load_config` validates the configuration tables.

    Attributes
    ----------
    {attributes}
    """

    steps: int = setting(int, 1000, "Optimizer steps in total.", minimum=1, key="train.steps")
    batch_size: int = setting(int, 256, "Global batch size (all ranks together); must divide by the number of "
                              "processes.", minimum=2, key="train.batch_size")
    optimizer: str = setting(str, "adamw", "The optimizer.", choices=OPTIMIZERS, key="optim.name")
    lr: float = setting(float, 1e-3, "Peak learning rate.", minimum=0.0, key="optim.lr")
    weight_decay: float = setting(float, 0.05, "Decoupled weight decay (not on biases and norms).", minimum=0.0,
                                  key="optim.weight_decay")
    betas: tuple[float, float] = setting(list, [0.9, 0.999], "AdamW betas.", length=2, items=float,
                                         key="optim.betas", convert=tuple)
    momentum: float = setting(float, 0.9, "SGD / LARS momentum.", minimum=0.0, maximum=0.999999,
                              key="optim.momentum")
    trust_coefficient: float = setting(float, 0.001, "LARS trust coefficient.", minimum=1e-12,
                                       key="optim.trust_coefficient")
    warmup_steps: int = setting(int, 0, "Linear warm-up steps of the cosine schedule.", minimum=0,
                                key="optim.warmup_steps")
    min_lr_ratio: float = setting(float, 0.0, "Final learning rate as a fraction of ``lr``.", minimum=0.0,
                                  maximum=1.0, key="optim.min_lr_ratio")
    grad_clip: float = setting(float, 0.0, "Clip the global gradient norm to this value (0: no clipping).",
                               minimum=0.0, key="optim.grad_clip")
    seed: int = setting(int, 0, "Seed of the batch order, the views and the random state.", minimum=0, key="train.seed")
    precision: str = setting(str, "auto", "``\"auto\"``: bf16 autocast on CUDA, fp32 on the CPU.",
                             choices=PRECISIONS, key="train.precision")
    channels_last: bool = setting(bool, True, "Channels-last memory format.", key="train.channels_last")
    compile: bool = setting(bool, False, "``torch.compile`` the objective's forward.", key="train.compile")
    device: str = setting(str, "auto", "``\"auto\"``, ``\"cpu\"``, ``\"cuda\"``, ...", key="train.device")
    sync_batchnorm: bool | str = setting((bool, str), "auto", "Convert BatchNorm layers to SyncBatchNorm under "
                                         "DDP (``\"auto\"``: on CUDA; PyTorch has no CPU SyncBatchNorm).",
                                         choices=_AUTO, key="train.sync_batchnorm")
    find_unused_parameters: bool = setting(bool, False, "Passed to DistributedDataParallel.",
                                           key="train.find_unused_parameters")
    num_workers: int | str = setting((int, str), "auto", "DataLoader worker processes (each reads whole "
                                     "batches); ``\"auto\"``: 4 on CUDA, 0 on the CPU.", minimum=0,
                                     words=("auto",), key="train.num_workers")
    checkpoint_every: int = setting(int, 0, "Save every this many steps (0: only at the end).", minimum=0,
                                    key="train.checkpoint_every")
    keep: int = setting(int, 3, "Step checkpoints kept (0: all).", minimum=0, key="train.keep")
    log_every: int = setting(int, 10, "Steps between metric rows (and NaN checks).", minimum=1,
                             key="logging.every")
    tensorboard: bool | str = setting((bool, str), "auto", "Write TensorBoard events (``\"auto\"``: when "
                                      "tensorboard is installed).", choices=_AUTO, key="logging.tensorboard")
    progress: bool | None = setting((bool, str), "auto", "Progress bar (``\"auto\"``, ``None`` here: when "
                                    "stderr is a terminal).", choices=_AUTO, key="logging.progress",
                                    convert=_auto_none)
    eval_every: int = setting(int, 0, "Steps between validations (0: none; finetuning).", minimum=0,
                              key="train.eval_every")
    patience: int = setting(int, 0, "Early-stopping patience in validations (0: no early stopping).", minimum=0,
                            key="train.patience")


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    ``already_complete`` is ``True`` when the run folder's latest checkpoint had already reached
    ``settings.steps`` (or had stopped early): nothing was trained, ``metrics`` are that checkpoint's last
    logged metrics and ``checkpoint`` is that checkpoint.
    """

    step: int
    out: Path
    checkpoint: Path | None
    best_checkpoint: Path | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    images_per_second: float = float("nan")
    stopped_early: bool = False
    resumed_from: Path | None = None
    already_complete: bool = False

    def summary(self) -> str:
        """One line for the command line: steps trained (or that the run was already complete) and the encoder."""
        encoder = self.checkpoint / "encoder" if self.checkpoint else None
        if self.already_complete:
            return f"{self.out} is already complete ({self.step} steps); nothing to train. encoder: {encoder}"
        early = " (stopped early)" if self.stopped_early else ""
        return f"trained {self.step} steps{early}; encoder: {encoder}"


def _autocast(device: torch.device, precision: str):
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return contextlib.nullcontext()
    one_of(precision, PRECISIONS, "train.precision")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class Trainer:
    """Train an objective on a batch dataset.

    Parameters
    ----------
    objective : torch.nn.Module
        An :class:`~galzoo_fm.losses.Objective` (or anything with its interface: ``n_views``,
        ``forward(views, targets) -> LossOutput``, ``update_target``, ``optimizer_parameters``, ``encoder``).
    dataset : galzoo_fm.training.data.BatchDataset
        ``dataset[indices]`` gives a batch dict with ``"images"`` and optionally targets.
    settings : TrainSettings
    out : str or path
        Run folder: ``checkpoints/``, ``metrics.csv``, ``tensorboard/``.
    views_fn : callable, optional
        ``views_fn(images, n_views, generator) -> list of n_views tensors`` on the device; the trainer
        owns (and checkpoints) the generator. Default :func:`identity_views`.
    target_key : str or None
        Batch key passed to the objective as its second argument (``"votes"``; ``None``: nothing).
    validate_fn : callable, optional
        ``validate_fn(objective) -> dict of float`` with a ``"val_loss"`` entry, called every
        ``settings.eval_every`` steps (with the objective in eval mode); drives early stopping and the
        ``best`` checkpoint.
    run_config : dict, optional
        JSON-serialisable configuration stored in each checkpoint.
    resume : "auto", bool, str or path
        ``"auto"``/``True``: continue from ``out/checkpoints/latest.json`` when it exists; ``False``: start
        afresh (``ValueError`` if the run folder already holds checkpoints); a path: that checkpoint folder.
    """

    def __init__(self, objective: nn.Module, dataset: Any, settings: TrainSettings, out: str | Path, *,
                 views_fn: ViewsFn | None = None, target_key: str | None = "votes",
                 validate_fn: Callable[[nn.Module], dict[str, float]] | None = None,
                 run_config: dict[str, Any] | None = None, resume: bool | str | Path = "auto"):
        self.objective = objective
        self.dataset = dataset
        self.settings = settings
        self.out = Path(out)
        self.views_fn = views_fn or identity_views
        self.target_key = target_key
        self.validate_fn = validate_fn
        self.run_config = run_config or {}
        self.resume = resume
        self.n_views = int(getattr(objective, "n_views", 1))

    # ------------------------------------------------------------------ setup
    def _resume_folder(self) -> Path | None:
        ckpts = self.out / "checkpoints"
        if self.resume in ("auto", True):
            return latest_checkpoint(ckpts)
        if self.resume is False:
            if latest_checkpoint(ckpts) is not None:
                raise ValueError(f"{ckpts} already holds checkpoints; resume them (train.resume = \"auto\") or "
                                 "choose another train.out folder")
            return None
        return Path(self.resume)

    def _prepare_model(self, info: DistInfo) -> tuple[nn.Module, nn.Module]:
        s = self.settings
        raw = self.objective
        cuda = info.device.type == "cuda"
        if info.distributed and (s.sync_batchnorm is True or (s.sync_batchnorm == "auto" and cuda)):
            if info.device.type != "cuda":
                raise ValueError("train.sync_batchnorm = true needs CUDA (PyTorch has no CPU SyncBatchNorm)")
            raw = nn.SyncBatchNorm.convert_sync_batchnorm(raw)
        fmt = torch.channels_last if s.channels_last else torch.preserve_format
        raw.to(info.device, memory_format=fmt)
        module: nn.Module = raw
        if info.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            module = DDP(raw, device_ids=[info.device.index] if info.device.type == "cuda" else None,
                         find_unused_parameters=s.find_unused_parameters)
        if s.compile:
            module = torch.compile(module)
        return raw, module

    # ------------------------------------------------------------------- loop
    def fit(self) -> TrainResult:
        """Train for ``settings.steps`` steps (or until early stopping); return a :class:`TrainResult`."""
        s = self.settings
        info = init_distributed(s.device)
        try:
            return self._fit(info)
        finally:
            info.close()

    def _fit(self, info: DistInfo) -> TrainResult:
        s = self.settings
        if s.batch_size % info.world_size:
            raise ValueError(f"train.batch_size = {s.batch_size} must be divisible by the {info.world_size} "
                             "processes")
        torch.manual_seed(s.seed + 1000003 * info.rank)
        raw, module = self._prepare_model(info)
        optimizer = build_optimizer(raw.optimizer_parameters(), s.optimizer, lr=s.lr, weight_decay=s.weight_decay,
                                    betas=s.betas, momentum=s.momentum, trust_coefficient=s.trust_coefficient,
                                    lr_scales=getattr(raw, "lr_scales", dict)())
        scheduler = WarmupCosine(optimizer, s.steps, min(s.warmup_steps, s.steps), s.min_lr_ratio)
        generator = torch.Generator().manual_seed(s.seed * 7919 + info.rank + 1)
        step, epoch, batches_done, early = 0, 0, 0, {"best": None, "best_step": None, "bad": 0}
        folder = self._resume_folder()
        ckpt_root = self.out / "checkpoints"
        if folder is not None:
            meta, rng = load_state(folder, objective=raw, optimizer=optimizer, scheduler=scheduler)
            step, epoch, batches_done = meta["step"], meta["epoch"], meta["batches_done"]
            early = meta.get("early_stopping", early)
            stopped_before = bool(self.validate_fn is not None and s.patience and early.get("bad", 0) >= s.patience)
            if step >= s.steps or stopped_before:  # a finished run: nothing to train, the logs stay as they are
                best = ckpt_root / "best" if (ckpt_root / "best").is_dir() else None
                return TrainResult(step, self.out, folder, best, dict(meta.get("metrics") or {}),
                                   stopped_early=stopped_before, resumed_from=folder, already_complete=True)
            if len(rng) == info.world_size:
                restore_rng(*rng[info.rank], {"views": generator})
            else:
                warnings.warn(f"checkpoint {folder} was written by {len(rng)} processes, this run has "
                              f"{info.world_size}: random streams restart and the position in the epoch is "
                              "approximate (the run is not bit-identical to an uninterrupted one)", stacklevel=2)
        per_rank = s.batch_size // info.world_size
        sampler = ResumableBatchSampler(len(self.dataset), per_rank, rank=info.rank, world_size=info.world_size,
                                        seed=s.seed)
        sampler.set_position(epoch, batches_done)
        # a private generator: creating a loader iterator must not draw from the global random stream, or a
        # resumed run (one more iterator) would diverge from an uninterrupted one
        workers = (4 if info.device.type == "cuda" else 0) if s.num_workers == "auto" else int(s.num_workers)
        loader = torch.utils.data.DataLoader(self.dataset, sampler=sampler, batch_size=None, num_workers=workers,
                                             pin_memory=info.device.type == "cuda", persistent_workers=workers > 0,
                                             generator=torch.Generator().manual_seed(s.seed))
        logger = MetricsLogger(self.out, tensorboard=s.tensorboard, resume_step=step if folder else None,
                               enabled=info.is_main)
        progress = self._progress(info, step)
        postfix: dict[str, str] = {}  # the bar's latest training and validation numbers
        last_ckpt: Path | None = folder
        best_ckpt = ckpt_root / "best" if (ckpt_root / "best").is_dir() and folder else None
        params = [p for g in optimizer.param_groups for p in g["params"]]
        fmt = torch.channels_last if s.channels_last else torch.contiguous_format
        first_bad = torch.full((), -1, dtype=torch.long, device=info.device)
        metrics: dict[str, float] = {}
        rate = float("nan")
        stopped = False

        def check_finite() -> None:
            # every rank must stop together: take the earliest bad step of any rank
            never = torch.full_like(first_bad, 2**62)
            flag = torch.where(first_bad >= 0, first_bad, never)
            if info.distributed:
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
            bad = int(flag.item())
            if bad < 2**62:
                where = f"; the last good checkpoint is {last_ckpt}" if last_ckpt else " (no checkpoint was written)"
                raise NonFiniteLossError(
                    f"the loss became NaN or infinite at step {bad}: training stopped{where}. Lower optim.lr, set "
                    "optim.grad_clip, use train.precision = \"fp32\", or check the data for NaN pixels")

        def save(name: str | None = None) -> Path | None:
            rng_all = all_gather_objects(info, capture_rng({"views": generator}))
            path = None
            if info.is_main:
                meta = {"epoch": epoch, "batches_done": batches_done, "world_size": info.world_size,
                        "early_stopping": early, "config": self.run_config, "metrics": metrics}
                path = save_state(ckpt_root, step, objective=raw, optimizer=optimizer, scheduler=scheduler,
                                  rng=rng_all, meta=meta, keep=s.keep, name=name)
            barrier(info)
            return path or ckpt_root / (name or f"step-{step:07d}")

        it = iter(loader)
        raw.train()
        t_log, n_log = time.perf_counter(), 0
        try:
            while step < s.steps and not stopped:
                try:
                    batch = next(it)
                except StopIteration:
                    epoch, batches_done = epoch + 1, 0
                    sampler.set_position(epoch, 0)
                    it = iter(loader)
                    continue
                batches_done += 1
                images = batch["images"].to(info.device, non_blocking=True)
                targets = batch.get(self.target_key) if self.target_key else None
                if targets is not None:
                    targets = targets.to(info.device, non_blocking=True)
                views = [v.contiguous(memory_format=fmt) for v in self.views_fn(images, self.n_views, generator)]
                with _autocast(info.device, s.precision):
                    out = module(views, targets)
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                if s.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(params, s.grad_clip)
                optimizer.step()
                scheduler.step()
                raw.update_target(step, s.steps)
                step += 1
                n_log += images.shape[0] * info.world_size
                bad_now = ~torch.isfinite(out.loss.detach())
                first_bad = torch.where(bad_now & (first_bad < 0), torch.full_like(first_bad, step), first_bad)
                final = step == s.steps
                if step % s.log_every == 0 or final:
                    check_finite()
                    elapsed = time.perf_counter() - t_log
                    rate = n_log / elapsed if elapsed > 0 else float("nan")
                    # one device synchronisation per logged step, none in between (the loss is detached:
                    # float() of a tensor that requires grad warns)
                    metrics = out.to_floats()
                    if "loss" not in metrics:
                        metrics = {"loss": float(out.loss.detach()), **metrics}
                    metrics.update(lr=scheduler.get_last_lr()[0], epoch=float(epoch), images_per_s=rate)
                    logger.log(step, metrics)
                    if progress is not None:
                        postfix.update(loss=f"{metrics['loss']:.4g}", img_s=f"{rate:.0f}")
                        progress.set_postfix(postfix, refresh=False)
                    t_log, n_log = time.perf_counter(), 0
                if progress is not None:
                    progress.update(1)
                if self.validate_fn is not None and s.eval_every and (step % s.eval_every == 0 or final):
                    check_finite()
                    stopped, best_ckpt, values = self._validate(raw, step, early, logger, save, best_ckpt)
                    if progress is not None:
                        postfix.update({k: f"{v:.4g}" for k, v in values.items()})
                        progress.set_postfix(postfix)
                if (s.checkpoint_every and step % s.checkpoint_every == 0) or final or stopped:
                    check_finite()
                    last_ckpt = save()
        finally:
            if progress is not None:
                progress.close()
            logger.close()
        return TrainResult(step, self.out, last_ckpt, best_ckpt, metrics, rate, stopped, folder)

    def _validate(self, raw: nn.Module, step: int, early: dict, logger: MetricsLogger, save: Callable,
                  best_ckpt: Path | None) -> tuple[bool, Path | None, dict[str, float]]:
        raw.eval()
        with torch.no_grad():
            values = self.validate_fn(raw)
        raw.train()
        if "val_loss" not in values:
            raise ValueError(f"validate_fn must return a dict with 'val_loss', got keys {sorted(values)}")
        values = {str(k): float(v) for k, v in values.items()}
        logger.log(step, values, table="validation")
        value = values["val_loss"]
        if early["best"] is None or (math.isfinite(value) and value < early["best"]):
            early.update(best=value, best_step=step, bad=0, best_metrics=values)
            best_ckpt = save("best")
        else:
            early["bad"] += 1
        return bool(self.settings.patience and early["bad"] >= self.settings.patience), best_ckpt, values

    def _progress(self, info: DistInfo, step: int):
        show = self.settings.progress
        if show is None:
            import sys

            show = sys.stderr.isatty()
        if not (show and info.is_main):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.settings.steps, initial=step, unit="step", desc="train", dynamic_ncols=True)
