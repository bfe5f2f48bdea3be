"""End-to-end ``galzoo-fm embed`` throughput over the model's own forward throughput, and peak host memory.

Throughput (one run, same model, same input size): a synthetic survey fills a local cutout store once;
then, interleaved and repeated (median reported):

- *raw*: the backbone's forward on preprocessed tensors already on the device (eval, inference mode,
  channels-last, the autocast ``embed`` uses), batch by batch;
- *preprocess*: :class:`~galzoo_fm.preprocess.Preprocessor` alone on the cutouts (one thread);
- *end to end*: :func:`galzoo_fm.embedding.run_embedding` from the store — read, preprocess, model, commit
  the blocks, write the output table — with the fetch phase finding every row already done.

On a CPU the model and the preprocessing share the cores, so the best the pipeline can do is the serial
bound ``1 / (1/raw + 1/preprocess)``; the script prints the ratio to the raw rate and to that bound::

    python benchmarks/embed_throughput.py --backbone resnet18 --image-size 64 --rows 4096 --threads 1 --workers 1

(``--threads 1`` on a CPU shared with other jobs: two OpenMP threads competing with other processes can run
the forward several times slower.)

Memory (``--memory-rows 100000,1000000``): each catalogue size runs in a fresh subprocess (fetch from the
synthetic survey, embed, write Parquet) with tiny cutouts and model, and reports its peak resident memory
(``ru_maxrss``); it must not grow with the catalogue beyond the per-row bookkeeping (positions, statuses).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from astropy.table import Table

from galzoo_fm import Encoder
from galzoo_fm.embedding import run_embedding
from galzoo_fm.fetch import fetch_catalog
from galzoo_fm.inference import autocast_dtype, resolve_device
from galzoo_fm.preprocess import Preprocessor
from galzoo_fm.surveys.base import Cutout, Status, Survey


class SyntheticSurvey(Survey):
    """Gaussian blobs on noise, g r z at 0.262"/px, instantly (no WCS, no network)."""

    name = "synthetic"
    bands = ("g", "r", "z")
    pixscale = 0.262
    batch_size = 256

    def __init__(self, size: int):
        yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
        self.blob = np.exp(-(xx**2 + yy**2) / (2 * (size / 8) ** 2)).astype(np.float32)
        self.rng = np.random.default_rng(0)

    def fetch_batch(self, ra, dec, size):
        noise = self.rng.normal(0, 0.01, size=(len(ra), 3, size, size)).astype(np.float32)
        return [Cutout(Status.OK, noise[i] + self.blob) for i in range(len(ra))]


def _catalog(n: int) -> Table:
    rng = np.random.default_rng(1)
    return Table({"id": np.arange(n), "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-60, 60, n)})


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def raw_rate(encoder: Encoder, images: np.ndarray, batch: int, device: torch.device) -> float:
    amp = autocast_dtype("auto", device)
    xs = [torch.from_numpy(images[i:i + batch]).to(device).contiguous(memory_format=torch.channels_last)
          for i in range(0, len(images), batch)]
    encoder.to(device, memory_format=torch.channels_last).eval()
    ctx = torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    _sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode(), ctx:
        for x in xs:
            encoder(x)
    _sync(device)
    return len(images) / (time.perf_counter() - t0)


def throughput(args: argparse.Namespace) -> dict[str, float]:
    device = resolve_device(args.device)
    size = args.image_size
    pre = Preprocessor(["g", "r", "z"], image_size=size, pixel_scale=0.262, survey="legacy")
    encoder = Encoder(args.backbone, in_chans=3, image_size=size, preprocessing=pre, bands=["g", "r", "z"], seed=0)
    survey = SyntheticSurvey(size)
    cat = _catalog(args.rows)
    work = Path(tempfile.mkdtemp(prefix="galzoo-embed-bench-"))
    fetch_catalog(cat, survey, size=size, out=work / "store")
    from galzoo_fm.store import CutoutStore

    cutouts = CutoutStore(work / "store").read(slice(None))
    images = pre(cutouts, bands=["g", "r", "z"], pixel_scale=0.262).images
    encoder.embed(images[: args.batch_size], batch_size=args.batch_size, device=device)  # warm-up
    raws, pres, e2es = [], [], []
    for _ in range(args.repeats):
        raws.append(raw_rate(encoder, images, args.batch_size, device))
        t0 = time.perf_counter()
        for i in range(0, len(cutouts), args.batch_size):
            pre(cutouts[i:i + args.batch_size], bands=["g", "r", "z"], pixel_scale=0.262)
        pres.append(len(cutouts) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        run_embedding(cat, model=encoder, survey=survey, store=work / "store", out=work / "out.parquet",
                      batch_size=args.batch_size, device=device, workers=args.workers, overwrite=True,
                      block_rows=args.block_rows)
        e2es.append(len(cat) / (time.perf_counter() - t0))
    raw, prep, e2e = statistics.median(raws), statistics.median(pres), statistics.median(e2es)
    bound = 1 / (1 / raw + 1 / prep) if device.type == "cpu" else min(raw, prep * args.workers)
    return {"device": str(device), "backbone": args.backbone, "image_size": size, "rows": args.rows,
            "batch_size": args.batch_size, "torch_threads": torch.get_num_threads(), "workers": args.workers,
            "block_rows": args.block_rows,
            "raw_per_s": raw, "preprocess_per_s": prep, "end_to_end_per_s": e2e,
            "ratio_to_raw": e2e / raw, "bound_per_s": bound, "ratio_to_bound": e2e / bound}


def memory_child(rows: int, backbone: str) -> None:
    import resource

    size = 8
    pre = Preprocessor(["g", "r", "z"], image_size=size, pixel_scale=0.262, survey="legacy", background="none")
    kwargs = {"width": 8, "depth": 2} if backbone == "example_smallcnn" else {}
    encoder = Encoder(backbone, in_chans=3, image_size=size, preprocessing=pre, bands=["g", "r", "z"], seed=0,
                      backbone_kwargs=kwargs)
    work = Path(tempfile.mkdtemp(prefix="galzoo-embed-mem-"))
    t0 = time.perf_counter()
    summary = run_embedding(_catalog(rows), model=encoder, survey=SyntheticSurvey(size), out=work / "out.parquet",
                            batch_size=1024, workers=2, device="cpu")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"rows": rows, "peak_rss_mib": round(peak, 1), "seconds": round(time.perf_counter() - t0, 1),
                      "phases": {k: round(v, 1) for k, v in summary.seconds.items()},
                      "embedding_dim": encoder.num_features}))
    import shutil

    shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rows", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--block-rows", type=int, default=None, help="rows per committed block (default: the pipeline's)")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--memory-rows", help="comma-separated catalogue sizes for the peak-memory runs")
    p.add_argument("--memory-backbone", default="resnet18")
    p.add_argument("--_child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._child:
        memory_child(args._child, args.memory_backbone)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_rows:
        for n in (int(v) for v in args.memory_rows.split(",")):
            out = subprocess.run([sys.executable, __file__, "--_child", str(n), "--memory-backbone",
                                  args.memory_backbone], capture_output=True, text=True, check=True)
            print(out.stdout.strip().splitlines()[-1])
        return
    print(json.dumps(throughput(args), indent=1))


if __name__ == "__main__":
    main()
