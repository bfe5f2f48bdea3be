"""Phase 2 of an embedding run: cutouts from the store → preprocessing → model, one block at a time.

Where each step runs
--------------------
* **Read** — a pool of reader threads copies the raw float32 cutouts of each batch from the store's
  memory-mapped chunk files (:meth:`~galzoo_fm.store.index.StoreIndex.take`, sequential slab copies), a few
  batches ahead of the model, in catalogue order. On CUDA they copy straight into *pinned* host buffers
  (a small ring: a buffer is refilled once its previous copy has finished) and issue the copy to the
  device on a side CUDA stream with ``non_blocking=True``, so the copy of batch ``i + 1`` overlaps the
  forward of batch ``i``.
* **Preprocess** — the same :class:`~galzoo_fm.preprocess.Preprocessor` everywhere, placed by
  :func:`preprocess_placement`:

  - ``"device"`` (the default on a GPU): the main thread runs it on the raw batch tensor on the model's
    device (tensor in, tensor out, float32, outside the autocast region), right before the forward;
  - ``"threads"`` (the default on a CPU, and whenever the preprocessing uses a photutils step —
    ``background="background2d"``, ``neighbours``, ``recentre`` — which works on the host): the reader
    threads run it on CPU tensors, one torch thread each (torch ops release the GIL, so it overlaps the
    model in the main thread); on a GPU the model-ready batch then goes through the pinned buffers to the device.
* **Model** — the main thread (:class:`~galzoo_fm.models.inference.InferenceModel`: eval, channels-last, bf16
  autocast on CUDA, optionally ``torch.compile``).
* **Results** — vectors and flags stay on the device until a block is complete; then one
  ``non_blocking`` copy per block to pinned host memory, and a committer thread waits for that copy and
  commits the block atomically (:meth:`~galzoo_fm.embedding.partial.PartialRun.commit`). The main thread
  never waits for the device: on CUDA, batches queue up behind each other.

Memory stays bounded by a few batches in flight (raw cutouts, the device queue) and two blocks of
vectors, whatever the catalogue size.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from galzoo_fm.embedding.partial import PartialRun
from galzoo_fm.models.inference import InferenceModel
from galzoo_fm.preprocess import Preprocessor
from galzoo_fm.store.index import StoreIndex

__all__ = ["PLACEMENTS", "BlockHeader", "Piece", "embed_blocks", "preprocess_placement"]

#: Where the preprocessing may run (see the module docstring).
PLACEMENTS = ("device", "threads")
_AHEAD = 4  # batches queued for the model
_MAX_READERS = 4  # reader threads when they only copy (device placement): enough for the store's bandwidth
# Reader threads for a CPU model with the torch preprocessing alone: one keeps up (about 5 000 cutouts/s per
# core at 64 px against hundreds for the model) and more only compete with the model's threads for the cores
# (2-core machine shared with other jobs, resnet18 at 64 px, default threads: 0.78-0.97 of the model alone
# with 1, 2 or 4 readers, within that machine's noise; 1.00 with one reader when it was quieter).
_CPU_READERS = 1
_COMMITS_AHEAD = 2  # finished blocks waiting for the committer
_TORCH_DTYPES = {"uint8": torch.uint8, "float32": torch.float32}  # uint16: torch's support is thin; as float32


@dataclass
class BlockHeader:
    """The start of one block: every row's status and reason, and which rows have pixels."""

    block: int
    status: np.ndarray
    reason: np.ndarray
    offsets: np.ndarray


@dataclass
class Piece:
    """One batch: the block rows ``offsets[first:first + len(images)]``.

    ``images`` are raw cutouts still to be preprocessed (``flags`` is ``None``) or model-ready images
    with their ``flags``; on the model's device or the host. ``ready`` is the CUDA event of the copy to
    the device (``None`` when there was none).
    """

    first: int
    images: torch.Tensor
    flags: torch.Tensor | None
    ready: Any = None


def uses_host_steps(pre: Preprocessor) -> bool:
    """Whether ``pre`` has a photutils step (``background2d``, ``neighbours``, ``recentre``) run on the host."""
    s = pre.settings
    return s["background"] == "background2d" or s["neighbours"] != "none" or s["recentre"] != "none"


def preprocess_placement(pre: Preprocessor, device: torch.device, placement: str | None = None) -> str:
    """Where the preprocessing of an embedding run goes: ``"device"`` or ``"threads"``.

    Parameters
    ----------
    pre : Preprocessor
        The preprocessing.
    device : torch.device
        The model's device.
    placement : {"device", "threads"}, optional
        Asked for explicitly; ``None`` chooses: ``"threads"`` on a CPU (measured faster there, see
        :doc:`/performance`) or when ``pre`` has a photutils step, else ``"device"``.

    Raises
    ------
    ValueError
        An unknown ``placement``, or ``"device"`` on a GPU with a photutils step.
    """
    if placement is None:
        return "threads" if device.type == "cpu" or uses_host_steps(pre) else "device"
    if placement not in PLACEMENTS:
        raise ValueError(f"preprocess_on must be one of {', '.join(map(repr, PLACEMENTS))} or None; "
                         f"got {placement!r}")
    if placement == "device" and device.type != "cpu" and uses_host_steps(pre):
        raise ValueError("preprocess_on='device' is not possible with background='background2d', neighbours or "
                         "recentre (photutils steps run on the host); use 'threads'")
    return placement


class _Uploader:
    """Pinned host buffers and a side stream: the reader threads' copies to the device.

    A buffer is handed out once the copy that last read it has finished (waited for in the reader thread
    that takes it, never in the main thread); with one buffer more than the readers, none ever waits for
    another reader.
    """

    def __init__(self, device: torch.device, n_buffers: int):
        self.device = device
        self.stream = torch.cuda.Stream(device)
        self.free: queue.Queue = queue.Queue()
        for _ in range(n_buffers):
            self.free.put((None, None))

    def buffer(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        buf, event = self.free.get()
        if event is not None:
            event.synchronize()
        numel = math.prod(shape)
        if buf is None or buf.numel() < numel or buf.dtype != dtype:
            buf = torch.empty(numel, dtype=dtype, pin_memory=True)
        return buf[:numel].view(shape), buf

    def upload(self, view: torch.Tensor, buf: torch.Tensor) -> tuple[torch.Tensor, torch.cuda.Event]:
        with torch.cuda.stream(self.stream):
            x = view.to(self.device, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self.stream)
        self.free.put((buf, event))
        return x, event


def _reader(rows: StoreIndex, placement: str, pre: Preprocessor, bands: list[str], pixscale: float | None,
            uploader: _Uploader | None) -> Callable[[int, np.ndarray], Piece]:
    """The task of a reader thread: one batch of catalogue rows -> a :class:`Piece`."""

    def read(first: int, idx: np.ndarray) -> Piece:
        if placement == "device":
            if uploader is None:
                return Piece(first, torch.from_numpy(rows.take(idx)), None)
            # 8/16-bit stores travel as they are stored (a quarter of float32's bytes for uint8) and become
            # float32 on the device, in the preprocessing
            stored = _TORCH_DTYPES.get(str(rows.dtype), torch.float32)
            view, buf = uploader.buffer((len(idx), *rows.shape), stored)
            rows.take(idx, out=view.numpy())
            x, event = uploader.upload(view, buf)
            return Piece(first, x, None, event)
        with torch.inference_mode():
            result = pre(torch.from_numpy(rows.take(idx)), bands=bands, pixel_scale=pixscale)
        images, flags = result.images, result.flags
        if uploader is None:
            return Piece(first, images, flags)
        view, buf = uploader.buffer(tuple(images.shape))
        view.copy_(images)
        x, event = uploader.upload(view, buf)
        return Piece(first, x, flags, event)

    return read


def _reader_thread_setup(device: torch.device) -> None:
    """A reader thread's torch ops run on that thread alone (the setting is per thread with OpenMP): the
    model keeps the default threads, and small preprocessing kernels do not spin up thread teams that
    compete with the model's. On CUDA the thread's current device is the model's (pinned allocations and
    events then make no context on another rank's GPU)."""
    torch.set_num_threads(1)
    if device.type == "cuda":
        torch.cuda.set_device(device)


def _put_while(out: queue.Queue, item: object, alive: Callable[[], bool]) -> None:
    """Put ``item`` into a bounded queue, retrying while ``alive()`` (gives up once it is false)."""
    while alive():
        try:
            out.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def _put(out: queue.Queue, item: object, stop: threading.Event) -> None:
    _put_while(out, item, lambda: not stop.is_set())


def _producer(blocks: list[int], rows: StoreIndex, partial: PartialRun, read: Callable[[int, np.ndarray], Piece],
              workers: int, out: queue.Queue, stop: threading.Event, device: torch.device,
              wait: Callable[[int, int, Callable[[], bool]], bool] | None = None) -> None:
    """Block headers and batches, in order, with at most ``workers`` batches being read ahead."""
    batch = partial.batch_size
    pending: deque = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="galzoo-embed-read",
                              initializer=_reader_thread_setup, initargs=(device,))

    def drain(keep: int) -> None:
        while len(pending) > keep:
            item = pending.popleft()
            _put(out, item.result() if isinstance(item, Future) else item, stop)

    try:
        for b in blocks:
            start, end = partial.rows_of(b, rows.n_rows)
            if wait is not None:
                drain(0)  # what was read goes to the model while this block's rows are still arriving
                if not wait(start, end, lambda: not stop.is_set()):
                    return
            status, reason = rows.status(start, end)
            offsets = rows.offsets(start, end)
            pending.append(BlockHeader(b, status, reason, offsets))
            for first in range(0, len(offsets), batch):
                if stop.is_set():
                    return
                pending.append(pool.submit(read, first, start + offsets[first:first + batch]))
                drain(workers)
        drain(0)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        _put(out, exc, stop)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _put(out, None, stop)


class _Committer:
    """A thread that waits for each finished block's copy to the host and commits it."""

    def __init__(self, partial: PartialRun, num_features: int, stats: dict[str, float], bar: Any):
        self.partial, self.num_features, self.stats, self.bar = partial, num_features, stats, bar
        self.q: queue.Queue = queue.Queue(maxsize=_COMMITS_AHEAD)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="galzoo-embed-commit", daemon=True)
        self.thread.start()

    def put(self, item: tuple) -> None:
        _put_while(self.q, item, self.thread.is_alive)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is not None:
                continue
            try:
                self._commit(*item)
            except BaseException as exc:
                self.error = exc

    def _commit(self, head: BlockHeader, vecs: torch.Tensor | None, flags: torch.Tensor | None, ready: Any) -> None:
        if ready is not None:
            ready.synchronize()  # this block's copy to the host (in this thread, not the main one)
        n = len(head.status)
        vectors = np.full((n, self.num_features), np.nan, np.float32)
        row_flags = np.zeros(n, np.int32)
        if vecs is not None:
            vectors[head.offsets] = vecs.numpy()
            row_flags[head.offsets] = flags.numpy()
        self.partial.commit(head.block, vectors, head.status, head.reason, row_flags)
        self.stats["rows"] += n
        self.stats["embedded"] += len(head.offsets)
        self.stats["without_vector"] += n - len(head.offsets)
        self.bar.update(n)
        self.bar.set_postfix_str(f"no vector {self.stats['without_vector']}", refresh=False)

    def close(self) -> None:
        """Commit what was handed over, then stop; re-raise a commit's error."""
        _put_while(self.q, None, self.thread.is_alive)
        self.thread.join()
        if self.error is not None:
            raise self.error


def _to_host(parts: list[torch.Tensor]) -> tuple[torch.Tensor, Any]:
    """``torch.cat(parts)`` on the host: a non-blocking copy into pinned memory from CUDA, with its event."""
    x = torch.cat(parts)
    if x.device.type != "cuda":
        return x, None
    host = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
    host.copy_(x, non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    return host, event


def embed_blocks(blocks: Iterable[int], rows: StoreIndex, partial: PartialRun, pre: Preprocessor, model: nn.Module,
                 *, bands: list[str], pixscale: float | None, device: str | torch.device | None = None,
                 precision: str = "auto", compile: bool = False, workers: int = 2,
                 preprocess_on: str | None = None, progress: bool = False, desc: str = "embed",
                 wait: Callable[[int, int, Callable[[], bool]], bool] | None = None) -> dict[str, float]:
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
    model : torch.nn.Module
        With ``image_size`` and ``num_features`` (an :class:`~galzoo_fm.Encoder`); moved to ``device``.
    bands, pixscale
        The store's band names and pixel scale, passed to ``pre``.
    device : str or torch.device, optional
        The model's device (default CUDA when available).
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision of the model (the preprocessing always runs in float32).
    compile : bool
        ``torch.compile`` the model's forward.
    workers : int
        Reader threads; with ``"threads"`` placement they also preprocess. With ``"device"`` placement at
        most 4 are used (they only copy); on a CPU without photutils steps one (it keeps up, and more
        compete with the model for the cores).
    preprocess_on : {"device", "threads"}, optional
        Where the preprocessing runs (default: :func:`preprocess_placement`'s choice).
    progress : bool
        Show a tqdm bar (objects/s, rows without a vector so far).
    wait : callable, optional
        ``wait(start, stop, alive)``, called before a block's rows ``[start, stop)`` are read: blocks until
        they are in the store (a fetch still running beside, ``galzoo_fm.embedding.overlap``); ``False``
        ends the run early.

    Returns
    -------
    dict
        ``rows``, ``embedded``, ``without_vector``, ``seconds``, ``model_seconds`` (main-thread time spent
        launching the preprocessing on the device and the model; on CUDA not the device's time) of this
        call.
    """
    from tqdm.auto import tqdm

    blocks = list(blocks)
    total = sum(np.subtract(*partial.rows_of(b, rows.n_rows)[::-1]) for b in blocks)
    stats = {"rows": 0, "embedded": 0, "without_vector": 0, "seconds": 0.0, "model_seconds": 0.0}
    if not blocks:
        return stats
    runner = InferenceModel(model, device, precision=precision, compile=compile, batch_size=partial.batch_size)
    dev = runner.device
    placement = preprocess_placement(pre, dev, preprocess_on)
    if placement == "device":
        readers = max(1, min(workers, _MAX_READERS))
    elif dev.type == "cpu" and not uses_host_steps(pre):
        readers = max(1, min(workers, _CPU_READERS))
    else:  # photutils steps (tens to hundreds of cutouts/s per core), or a GPU to feed
        readers = max(1, workers)
    uploader = _Uploader(dev, readers + 1) if dev.type == "cuda" else None
    read = _reader(rows, placement, pre, bands, pixscale, uploader)
    q: queue.Queue = queue.Queue(maxsize=_AHEAD)
    stop = threading.Event()
    thread = threading.Thread(target=_producer, name="galzoo-embed-reader", daemon=True,
                              args=(blocks, rows, partial, read, readers, q, stop, dev, wait))
    bar = tqdm(total=int(total), unit="obj", desc=desc, disable=not progress, smoothing=0.05, dynamic_ncols=True)
    t0 = time.perf_counter()
    committer = _Committer(partial, runner.num_features, stats, bar)
    thread.start()
    head: BlockHeader | None = None
    vectors: list[torch.Tensor] = []
    flags: list[torch.Tensor] = []
    filled = 0
    stream = torch.cuda.current_stream(dev) if dev.type == "cuda" else None

    def finish_block() -> None:
        if filled != len(head.offsets):
            raise RuntimeError(f"block {head.block}: {filled} of {len(head.offsets)} images arrived")
        if not vectors:
            committer.put((head, None, None, None))
            return
        host_vectors, ready = _to_host(vectors)
        host_flags, flags_ready = _to_host(flags)
        committer.put((head, host_vectors, host_flags, ready if ready is not None else flags_ready))

    try:
        with torch.inference_mode(), torch.cuda.device(dev) if stream is not None else contextlib.nullcontext():
            while True:
                item = q.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, Piece):
                    t1 = time.perf_counter()
                    x = item.images
                    if item.ready is not None:
                        stream.wait_event(item.ready)
                        x.record_stream(stream)  # allocated on the copy stream, read on this one
                    if item.flags is None:
                        result = pre(x, bands=bands, pixel_scale=pixscale)
                        x, piece_flags = result.images, result.flags
                    else:
                        piece_flags = item.flags
                    vectors.append(runner(x))
                    flags.append(piece_flags)
                    filled += len(x)
                    stats["model_seconds"] += time.perf_counter() - t1
                    continue
                if head is not None:  # the previous block is complete
                    finish_block()
                if item is None:
                    break
                head, filled = item, 0
                vectors, flags = [], []
    finally:
        stop.set()
        try:
            committer.close()
        finally:
            bar.close()
            runner.close()
            thread.join(timeout=5)
    stats["seconds"] = time.perf_counter() - t0
    return stats
