"""Local-survey cutouts/s against the number of tiles, index build and start times, and peak memory.

For each tile count (``--tiles 16,256,1024,10000,100000``) a child process (so that its peak resident
memory is its own) works on a flat folder of ``--tile-px`` × ``--tile-px`` single-band float32 TAN tiles at
``--pixscale`` on a square grid (neighbours overlap by 20 px, as bricks do) and measures:

- *first start*: ``LocalSurvey(path=folder)`` with no index: every header read, the index written (reported
  per 1,000 files);
- *second start*: the same again, the index reused (goal: under 1 s);
- *stale start*: after 10 files' modification times change (only those are read again);
- *region*: ``--positions`` random positions over a patch of 4 × 4 tiles somewhere in the survey, the same
  working set whatever the tile count (files already open after a warm-up batch): this is the lookup's
  scaling, the goal being ``region(N) / region(16) >= 0.8`` at 100,000 tiles, both measured in this run;
- *spread*: fresh random positions over the whole survey each batch: with more tiles than ``--max-open``
  nearly every cutout opens a file, so this measures file opening;
- *peak RSS* of the child and the files open at the end (at most ``--max-open``).

How the tiles are made (honest and cheap): every tile is a real FITS file with its own header (written from
a byte template, only ``CRVAL1``/``CRVAL2`` differ) and a full-size data unit; the data of the tiles the
positions land on (the region's tiles and a ring around them, and the tile nearest each spread position) are
written as float32 noise, the data of all other tiles are left as a sparse hole of the right size (reads as
zeros; no position touches them). Folders are kept under ``--work`` and reused by later runs::

    python benchmarks/local_throughput.py --tiles 16,256,1024,10000,100000 --work /tmp/galzoo-local-bench
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _provenance import provenance

from galzoo_fm.surveys.local import LocalSurvey

OVERLAP = 20  # pixels shared by neighbouring tiles


def _grid(n: int, args: argparse.Namespace) -> tuple[int, float, np.ndarray, np.ndarray]:
    side = int(np.ceil(np.sqrt(n)))
    step = (args.tile_px - OVERLAP) * args.pixscale / 3600
    k = np.arange(n)
    return side, step, 150.0 + (k % side) * step, -(side // 2) * step + (k // side) * step


def _header_template(args: argparse.Namespace) -> tuple[bytes, int, int]:
    w = args.tile_px
    h = fits.Header()
    h["SIMPLE"], h["BITPIX"], h["NAXIS"], h["NAXIS1"], h["NAXIS2"] = True, -32, 2, w, w
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = 111.111, 22.222
    h["CRPIX1"], h["CRPIX2"] = (w + 1) / 2, (w + 1) / 2
    h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = -args.pixscale / 3600, 0.0, 0.0, args.pixscale / 3600
    h["BAND"] = "r"
    text = h.tostring().encode("ascii")
    return text, text.index(b"CRVAL1  ="), text.index(b"CRVAL2  =")


def _card(key: str, value: float) -> bytes:
    return f"{key:<8}= {value:>20.13f}".ljust(80).encode("ascii")


def synthesize(folder: Path, n: int, args: argparse.Namespace, real: set[int]) -> float:
    """Write the ``n`` tiles (those in ``real`` with noise, the others with a hole); seconds taken."""
    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    _, _, ra, dec = _grid(n, args)
    template, at1, at2 = _header_template(args)
    nbytes = args.tile_px**2 * 4
    total = len(template) + -(-nbytes // 2880) * 2880
    noise = np.random.default_rng(args.seed).normal(10, 1, args.tile_px**2).astype(">f4").tobytes()
    for k in range(n):
        path = folder / f"tile{k:06d}.fits"
        has_real = k in real
        if path.is_file() and path.stat().st_size == total and (not has_real or path.stat().st_blocks * 512 >= nbytes):
            continue
        head = bytearray(template)
        head[at1:at1 + 80], head[at2:at2 + 80] = _card("CRVAL1", ra[k]), _card("CRVAL2", dec[k])
        with open(path, "wb") as fh:
            fh.write(head)
            if has_real:
                fh.write(noise)
            fh.truncate(total)
    return time.perf_counter() - t0


def _cells(ra: np.ndarray, dec: np.ndarray, n: int, args: argparse.Namespace) -> set[int]:
    side, step, ra0, dec0 = _grid(n, args)
    i = np.clip(np.round((ra - ra0[0]) / step).astype(int), 0, side - 1)
    j = np.round((dec - dec0[0]) / step).astype(int)
    k = j * side + i
    return set(k[(k >= 0) & (k < n)].tolist())


def child(n: int, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    side, step, ra0, dec0 = _grid(n, args)
    rows = n // side  # full rows only, so that every spread position is on a tile
    ic, jc = max(side // 2 - 2, 0), max(rows // 2 - 2, 0)
    patch = min(4, side)
    region = [(rng.uniform(ra0[0] + ic * step, ra0[0] + (ic + patch - 1) * step, args.positions),
               rng.uniform(dec0[0] + jc * step, dec0[0] + (jc + patch - 1) * step, args.positions))
              for _ in range(args.repeats + 1)]
    spread = [(rng.uniform(ra0[0], ra0[0] + (side - 1) * step, args.positions),
               rng.uniform(dec0[0], dec0[0] + (rows - 1) * step, args.positions))
              for _ in range(args.spread_batches)]
    real = {j * side + i for i in range(ic - 1, ic + patch + 1) for j in range(jc - 1, jc + patch + 1)
            if 0 <= i < side and 0 <= j * side + i < n}
    for ra, dec in spread:
        real |= _cells(ra, dec, n, args)
    folder = Path(args.work) / f"tiles{n}"
    write_s = synthesize(folder, n, args, real)
    for old in folder.glob(".galzoo-fm-tiles-*.npz"):
        old.unlink()
    t0 = time.perf_counter()
    s = LocalSurvey(path=str(folder), max_open=args.max_open)
    first = time.perf_counter() - t0
    s.close()
    t0 = time.perf_counter()
    s = LocalSurvey(path=str(folder), max_open=args.max_open)
    second = time.perf_counter() - t0
    s.fetch_batch(*region[0], args.size)  # warm-up: opens the region's files
    rates, statuses = [], {}
    for ra, dec in region[1:]:
        t0 = time.perf_counter()
        cuts = s.fetch_batch(ra, dec, args.size)
        rates.append(len(ra) / (time.perf_counter() - t0))
        for c in cuts:
            statuses[str(c.status)] = statuses.get(str(c.status), 0) + 1
    spread_rates, opened, spread_status = [], s.files_opened, {}
    for ra, dec in spread:
        t0 = time.perf_counter()
        cuts = s.fetch_batch(ra, dec, args.size)
        spread_rates.append(len(ra) / (time.perf_counter() - t0))
        for c in cuts:
            spread_status[str(c.status)] = spread_status.get(str(c.status), 0) + 1
    opened = (s.files_opened - opened) / max(len(spread), 1)
    open_now = s.open_files
    s.close()
    now = time.time()
    for k in range(0, n, max(n // 10, 1))[:10]:
        os.utime(folder / f"tile{k:06d}.fits", (now, now + 1))
    t0 = time.perf_counter()
    s = LocalSurvey(path=str(folder), max_open=args.max_open)
    stale = time.perf_counter() - t0
    reread = len(s.index.stale)
    s.close()
    return {"tiles": n, "write_tiles_s": round(write_s, 2), "first_start_s": round(first, 3),
            "index_build_per_1000_files_s": round(first / n * 1000, 3), "second_start_s": round(second, 3),
            "stale_start_s": round(stale, 3), "stale_files_reread": reread,
            "region_per_s": round(statistics.median(rates)), "region_status": statuses,
            "spread_per_s": round(statistics.median(spread_rates)), "spread_status": spread_status,
            "spread_files_opened_per_batch": opened, "open_files_at_end": open_now,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiles", default="16,256,1024,10000,100000", help="comma-separated tile counts")
    p.add_argument("--positions", type=int, default=2000, help="positions per fetch_batch call")
    p.add_argument("--size", type=int, default=32, help="cutout side in pixels")
    p.add_argument("--tile-px", type=int, default=400)
    p.add_argument("--pixscale", type=float, default=0.262)
    p.add_argument("--repeats", type=int, default=5, help="timed region batches (median reported)")
    p.add_argument("--spread-batches", type=int, default=2)
    p.add_argument("--max-open", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", help="folder for the tiles, kept and reused (default: a new temporary folder)")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--_child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._child:
        print(json.dumps(child(args._child, args)))
        return
    args.work = args.work or tempfile.mkdtemp(prefix="galzoo-local-bench-")
    passed = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
              if k not in ("tiles", "json", "work", "_child")]
    runs = []
    for n in (int(v) for v in args.tiles.split(",")):
        out = subprocess.run([sys.executable, __file__, *passed, "--work", args.work, "--_child", str(n)],
                             capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]), flush=True)
    base = runs[0]["region_per_s"]
    results = {"provenance": provenance(args.seed), "positions": args.positions, "size": args.size,
               "tile_px": args.tile_px, "max_open": args.max_open, "runs": runs,
               f"region_ratio_to_{runs[0]['tiles']}_tiles": {r["tiles"]: round(r["region_per_s"] / base, 3)
                                                             for r in runs}}
    print(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
