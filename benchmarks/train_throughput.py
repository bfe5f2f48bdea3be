"""Pretraining step throughput: the real data path over random tensors already on the device, in one run.

For each loss, the same optimizer step (autocast, channels-last, forward, backward, AdamW, EMA update) is
timed two ways, interleaved so that drift of the machine affects both alike:

* **data path**: a cutout store on disk → :class:`~galzoo_fm.training.data.CutoutStoreDataset` (one batch per
  read) → DataLoader (pinned memory on CUDA) → device → on-device augmentations
  (:class:`~galzoo_fm.training.AugmentViews`, ``n_views`` views) → objective step, exactly as
  :class:`~galzoo_fm.training.Trainer` does it;
* **random**: the views are random tensors created on the device beforehand → the same objective step.

The ratio (goal ≥ 0.8 on a GPU) is the fraction of the model's training speed that the data path keeps::

    python benchmarks/train_throughput.py --backbone resnet18 --image-size 64 --batch-size 512 --losses byol
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import galzoo_fm
from galzoo_fm import Encoder
from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.store.writer import StoreWriter, ensure_manifest
from galzoo_fm.training import AugmentViews, build_optimizer
from galzoo_fm.training.data import CutoutStoreDataset
from galzoo_fm.training.distributed import resolve_device
from galzoo_fm.training.sampling import ResumableBatchSampler

LOSSES = ("byol", "spectral", "hybrid", "dirichlet")


def make_store(root: Path, n: int, chans: int, size: int) -> None:
    """A store of ``n`` noisy Gaussian galaxies (float32 fluxes)."""
    ensure_manifest(root, {"shape": [chans, size, size], "dtype": "float32", "bands": list("grzyi"[:chans]),
                           "extras": [], "size": size, "survey": "synthetic", "layer": None, "pixscale": 0.262,
                           "catalog_fingerprint": "benchmark"})
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    with StoreWriter(root) as w:
        for row in range(n):
            sigma = rng.uniform(size / 16, size / 5)
            img = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))[None] * rng.uniform(0.5, 2, (chans, 1, 1))
            img = (img + 0.05 * rng.normal(size=img.shape)).astype(np.float32)
            w.add(row, str(row), 150.0, 2.0, Cutout(Status.OK, img))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_loss(loss: str, args: argparse.Namespace, dataset: CutoutStoreDataset, schema, device: torch.device,
               workers: int) -> dict[str, float]:
    """Median images/s of the data path and of random tensors for one loss, and their ratio."""
    encoder = Encoder(args.backbone, in_chans=args.in_chans, image_size=args.image_size, seed=0)
    kwargs = {}
    if args.head_width and loss in ("byol", "hybrid"):
        kwargs = {"projection_hidden": args.head_width, "prediction_hidden": args.head_width}
    elif args.head_width and loss == "spectral":
        kwargs = {"projection_hidden": args.head_width}
    obj = galzoo_fm.get_loss(loss, encoder=encoder, schema=schema, **kwargs)
    obj.to(device, memory_format=torch.channels_last).train()
    obj.check_values = False
    opt = build_optimizer(obj.optimizer_parameters(), "adamw", lr=1e-4)
    forward = torch.compile(obj) if args.compile else obj
    state = {"k": 0}

    def step(views, target):
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
        with amp:
            out = forward(views, target)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        obj.update_target(state["k"], 10**6)
        state["k"] += 1

    gen = torch.Generator().manual_seed(0)
    views_fn = AugmentViews({})
    sampler = ResumableBatchSampler(len(dataset), args.batch_size, seed=0)
    loader = torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=workers,
                                         pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                                         generator=torch.Generator())
    batches = iter(loader)

    def next_batch():
        nonlocal batches
        try:
            return next(batches)
        except StopIteration:
            batches = iter(loader)
            return next(batches)

    def data_pass() -> float:
        sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            b = next_batch()
            x = b["images"].to(device, non_blocking=True)
            v = b["votes"].to(device, non_blocking=True)
            views = [y.contiguous(memory_format=torch.channels_last) for y in views_fn(x, obj.n_views, gen)]
            step(views, v)
        sync(device)
        return args.steps * args.batch_size / (time.perf_counter() - t0)

    shape = (args.batch_size, args.in_chans, args.image_size, args.image_size)
    rand_views = [torch.randn(shape, device=device).contiguous(memory_format=torch.channels_last)
                  for _ in range(obj.n_views)]
    rand_votes = torch.randint(0, 5, (args.batch_size, schema.n_answers), device=device).float()

    def random_pass() -> float:
        sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step(rand_views, rand_votes)
        sync(device)
        return args.steps * args.batch_size / (time.perf_counter() - t0)

    data_pass(), random_pass()  # warm-up (allocations, cudnn autotuning, loader workers)
    rates = {"data": [], "random": []}
    for _ in range(args.repeats):
        rates["data"].append(data_pass())
        rates["random"].append(random_pass())
    data, rand = statistics.median(rates["data"]), statistics.median(rates["random"])
    print(f"{loss:>10s}: data path {data:9.1f} images/s, random tensors {rand:9.1f} images/s, "
          f"ratio {data / rand:.2f}")


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--in-chans", type=int, default=3)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="optimizer steps per timed pass")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--images", type=int, default=2048, help="galaxies in the synthetic store")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: 0 on CPU, 8 on CUDA)")
    p.add_argument("--head-width", type=int, default=None, help="projector/predictor hidden width (default: the "
                   "loss's own, e.g. 4096 for BYOL)")
    p.add_argument("--losses", default=",".join(LOSSES))
    p.add_argument("--compile", action="store_true")
    p.add_argument("--device", default=None)
    p.add_argument("--store", default=None, help="reuse/make the synthetic store here")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    workers = args.workers if args.workers is not None else (8 if device.type == "cuda" else 0)
    tmp = None
    root = Path(args.store) if args.store else Path(tmp := tempfile.mkdtemp(prefix="galzoo-bench-"))
    if not (root / "store.json").exists():
        make_store(root, args.images, args.in_chans, args.image_size)
    schema = galzoo_fm.get_schema("decals_dr5")
    votes = np.random.default_rng(1).integers(0, 5, (args.images, schema.n_answers)).astype(np.float32)
    dataset = CutoutStoreDataset(root, catalog_votes=votes)
    results: dict[str, dict[str, float]] = {}
    print(f"device {device}, {args.backbone} @ {args.image_size}px, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, {workers} loader workers")
    for loss in args.losses.split(","):
        results[loss] = bench_loss(loss, args, dataset, schema, device, workers)
    if tmp:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
