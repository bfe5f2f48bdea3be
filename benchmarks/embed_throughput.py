"""End-to-end ``galzoo-fm embed`` throughput over the model's own forward throughput, and peak host memory.

Throughput (one run, same model, same input size): a synthetic survey fills a local cutout store once;
then, interleaved and repeated (median reported):

- *model only*: the model's forward (:class:`~galzoo_fm.models.inference.InferenceModel`: eval, inference mode,
  channels-last, the autocast the embedding uses, ``torch.compile`` with ``--compile``) on preprocessed
  batches already on the device;
- *preprocess per core*: :class:`~galzoo_fm.preprocess.Preprocessor` on CPU tensors, one torch thread;
- *preprocess on the device*: the same on raw batches already on the model's device (CUDA when
  available; on a CPU: the default threads);
- *end to end*: :func:`galzoo_fm.embedding.run_embedding` from the store — read, preprocess, model, commit
  the blocks, write the output table — with the fetch phase finding every row already done, for each
  ``--preprocess-on`` placement asked for (``auto``: the runner's choice).

The script prints ``end to end / model only`` (goal on a CPU with the default threads: >= 0.90; on a GPU:
>= 0.85) and, on a CPU where the model and the preprocessing share the cores, also the ratio to the serial
bound ``1 / (1/model + 1/preprocess)``::

    python benchmarks/embed_throughput.py --model resnet18 --image-size 64 --rows 2048
    python benchmarks/embed_throughput.py --model convnext_nano --image-size 224 --batch-size 256 \\
        --rows 16384 --workers 4 --device cuda --compile

Memory (``--memory-rows 100000,1000000``): each catalogue size runs in a fresh subprocess (fetch from the
synthetic survey, embed, write Parquet) with tiny cutouts and model, and reports its peak resident memory
(``ru_maxrss``); it must not grow with the catalogue beyond the per-row bookkeeping (positions, statuses).
"""

from __future__ import annotations

import argparse
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
from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.embedding import run_embedding
from galzoo_fm.fetch import fetch_catalog
from galzoo_fm.models.inference import InferenceModel, resolve_device
from galzoo_fm.preprocess import Preprocessor
from galzoo_fm.surveys.base import Survey


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


def model_rate(runner: InferenceModel, batches: list[torch.Tensor]) -> float:
    """Images/s of the forward alone on ``batches`` already on the device."""
    _sync(runner.device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for x in batches:
            runner(x)
    _sync(runner.device)
    return sum(len(x) for x in batches) / (time.perf_counter() - t0)


def preprocess_rate(pre: Preprocessor, batches: list[torch.Tensor], threads: int | None = None) -> float:
    """Images/s of ``pre`` on ``batches`` (tensors on some device), with ``threads`` torch threads if given."""
    saved = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        dev = batches[0].device
        _sync(dev)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for x in batches:
                pre(x, bands=["g", "r", "z"], pixel_scale=0.262)
        _sync(dev)
        return sum(len(x) for x in batches) / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(saved)


def throughput(args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    size = args.image_size
    pre = Preprocessor(["g", "r", "z"], image_size=size, pixel_scale=0.262, survey="legacy")
    encoder = Encoder(args.model, in_chans=3, image_size=size, preprocessing=pre, bands=["g", "r", "z"], seed=0)
    survey = SyntheticSurvey(size)
    cat = _catalog(args.rows)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="galzoo-embed-bench-"))
    work = work / f"{args.rows}x{size}" if args.work else work
    fetch_catalog(cat, survey, size=size, out=work / "store")  # resumes: an existing --work store is reused
    from galzoo_fm.store.reader import CutoutStore

    b = args.batch_size
    cutouts = CutoutStore(work / "store").read(slice(None))
    host = [torch.from_numpy(cutouts[i:i + b]) for i in range(0, len(cutouts), b)]
    per_core = host[: max(1, args.preprocess_batches)]
    on_device = [x.to(device) for x in host[: max(1, args.preprocess_batches * (8 if device.type == "cuda" else 1))]]
    images = [pre(x, bands=["g", "r", "z"], pixel_scale=0.262).images for x in on_device]
    batches = (images * (-(-len(host) // len(images))))[: len(host)]  # as many batches as the catalogue
    runner = InferenceModel(encoder, device, compile=args.compile, batch_size=b)
    placements = args.preprocess_on.split(",")
    t0 = time.perf_counter()
    model_rate(runner, batches[:2])  # warm-up (compiles with --compile), moves the model
    preprocess_rate(pre, on_device[:1])
    for placement in placements:  # warm-up of each path
        run_embedding(cat[: 4 * b], model=encoder, survey=survey, out=work / "warm.parquet",
                      batch_size=b, device=device, workers=args.workers, overwrite=True, compile=args.compile,
                      preprocess_on=None if placement == "auto" else placement)
    warm_s = time.perf_counter() - t0
    models, cores, devs, e2es = [], [], [], {p: [] for p in placements}
    for _ in range(args.repeats):
        models.append(model_rate(runner, batches))
        cores.append(preprocess_rate(pre, per_core, threads=1))
        devs.append(preprocess_rate(pre, on_device))
        for placement in placements:
            t0 = time.perf_counter()
            run_embedding(cat, model=encoder, survey=survey, store=work / "store", out=work / "out.parquet",
                          batch_size=b, device=device, workers=args.workers, overwrite=True,
                          block_rows=args.block_rows, compile=args.compile,
                          preprocess_on=None if placement == "auto" else placement)
            e2es[placement].append(len(cat) / (time.perf_counter() - t0))
    runner.close()
    model, core, dev_rate = statistics.median(models), statistics.median(cores), statistics.median(devs)
    out = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "model": args.model, "image_size": size, "rows": args.rows, "batch_size": b,
           "compile": args.compile, "torch_threads": torch.get_num_threads(), "workers": args.workers,
           "block_rows": args.block_rows, "warm_up_s": round(warm_s, 1),
           "model_only_per_s": model, "preprocess_per_core_per_s": core,
           f"preprocess_on_{device.type}_per_s": dev_rate}
    for placement, rates in e2es.items():
        e2e = statistics.median(rates)
        out[f"end_to_end[{placement}]_per_s"] = e2e
        out[f"end_to_end[{placement}]/model_only"] = e2e / model
        if device.type == "cpu":
            out[f"end_to_end[{placement}]/serial_bound"] = e2e * (1 / model + 1 / dev_rate)
    return out


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
    p.add_argument("--model", "--backbone", dest="model", default="resnet18", help="backbone name")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rows", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", type=int, default=4, help="reader threads (the run's --workers)")
    p.add_argument("--preprocess-on", default="auto",
                   help="comma-separated placements to time end to end: auto, device, threads")
    p.add_argument("--preprocess-batches", type=int, default=4, help="batches per preprocessing pass")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (both passes)")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--work", help="folder for the cutout store, kept and reused by later runs of the same "
                                  "--rows and --image-size (default: a new temporary folder)")
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
    results = throughput(args)
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
