"""End-to-end ``embed --images`` throughput on Zoobot-style JPGs, against the model alone and the decoder alone.

A catalogue of ``--rows`` synthetic Galaxy Zoo-like JPGs (424 x 424 RGB: a smooth elliptical blob plus
noise, quality 90, written with Pillow) and a CSV with ``id_str,file_loc`` (relative paths) are written into
``--work`` once (reused by later runs of the same ``--rows``). A local timm model folder is built the way a
Zoobot encoder is published (``timm.create_model(MODEL, pretrained=False, num_classes=0)`` saved with
``timm.models.save_for_hf(..., safe_serialization=True)``; nothing is downloaded) and loaded with
:meth:`galzoo_fm.Encoder.from_pretrained`. Then, in one run and repeated (median reported):

- *end to end*: :func:`galzoo_fm.embedding.run_embedding` on the CSV (``images="file_loc"``,
  ``preset="zoobot"``), each repeat into a fresh output and cutout store: read and decode the JPGs, write the
  ``uint8`` store (the ``fetch`` phase), read it back, preprocess (crop 1/1.2, resize to 224), run the model,
  write the table (the ``embed`` phase);
- *model only*: the model's forward (:class:`~galzoo_fm.models.inference.InferenceModel`, as the embedding
  runs it) on preprocessed 224 px batches already on the device;
- *decode*: :func:`galzoo_fm.images.decode_image_file` over the JPGs in one thread (images/s per core) and
  in ``--workers`` threads (does it scale, i.e. release the GIL?), and Pillow's decode in one thread.

The goal on a GPU (H200, convnext_nano, 224 px, bf16, 16 loader workers): end to end >= 7.2k galaxies/s,
10x Zoobot 2.9 ``predict``'s 723/s that a peer measured there on 30k 424 x 424 JPGs (0.075 of the model's
own throughput)::

    python benchmarks/images_throughput.py                      # CPU: resnet18, 512 JPGs, ~2-3 minutes
    python benchmarks/images_throughput.py --model convnext_nano --rows 16384 --batch-size 256 \\
        --workers 16 --device cuda --work /tmp/galzoo-images-bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from _provenance import provenance
from embed_throughput import model_rate  # the same measure of the forward alone

from galzoo_fm import Encoder
from galzoo_fm.embedding import run_embedding
from galzoo_fm.images import decode_image_file
from galzoo_fm.models.inference import InferenceModel, resolve_device
from galzoo_fm.preprocess import Preprocessor

#: Zoobot 2.9 ``predict`` on an H200 (convnext_nano, 224 px, bf16, 16 loader workers, 30k 424 x 424 JPGs),
#: measured by a peer: galaxies/s, and as a fraction of the model's own forward throughput.
ZOOBOT_PEER_PER_S = 723.0
ZOOBOT_PEER_OF_MODEL = 0.075
SIDE = 424


def _base_images(n: int, seed: int) -> list[np.ndarray]:
    """``n`` distinct ``(SIDE, SIDE, 3)`` uint8 galaxies: an elliptical exponential blob, a colour, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIDE, :SIDE] - (SIDE - 1) / 2
    out = []
    for _ in range(n):
        angle, q, r = rng.uniform(0, np.pi), rng.uniform(0.3, 1), rng.uniform(15, 60)
        u = xx * np.cos(angle) + yy * np.sin(angle)
        v = (-xx * np.sin(angle) + yy * np.cos(angle)) / q
        blob = np.exp(-np.sqrt(u**2 + v**2) / r)
        img = 230 * blob[..., None] * rng.uniform(0.6, 1.0, 3) + rng.normal(12, 6, (SIDE, SIDE, 3))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def write_jpgs(folder: Path, rows: int, seed: int = 0, threads: int | None = None) -> Path:
    """``rows`` Zoobot-style JPGs under ``folder/images`` and ``folder/catalog.csv``; reused when complete.

    64 distinct galaxies, each in its 8 orientations (flips and quarter turns), cycled: 512 distinct images,
    written (quality 90) in ``threads`` threads (Pillow's encoder releases the GIL).
    """
    from PIL import Image

    csv = folder / "catalog.csv"
    if csv.is_file() and len(csv.read_text().splitlines()) == rows + 1:
        return csv
    bases = _base_images(64, seed)
    names = [f"images/{i // 1000:03d}/gal_{i:06d}.jpg" for i in range(rows)]
    for d in {n.rsplit("/", 1)[0] for n in names}:
        (folder / d).mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        img = np.rot90(bases[i % 64], (i // 64) % 4)
        img = img[:, ::-1] if (i // 256) % 2 else img
        Image.fromarray(np.ascontiguousarray(img)).save(folder / names[i], quality=90)

    with ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
        list(pool.map(one, range(rows), chunksize=64))
    csv.write_text("id_str,file_loc\n" + "".join(f"J{i:06d},{n}\n" for i, n in enumerate(names)))
    return csv


def write_model(folder: Path, model: str, image_size: int) -> Path:
    """A timm model folder as Zoobot publishes its encoders (random weights, nothing downloaded)."""
    import timm

    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder
    net = timm.create_model(model, pretrained=False, num_classes=0)
    net.pretrained_cfg = {**net.pretrained_cfg, "input_size": (3, image_size, image_size)}
    timm.models.save_for_hf(net, str(folder), safe_serialization=True)
    return folder


def decode_rate(paths: list[Path], threads: int, pillow: bool = False) -> float:
    """Images/s decoding ``paths`` (galzoo_fm's decoder, or Pillow's) in ``threads`` threads."""

    def pil(path: Path) -> np.ndarray:
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im)

    one = pil if pillow else decode_image_file
    t0 = time.perf_counter()
    if threads == 1:
        for p in paths:
            one(p)
    else:
        with ThreadPoolExecutor(threads) as pool:
            for _ in pool.map(one, paths, chunksize=16):
                pass
    return len(paths) / (time.perf_counter() - t0)


def _bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def throughput(args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="galzoo-images-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    csv = write_jpgs(work / f"jpgs-{args.rows}", args.rows, args.seed)
    folder = write_model(work / f"model-{args.model}-{args.image_size}", args.model, args.image_size)
    setup_s = time.perf_counter() - t0
    encoder = Encoder.from_pretrained(folder)
    paths = [csv.parent / line.split(",")[1] for line in csv.read_text().splitlines()[1:]]
    decode_paths = paths[: args.decode_rows]
    b = args.batch_size

    pre = Preprocessor.preset("zoobot")
    raw = torch.from_numpy(np.stack([decode_image_file(p) for p in paths[:b]]))
    ready = pre(raw.to(device), bands=["R", "G", "B"]).images
    batches = [ready] * max(2, -(-args.rows // b))  # as many batches as the catalogue
    runner = InferenceModel(encoder, device, batch_size=b)
    runs = work / "runs"

    def end_to_end(rows_csv: Path, tag: str) -> tuple[float, dict, int]:
        out = runs / tag
        shutil.rmtree(out, ignore_errors=True)  # a fresh output and cutout store: the JPGs are decoded again
        t = time.perf_counter()
        summary = run_embedding(rows_csv, images="file_loc", model=encoder, preset="zoobot",
                                out=out / "embeddings.parquet", device=device, workers=args.workers,
                                batch_size=b, overwrite=True)
        seconds = time.perf_counter() - t
        store = _bytes(summary.store) if summary.store is not None else 0
        if summary.counts.get("ok", 0) != summary.rows:
            raise RuntimeError(f"not every row embedded: {summary.counts}")
        return seconds, dict(summary.seconds), store

    t0 = time.perf_counter()
    model_rate(runner, batches[:2])  # warm-up; moves the model
    decode_rate(decode_paths[:32], 1)
    warm_csv = csv.parent / "warm.csv"
    warm_csv.write_text("\n".join(csv.read_text().splitlines()[: min(args.rows, 2 * b) + 1]) + "\n")
    end_to_end(warm_csv, "warm")
    warm_s = time.perf_counter() - t0

    e2es, fetches, embeds, models, dec1, decn, pil1, store = [], [], [], [], [], [], [], 0
    for i in range(args.repeats):
        models.append(model_rate(runner, batches))
        dec1.append(decode_rate(decode_paths, 1))
        decn.append(decode_rate(decode_paths, args.workers))
        pil1.append(decode_rate(decode_paths, 1, pillow=True))
        seconds, phases, store = end_to_end(csv, f"run{i}")
        e2es.append(args.rows / seconds)
        fetches.append(phases.get("fetch", float("nan")))
        embeds.append(phases.get("embed", float("nan")))
    runner.close()
    shutil.rmtree(runs, ignore_errors=True)
    e2e, model = statistics.median(e2es), statistics.median(models)
    fetch_s, embed_s = statistics.median(fetches), statistics.median(embeds)
    d1, dn = statistics.median(dec1), statistics.median(decn)
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "model": args.model, "image_size": args.image_size, "jpg_side": SIDE, "rows": args.rows,
        "batch_size": b, "workers": args.workers, "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(), "setup_s": round(setup_s, 1), "warm_up_s": round(warm_s, 1),
        "end_to_end_per_s": e2e, "model_only_per_s": model, "end_to_end/model_only": e2e / model,
        "fetch_phase_s": fetch_s, "embed_phase_s": embed_s,
        "fetch_phase_per_s": args.rows / fetch_s, "embed_phase_per_s": args.rows / embed_s,
        "decode_per_core_per_s": d1, f"decode_{args.workers}_threads_per_s": dn,
        "decode_thread_scaling": dn / d1, "pillow_decode_per_core_per_s": statistics.median(pil1),
        "fetch_phase/decode_per_core": (args.rows / fetch_s) / d1,
        "store_bytes_per_image": store / args.rows, "jpg_bytes_per_image": _bytes(csv.parent / "images") / args.rows,
        "zoobot_peer_per_s": ZOOBOT_PEER_PER_S, "zoobot_peer_end_to_end/model_only": ZOOBOT_PEER_OF_MODEL,
        "end_to_end/zoobot_peer": e2e / ZOOBOT_PEER_PER_S,
        "goal_per_s": 10 * ZOOBOT_PEER_PER_S,
        "per_repeat": {"end_to_end_per_s": e2es, "model_only_per_s": models, "fetch_s": fetches, "embed_s": embeds},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", "--backbone", dest="model", default="resnet18", help="timm architecture")
    p.add_argument("--image-size", type=int, default=224, help="the model's input side (the preset's: 224)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rows", type=int, default=512, help="JPGs in the catalogue")
    p.add_argument("--decode-rows", type=int, default=256, help="JPGs per decode-only pass")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--workers", type=int, default=4, help="loader threads (the run's --workers), also for decode")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0, help="recorded with the provenance (the images are seeded)")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--work", help="folder for the JPGs and the model folder, kept and reused by later runs of "
                                  "the same --rows (default: a new temporary folder)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    prov = provenance(args.seed)
    prov["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    print(json.dumps({"provenance": prov}))
    results = {**throughput(args), "provenance": prov}
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
