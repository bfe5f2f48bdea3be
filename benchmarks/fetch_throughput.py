"""Fetch throughput (concurrent engine over a one-at-a-time loop) and cutout-store read throughput.

Part 1 serves the Legacy Survey ``fits-cutout`` protocol on 127.0.0.1 with an injected latency per request
(the loopback server of the test suite) and measures, in the same run, cutouts/s of

* a sequential loop: ``survey.fetch`` for one position after another (no cache), and
* :func:`galzoo_fm.fetch.fetch_catalog` with ``--workers N`` (no cache, a fresh store each time),

and reports their ratio against the goal of ``0.8 * N``.

Part 2 writes a store of ``--store-rows`` cutouts of 3 × 128 × 128 and times random batches of 256
(``CutoutStore.read`` of random indices, as a training loader does) and sequential batches (embedding).
The file is read once beforehand, so these are page-cache (warm) rates::

    python benchmarks/fetch_throughput.py --latency 0.1 --workers 8 --rows 200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _survey_servers import legacy_server

from galzoo_fm import get_survey
from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.fetch import fetch_catalog
from galzoo_fm.store.reader import CutoutStore
from galzoo_fm.store.writer import StoreWriter, ensure_manifest


def fetch_rates(latency: float, workers: int, rows: int, size: int) -> dict[str, float]:
    srv = legacy_server(latency=latency)
    try:
        options = {"server": srv.url + "/viewer/fits-cutout", "bands": "grz", "per_host": workers}
        ra = 150 + np.arange(rows) * 1e-3
        dec = np.full(rows, 2.0)
        survey = get_survey("legacy", **options)
        n_seq = max(10, rows // workers)
        t0 = time.perf_counter()
        for i in range(n_seq):
            assert survey.fetch(ra[i], dec[i], size).status is Status.OK
        seq = n_seq / (time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            cat = Table({"ra": ra + 1.0, "dec": dec})  # other positions: nothing comes from any cache
            t0 = time.perf_counter()
            summary = fetch_catalog(cat, "legacy", size=size, out=tmp, survey_options=options, workers=workers,
                                    cache=False)
            conc = rows / (time.perf_counter() - t0)
            assert summary.counts == {"ok": rows}, summary
        return {"sequential": seq, "concurrent": conc, "speedup": conc / seq, "max_in_flight": srv.max_active}
    finally:
        srv.close()


def store_rates(n: int, batch: int, repeats: int) -> dict[str, float]:
    shape = (3, 128, 128)
    with tempfile.TemporaryDirectory() as tmp:
        ensure_manifest(tmp, {"shape": list(shape), "dtype": "float32", "bands": ["g", "r", "z"], "extras": [],
                              "size": 128, "survey": "bench", "layer": None, "pixscale": 0.262,
                              "catalog_fingerprint": "bench"})
        rng = np.random.default_rng(0)
        block = rng.normal(size=(64, *shape)).astype(np.float32)
        t0 = time.perf_counter()
        with StoreWriter(tmp) as w:
            for row in range(n):
                w.add(row, str(row), 0.0, 0.0, Cutout(Status.OK, block[row % 64]))
        write = n / (time.perf_counter() - t0)
        store = CutoutStore(tmp)
        store.read(np.arange(n))  # warm the page cache
        t0 = time.perf_counter()
        for _ in range(repeats):  # a new output array per batch, as a data loader would need
            store.read(rng.integers(0, n, batch))
        rand = repeats / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        seen = sum(len(i) for i, _ in store.iter_batches(batch))
        seq = seen / (time.perf_counter() - t0)
    return {"write_cutouts_s": write, "random_batches_s": rand, "random_cutouts_s": rand * batch,
            "sequential_cutouts_s": seq, "chunk_rows": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="Seconds added to every request.")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rows", type=int, default=200, help="Cutouts fetched by the concurrent engine.")
    parser.add_argument("--size", type=int, default=64, help="Cutout side in pixels.")
    parser.add_argument("--store-rows", type=int, default=4096, help="Cutouts of 3x128x128 in the store.")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    f = fetch_rates(args.latency, args.workers, args.rows, args.size)
    print(f"fetch ({args.latency * 1000:.0f} ms latency, {args.size}px, {args.workers} workers): "
          f"sequential {f['sequential']:.1f}/s, concurrent {f['concurrent']:.1f}/s, "
          f"speedup {f['speedup']:.2f}x (goal >= {0.8 * args.workers:.1f}x), "
          f"max requests in flight {f['max_in_flight']}")
    s = store_rates(args.store_rows, args.batch, args.repeats)
    print(f"store ({args.store_rows} cutouts of 3x128x128): write {s['write_cutouts_s']:.0f} cutouts/s; "
          f"random batches of {args.batch}: {s['random_batches_s']:.1f} batches/s "
          f"({s['random_cutouts_s']:.0f} cutouts/s); sequential {s['sequential_cutouts_s']:.0f} cutouts/s")


if __name__ == "__main__":
    main()
