"""Encoder.embed throughput over the raw model forward throughput, measured in one run.

The raw rate is the backbone alone on one batch already resident on the device in channels-last layout
(eval mode, inference mode, the same precision that ``embed`` uses), passed repeatedly; the end-to-end
rate is ``Encoder.embed`` on a NumPy array of the same images, including input validation, the NaN check,
host-to-device copies and the copy of the embeddings back to NumPy. Raw and end-to-end passes are
interleaved and the median of the repeats is reported, so drift of the machine affects both alike::

    python benchmarks/encoder_throughput.py --backbone resnet18 --image-size 64 --batch-size 64
    python benchmarks/encoder_throughput.py --symmetry d4   # embed averages 8 passes: the ratio shows their cost

With ``--symmetry d4`` the raw rate is still one backbone pass, so the ratio is the D4 average's cost
(about 1/8 when the model dominates).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np
import torch

from galzoo_fm import Encoder
from galzoo_fm.models.inference import autocast_dtype, resolve_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def raw_rate(encoder: Encoder, batches: list[torch.Tensor], device: torch.device, amp) -> float:
    model = encoder.backbone
    ctx = torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    _sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode(), ctx:
        for x in batches:
            model(x)
    _sync(device)
    return sum(len(x) for x in batches) / (time.perf_counter() - t0)


def embed_rate(encoder: Encoder, images: np.ndarray, batch_size: int, device: torch.device) -> float:
    t0 = time.perf_counter()
    encoder.embed(images, batch_size=batch_size, device=device)
    return len(images) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--in-chans", type=int, default=3)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--batches", type=int, default=8, help="batches per timed pass")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--symmetry", default="none", choices=("none", "d4"), help="Encoder symmetry (default none)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    amp = autocast_dtype("auto", device)
    encoder = Encoder(args.backbone, in_chans=args.in_chans, image_size=args.image_size, seed=0,
                      symmetry=args.symmetry)
    n = args.batch_size * args.batches
    images = np.random.default_rng(0).normal(size=(n, args.in_chans, args.image_size, args.image_size))
    images = images.astype(np.float32)
    encoder.embed(images[: args.batch_size], batch_size=args.batch_size, device=device)  # warm-up, moves model
    # the raw pass reuses one resident batch (hot in cache, already in the model's memory format): the
    # best case for the model alone, so the ratio charges embed for every copy and conversion it makes
    resident = torch.from_numpy(images[: args.batch_size]).to(device).contiguous(memory_format=torch.channels_last)
    batches = [resident] * args.batches
    raw_rate(encoder, batches[:1], device, amp)
    raws, ends = [], []
    for _ in range(args.repeats):
        raws.append(raw_rate(encoder, batches, device, amp))
        ends.append(embed_rate(encoder, images, args.batch_size, device))
    raw, end = statistics.median(raws), statistics.median(ends)
    print(f"device={device} threads={torch.get_num_threads()} backbone={args.backbone} "
          f"input={args.batch_size}x{args.in_chans}x{args.image_size}x{args.image_size} precision={amp or 'fp32'} "
          f"symmetry={args.symmetry}")
    print(f"raw model forward : {raw:9.1f} images/s (median of {args.repeats})")
    print(f"Encoder.embed     : {end:9.1f} images/s (median of {args.repeats})")
    print(f"ratio embed / raw : {end / raw:9.3f}")
    return {"raw": raw, "embed": end, "ratio": end / raw}


if __name__ == "__main__":
    main()
