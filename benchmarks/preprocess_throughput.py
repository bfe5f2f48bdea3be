"""Preprocessing throughput per CPU core, and augmentation cost against a training step, in one run.

1. Preprocessing on the CPU, one thread (galaxies per second per core), at each of ``--sizes`` (cutouts
   of that side, model images of that side): the torch pipeline (:class:`~galzoo_fm.preprocess.Preprocessor`
   on CPU tensors, the implementation every path runs) against the NumPy/astropy reference
   (:func:`galzoo_fm.preprocess.reference.reference_preprocess`) for the cheap pipeline (clean, sigma-clipped
   background, band mapping, resample, arcsinh stretch); then, at the first size, the pipelines with the
   photutils steps (``Background2D``; segmentation + deblending + neighbour in-painting + recentring).
   On CUDA, the torch pipeline on the device too.
2. On the training device (CUDA when available): two augmented views per galaxy
   (:class:`~galzoo_fm.training.augment.MultiViewAugment`) against one training step of the backbone on those two
   views (forward + backward + SGD update; bf16 autocast and channels-last on CUDA). The ratio
   ``augmentation time / training-step time`` is the fraction of a step spent augmenting (goal on a GPU:
   under 0.15). Passes are interleaved and medians reported::

    python benchmarks/preprocess_throughput.py --batch-size 256 --image-size 64 --sizes 64,224
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from galzoo_fm import get_backbone
from galzoo_fm.embedding.images import read_image_set
from galzoo_fm.models.inference import resolve_device
from galzoo_fm.preprocess import Preprocessor
from galzoo_fm.preprocess.reference import reference_preprocess
from galzoo_fm.training.augment import MultiViewAugment


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cutouts(n: int, seed: int = 0, size: int = 64) -> tuple[np.ndarray, list[str]]:
    """``n`` demo galaxies (tiled, fresh noise; resampled to ``size`` pixels a side) with a sky offset, a
    neighbour star and a few NaN pixels."""
    demo = read_image_set()
    rng = np.random.default_rng(seed)
    x = np.resize(demo.images, (n, *demo.images.shape[1:])).astype(np.float32)
    if size != x.shape[-1]:
        x = torch.nn.functional.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear").numpy()
    x += rng.normal(0, 0.004, x.shape).astype(np.float32) + 0.01
    yy, xx = np.mgrid[:size, :size] * (64 / size)
    x += (0.8 * np.exp(-((yy - 14) ** 2 + (xx - 49) ** 2) / (2 * 1.7**2)))[None, None].astype(np.float32)
    x[:, 0, 5, 7:9] = np.nan
    return x, demo.bands


def preprocess_rate(pre, x, batch: int, repeats: int) -> float:
    """Galaxies/s of ``pre(x[i:i + batch])`` over ``x`` (median of the repeats; CUDA synchronised)."""
    rates = []
    for _ in range(repeats):
        _sync_any(x)
        t0 = time.perf_counter()
        for i in range(0, len(x), batch):
            pre(x[i : i + batch])
        _sync_any(x)
        rates.append(len(x) / (time.perf_counter() - t0))
    return statistics.median(rates)


def _sync_any(x) -> None:
    if isinstance(x, torch.Tensor) and x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


def device_rates(args, device: torch.device) -> dict[str, float]:
    b, s = args.batch_size, args.image_size
    x = torch.randn(b, 3, s, s, device=device) * 0.01
    x[:, :, s // 2 - 4 : s // 2 + 4, s // 2 - 4 : s // 2 + 4] += 1.0
    views = MultiViewAugment(n_views=2, seed=0)
    model = get_backbone(args.backbone, in_chans=3, image_size=s).to(device, memory_format=torch.channels_last)
    head = torch.nn.Linear(model.num_features, 128).to(device)
    opt = torch.optim.SGD([*model.parameters(), *head.parameters()], lr=1e-3, momentum=0.9)
    amp = torch.bfloat16 if device.type == "cuda" else None

    def augment():
        return views(x)

    def step(v1, v2):
        batch = torch.cat([v1, v2]).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            z = head(model(batch))
            loss = z.float().pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def timed(fn, *a):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            fn(*a)
        _sync(device)
        return (time.perf_counter() - t0) / args.steps

    v1, v2 = augment()
    for _ in range(2):  # warm up kernels, cudnn autotuning, allocator
        step(v1, v2)
        augment()
    t_aug, t_step = [], []
    for _ in range(args.repeats):
        t_aug.append(timed(augment))
        t_step.append(timed(step, v1, v2))
    a, t = statistics.median(t_aug), statistics.median(t_step)
    return {"augment_galaxies_per_s": b / a, "train_step_galaxies_per_s": b / t, "augment_over_step": a / t}


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=256, help="galaxies per preprocessing pass")
    p.add_argument("--preprocess-batch", type=int, default=64)
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--image-size", type=int, default=64, help="augmentation / training-step image side")
    p.add_argument("--sizes", default="64,224", help="comma-separated cutout sides for the preprocessing")
    p.add_argument("--batch-size", type=int, default=256, help="galaxies per training step (two views each)")
    p.add_argument("--steps", type=int, default=3, help="steps per timed pass")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default=None)
    p.add_argument("--no-augment", action="store_true", help="skip part 2 (augmentation vs training step)")
    args = p.parse_args(argv)

    results: dict[str, float] = {}
    sizes = [int(v) for v in args.sizes.split(",")]
    try:
        import skimage  # noqa: F401

        deblend = True
    except ImportError:
        deblend = False
    device = resolve_device(args.device)
    threads = torch.get_num_threads()
    for k, size in enumerate(sizes):
        n = max(args.preprocess_batch, args.n * (64 * 64) // (size * size))  # about the same pixels per size
        x, bands = cutouts(n, size=size)
        common = dict(survey="legacy", input_bands=bands, image_size=size, pixel_scale=0.262)
        cheap = Preprocessor(["g", "r", "z"], **common)
        pipelines = {"cheap, torch": cheap,
                     "cheap, NumPy reference": lambda images, pre=cheap: reference_preprocess(pre, images)}
        if k == 0:
            pipelines["background2d"] = Preprocessor(["g", "r", "z"], background="background2d", **common)
            pipelines[f"neighbours+recentre (deblend={deblend})"] = Preprocessor(
                ["g", "r", "z"], neighbours="noise", recentre="com", deblend=deblend, **common)
        torch.set_num_threads(1)
        try:
            print(f"preprocessing, one CPU thread, {n} galaxies 3x{size}x{size} -> 3x{size}^2:")
            for name, pre in pipelines.items():
                m = n if name.startswith("cheap") else min(n, 64)
                rate = preprocess_rate(pre, x[:m], args.preprocess_batch, args.repeats)
                results[f"preprocess[{name}, {size}px]_galaxies_per_s_per_core"] = rate
                print(f"  {name:45s} {rate:9.1f} galaxies/s/core")
            torch_rate = results[f"preprocess[cheap, torch, {size}px]_galaxies_per_s_per_core"]
            ref_rate = results[f"preprocess[cheap, NumPy reference, {size}px]_galaxies_per_s_per_core"]
            results[f"preprocess[{size}px]_torch_over_reference"] = torch_rate / ref_rate
            print(f"  {'torch / NumPy reference':45s} {torch_rate / ref_rate:9.2f}")
        finally:
            torch.set_num_threads(threads)
        if device.type == "cuda":
            xd = torch.from_numpy(x).to(device)
            b = max(args.preprocess_batch, 256)
            preprocess_rate(cheap, xd[:b], b, 1)  # warm-up
            rate = preprocess_rate(cheap, xd, b, args.repeats)
            results[f"preprocess[cheap, torch, {size}px]_galaxies_per_s_on_cuda"] = rate
            print(f"  {'cheap, torch, on ' + torch.cuda.get_device_name(device):45s} {rate:9.1f} galaxies/s")

    if args.no_augment:
        return results
    dev = device_rates(args, device)
    results.update(dev)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {threads} threads"
    print(f"augmentation vs training step on {where} ({args.backbone} @ {args.image_size}px, "
          f"batch {args.batch_size} galaxies x 2 views):")
    print(f"  augment (2 views)       {dev['augment_galaxies_per_s']:10.1f} galaxies/s")
    print(f"  training step (2 views) {dev['train_step_galaxies_per_s']:10.1f} galaxies/s")
    print(f"  augment / step time     {dev['augment_over_step']:10.3f}  (goal on GPU: < 0.15)")
    return results


if __name__ == "__main__":
    main()
