"""Phase 2 of an embedding run: cutouts from the store → preprocessing → model, one block at a time.

A background thread reads each block's pixels from the cutout store (catalogue order, so reads are
sequential slab copies) and preprocesses them with a small thread pool, staying up to two blocks ahead,
while the main thread runs the model (:meth:`galzoo_fm.Encoder.embed`: bf16 autocast, channels-last and
pinned double buffering on CUDA) and commits each finished block atomically.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..preprocess import Preprocessor
from .partial import PartialRun
from .storeindex import StoreIndex

__all__ = ["BlockInput", "embed_blocks"]


@dataclass
class BlockInput:
    """One block, ready for the model."""

    block: int
    status: np.ndarray
    reason: np.ndarray
    offsets: np.ndarray
    images: np.ndarray
    flags: np.ndarray
    read_seconds: float


def _preprocess(pre: Preprocessor, pool: ThreadPoolExecutor, pixels: np.ndarray, bands: list[str],
                pixscale: float | None, batch: int) -> tuple[np.ndarray, np.ndarray]:
    if len(pixels) == 0:
        return np.zeros((0, pre.n_channels, pre.image_size, pre.image_size), np.float32), np.zeros(0, np.int32)
    parts = [pixels[i:i + batch] for i in range(0, len(pixels), batch)]
    results = list(pool.map(lambda x: pre(x, bands=bands, pixel_scale=pixscale), parts))
    return (np.concatenate([r.images for r in results]), np.concatenate([r.flags for r in results]))


def _put(out: queue.Queue, item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def _producer(blocks: list[int], rows: StoreIndex, partial: PartialRun, pre: Preprocessor, bands: list[str],
              pixscale: float | None, workers: int, out: queue.Queue, stop: threading.Event) -> None:
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="galzoo-preprocess") as pool:
            for b in blocks:
                if stop.is_set():
                    return
                t0 = time.perf_counter()
                start, end = partial.rows_of(b, rows.n_rows)
                status, reason = rows.status(start, end)
                offsets, pixels = rows.pixels(start, end, status)
                images, flags = _preprocess(pre, pool, pixels, bands, pixscale, partial.batch_size)
                _put(out, BlockInput(b, status, reason, offsets, images, flags, time.perf_counter() - t0), stop)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        _put(out, exc, stop)
    finally:
        _put(out, None, stop)


def embed_blocks(blocks: Iterable[int], rows: StoreIndex, partial: PartialRun, pre: Preprocessor,
                 embed: Callable[[np.ndarray], np.ndarray], num_features: int, *, bands: list[str],
                 pixscale: float | None, workers: int = 2, progress: bool = False, desc: str = "embed"
                 ) -> dict[str, float]:
    """Compute and commit ``blocks``.

    Parameters
    ----------
    blocks : iterable of int
        Block numbers to compute, in order.
    rows : StoreIndex
        The cutouts.
    partial : PartialRun
        Where blocks are committed (fixes block and batch size).
    pre : Preprocessor
        Preprocessing of the cutouts.
    embed : callable
        ``images (n, C, S, S) -> (n, D)`` float32 (e.g. a bound :meth:`~galzoo_fm.Encoder.embed`).
    num_features : int
        ``D``.
    bands, pixscale
        The store's band names and pixel scale, passed to ``pre``.
    workers : int
        Preprocessing threads.
    progress : bool
        Show a tqdm bar (objects/s, rows without a vector so far).

    Returns
    -------
    dict
        ``rows``, ``embedded``, ``without_vector``, ``seconds``, ``model_seconds`` of this call.
    """
    from tqdm.auto import tqdm

    blocks = list(blocks)
    total = sum(np.subtract(*partial.rows_of(b, rows.n_rows)[::-1]) for b in blocks)
    stats = {"rows": 0, "embedded": 0, "without_vector": 0, "seconds": 0.0, "model_seconds": 0.0}
    if not blocks:
        return stats
    q: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    thread = threading.Thread(target=_producer, name="galzoo-embed-reader", daemon=True,
                              args=(blocks, rows, partial, pre, bands, pixscale, max(1, workers), q, stop))
    bar = tqdm(total=int(total), unit="obj", desc=desc, disable=not progress, smoothing=0.05, dynamic_ncols=True)
    t0 = time.perf_counter()
    thread.start()
    try:
        while True:
            item = q.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            t1 = time.perf_counter()
            vectors = np.full((len(item.status), num_features), np.nan, np.float32)
            if len(item.offsets):
                vectors[item.offsets] = embed(item.images)
            stats["model_seconds"] += time.perf_counter() - t1
            flags = np.zeros(len(item.status), np.int32)
            flags[item.offsets] = item.flags
            partial.commit(item.block, vectors, item.status, item.reason, flags)
            n = len(item.status)
            stats["rows"] += n
            stats["embedded"] += len(item.offsets)
            stats["without_vector"] += n - len(item.offsets)
            bar.update(n)
            bar.set_postfix_str(f"no vector {stats['without_vector']}", refresh=False)
    finally:
        stop.set()
        bar.close()
        thread.join(timeout=5)
    stats["seconds"] = time.perf_counter() - t0
    return stats
