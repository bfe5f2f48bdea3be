"""Phase 2 of an embedding run: cutouts from the store → preprocessing → model, one block at a time.

A background thread reads the store (catalogue order, so reads are sequential slab copies) and
preprocesses it with a small thread pool, one *piece* of a block at a time (``max(4, workers)`` model
batches), staying a few pieces ahead, while the main thread runs the model on each piece as it arrives
(:meth:`galzoo_fm.Encoder.embed`: bf16 autocast, channels-last and pinned double buffering on CUDA) and
commits each finished block atomically. Pieces keep memory bounded (raw cutouts of one piece, at most
``_AHEAD`` preprocessed pieces) and start the model after one piece instead of one whole block.
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
from ..storeindex import StoreIndex
from .partial import PartialRun

__all__ = ["BlockHeader", "Piece", "embed_blocks"]

_AHEAD = 4  # preprocessed pieces queued ahead of the model


@dataclass
class BlockHeader:
    """The start of one block: every row's status and reason, and which rows have pixels."""

    block: int
    status: np.ndarray
    reason: np.ndarray
    offsets: np.ndarray


@dataclass
class Piece:
    """Preprocessed images of the block rows ``offsets[first:first + len(images)]``."""

    first: int
    images: np.ndarray
    flags: np.ndarray


def _preprocess(pre: Preprocessor, pool: ThreadPoolExecutor, pixels: np.ndarray, bands: list[str],
                pixscale: float | None, batch: int) -> tuple[np.ndarray, np.ndarray]:
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
    batch = partial.batch_size
    piece = max(4, workers) * batch
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="galzoo-preprocess") as pool:
            for b in blocks:
                start, end = partial.rows_of(b, rows.n_rows)
                status, reason = rows.status(start, end)
                offsets = rows.offsets(start, end)
                _put(out, BlockHeader(b, status, reason, offsets), stop)
                for first in range(0, len(offsets), piece):
                    if stop.is_set():
                        return
                    pixels = rows.take(start + offsets[first:first + piece])
                    images, flags = _preprocess(pre, pool, pixels, bands, pixscale, batch)
                    del pixels
                    _put(out, Piece(first, images, flags), stop)
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
    q: queue.Queue = queue.Queue(maxsize=_AHEAD)
    stop = threading.Event()
    thread = threading.Thread(target=_producer, name="galzoo-embed-reader", daemon=True,
                              args=(blocks, rows, partial, pre, bands, pixscale, max(1, workers), q, stop))
    bar = tqdm(total=int(total), unit="obj", desc=desc, disable=not progress, smoothing=0.05, dynamic_ncols=True)
    t0 = time.perf_counter()
    thread.start()
    head: BlockHeader | None = None
    vectors = flags = None
    filled = 0

    def commit() -> None:
        n = len(head.status)
        partial.commit(head.block, vectors, head.status, head.reason, flags)
        stats["rows"] += n
        stats["embedded"] += len(head.offsets)
        stats["without_vector"] += n - len(head.offsets)
        bar.update(n)
        bar.set_postfix_str(f"no vector {stats['without_vector']}", refresh=False)

    try:
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Piece):
                t1 = time.perf_counter()
                at = head.offsets[item.first:item.first + len(item.images)]
                vectors[at] = embed(item.images)
                flags[at] = item.flags
                filled += len(item.images)
                stats["model_seconds"] += time.perf_counter() - t1
                continue
            if head is not None:  # the previous block is complete
                if filled != len(head.offsets):
                    raise RuntimeError(f"block {head.block}: {filled} of {len(head.offsets)} images arrived")
                commit()
            if item is None:
                break
            head, filled = item, 0
            vectors = np.full((len(head.status), num_features), np.nan, np.float32)
            flags = np.zeros(len(head.status), np.int32)
    finally:
        stop.set()
        bar.close()
        thread.join(timeout=5)
    stats["seconds"] = time.perf_counter() - t0
    return stats
