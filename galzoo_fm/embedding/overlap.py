"""Fetching and embedding at once: the embedding of a block starts as soon as its rows are in the store.

Run one after the other, the two phases of an embedding run take ``1/fetch + 1/embed`` seconds per galaxy;
side by side, ``max(1/fetch, 1/embed)``. For the user's own image files (:mod:`galzoo_fm.images`), whose
"fetch" is decoding JPEGs on the CPU while the model runs on the GPU, that is the difference between the
sum and the slower of the two. :class:`Arrivals` is the meeting point: the fetch (in a background thread,
:func:`~galzoo_fm.fetch.fetch_catalog` with ``observer=``) says which rows it will record and, chunk by
chunk, which it has committed; the embedding's block reader waits until a block's rows have all arrived,
takes the new chunks into its :class:`~galzoo_fm.store.index.StoreIndex` and reads the block.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from galzoo_fm.store.index import StoreIndex

__all__ = ["Arrivals", "BackgroundFetch"]


class Arrivals:
    """Which catalogue rows a running fetch has still to commit (the fetch's ``observer``).

    Parameters
    ----------
    n_rows : int
        Catalogue rows.
    """

    def __init__(self, n_rows: int):
        self.n_rows = int(n_rows)
        self._cond = threading.Condition()
        self._pending: np.ndarray | None = None
        self._finished = False
        self.error: BaseException | None = None
        self.stop_requested = False

    # ---- told by the fetch
    def started(self, rows: np.ndarray) -> None:
        """The rows this fetch will record (the others are in the store already)."""
        with self._cond:
            pending = np.zeros(self.n_rows, bool)
            pending[np.asarray(rows, dtype=np.int64)] = True
            self._pending = pending
            self._cond.notify_all()

    def committed(self, rows: np.ndarray) -> None:
        """``rows`` are in a committed chunk."""
        with self._cond:
            if self._pending is not None:
                rows = np.asarray(rows, dtype=np.int64)
                self._pending[rows[(rows >= 0) & (rows < self.n_rows)]] = False
            self._cond.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        """The fetch has ended (with ``error`` if it raised)."""
        with self._cond:
            self._finished, self.error = True, error
            self._cond.notify_all()

    # ---- asked by the embedding
    def wait_started(self) -> bool:
        """Block until the fetch knows its rows (its store exists); ``False`` if it ended before that."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending is not None or self._finished)
            self._raise()
            return self._pending is not None

    def pending(self, start: int, stop: int) -> bool:
        """Whether any of the rows ``[start, stop)`` is still to be committed by this fetch."""
        with self._cond:
            return self._pending is not None and bool(self._pending[start:stop].any())

    def wait_rows(self, start: int, stop: int, alive: Callable[[], bool]) -> bool:
        """Block until the rows ``[start, stop)`` are committed or the fetch has ended.

        Returns ``False`` when ``alive()`` turned false meanwhile (the consumer is stopping). Re-raises the
        fetch's error.
        """
        with self._cond:
            while not self._finished and self._pending is not None and self._pending[start:stop].any():
                if not alive():
                    return False
                self._cond.wait(timeout=0.2)
            self._raise()
            return True

    def _raise(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"the fetch beside the embedding failed: {self.error}") from self.error


class BackgroundFetch:
    """``fetch(observer=arrivals)`` in a thread, and the block reader's wait on it.

    Parameters
    ----------
    fetch : callable
        Runs the fetch with the keyword ``observer`` and returns its summary.
    n_rows : int
        Catalogue rows.
    """

    def __init__(self, fetch: Callable[..., Any], n_rows: int):
        self.arrivals = Arrivals(n_rows)
        self.summary: Any = None
        self.seconds = 0.0  # the fetch's wall time
        self._fetch = fetch
        self.thread = threading.Thread(target=self._run, name="galzoo-embed-fetch", daemon=True)

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            self.summary = self._fetch(observer=self.arrivals)
        except BaseException as exc:  # handed to the embedding, which re-raises it
            self.arrivals.finish(exc)
        else:
            self.arrivals.finish()
        finally:
            self.seconds = time.perf_counter() - t0

    def start(self) -> bool:
        """Start the fetch; ``True`` once its store exists, ``False`` if it ended first (it raises its error)."""
        self.thread.start()
        return self.arrivals.wait_started()

    def waiter(self, index: StoreIndex) -> Callable[[int, int, Callable[[], bool]], bool]:
        """The block reader's wait: rows ``[start, stop)`` arrived, then ``index`` takes in the new chunks."""

        def wait(start: int, stop: int, alive: Callable[[], bool]) -> bool:
            if not self.arrivals.wait_rows(start, stop, alive):
                return False
            index.refresh()
            return True

        return wait

    def stop(self) -> None:
        """Ask the fetch to stop as on Ctrl-C (it commits what finished) and wait for it."""
        self.arrivals.stop_requested = True
        self.join()

    def join(self) -> Any:
        """Wait for the fetch to end; its summary (re-raises its error)."""
        self.thread.join()
        self.arrivals._raise()
        return self.summary
