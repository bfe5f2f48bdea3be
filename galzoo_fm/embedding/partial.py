"""Partial progress of an embedding run: fixed blocks of catalogue rows, committed atomically.

Layout of the folder beside the output (``OUT.partial/``)::

    run.json                  what the vectors depend on: model hash, catalogue fingerprint, preprocessing,
                              survey, cutout size, block and batch size, embedding width
    block-000123.npy          (rows in block, D) float32 vectors, NaN for rows without one
    block-000123.rows.npz     commit marker: status, reason and preprocessing flags of the block's rows

Block ``b`` holds catalogue rows ``[b * block_rows, (b + 1) * block_rows)`` whatever the number of ranks,
so a resumed or re-sharded run recomputes exactly the same batches. The ``.npy`` is renamed into place
before its ``.rows.npz``; a reader trusts only blocks with both, so ``kill -9`` at any moment leaves a
consistent folder. A committed block is reused only while the cutout store still gives its rows the status
recorded at commit time (a ``failed`` row fetched successfully by a later run makes its block recompute).
"""

from __future__ import annotations

import io
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from galzoo_fm._utils.atomic import atomic_write, fsync_dir, remove_stale_temporaries, write_json_once

__all__ = ["PartialRun"]

RUN_FILE = "run.json"
_BLOCK_RE = re.compile(r"^block-(\d{6})\.rows\.npz$")
#: run.json keys that must agree for a resume; the value names the thing in the error message.
_MUST_AGREE = {
    "model_sha256": "model weights (sha256)",
    "catalog_fingerprint": "catalogue (positions fingerprint)",
    "catalog_rows": "catalogue rows",
    "preprocessing": "preprocessing",
    "survey": "survey",
    "layer": "survey layer",
    "survey_bands": "survey bands",
    "pixscale": "survey pixel scale",
    "size": "cutout size",
    "num_features": "embedding width",
}
#: run.json keys adopted from the first run (they fix the batch composition) rather than refused.
_ADOPTED = ("block_rows", "batch_size")


class PartialRun:
    """The partial-progress folder of one run.

    Parameters
    ----------
    folder : str or path
        ``OUT.partial``; created if needed.
    info : dict
        JSON-serialisable facts of this run (see the module docstring).

    Raises
    ------
    ValueError
        The folder belongs to a run with a different model, catalogue, preprocessing or survey; the message
        names each difference.
    """

    def __init__(self, folder: str | Path, info: dict[str, Any]):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create the progress folder {str(self.folder)!r}: {exc.strerror}") from None
        remove_stale_temporaries(self.folder)  # what a killed run (any rank on this host) left half-written
        self.info = self._ensure(info)
        self.block_rows = int(self.info["block_rows"])
        self.batch_size = int(self.info["batch_size"])

    def _ensure(self, info: dict[str, Any]) -> dict[str, Any]:
        path = self.folder / RUN_FILE
        write_json_once(path, info, sort_keys=True)  # several ranks may race here: the first writer wins
        try:
            existing = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is damaged ({exc}); delete {self.folder} to start over") from None
        diffs = [f"{what}: earlier run {existing.get(key)!r}, this run {info.get(key)!r}"
                 for key, what in _MUST_AGREE.items() if existing.get(key) != info.get(key)]
        if diffs:
            raise ValueError(
                f"{self.folder} holds progress of a different run, so it cannot be resumed with these settings. "
                + "; ".join(diffs) + f". Use the original settings, another --out, or delete {self.folder}"
            )
        changed = [k for k in _ADOPTED if existing.get(k) != info.get(k)]
        if changed:
            warnings.warn("resuming with the earlier run's " + ", ".join(f"{k}={existing[k]}" for k in changed)
                          + " so that every block is computed alike", stacklevel=3)
        return existing

    def n_blocks(self, n_rows: int) -> int:
        """Number of blocks covering ``n_rows`` catalogue rows."""
        return -(-n_rows // self.block_rows)

    def rows_of(self, block: int, n_rows: int) -> tuple[int, int]:
        """``(start, stop)`` catalogue rows of ``block``."""
        return block * self.block_rows, min((block + 1) * self.block_rows, n_rows)

    def _stem(self, block: int) -> Path:
        return self.folder / f"block-{block:06d}"

    def committed(self) -> list[int]:
        """Block numbers with a commit marker."""
        return sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := _BLOCK_RE.match(p.name)))

    def read_rows(self, block: int) -> dict[str, np.ndarray]:
        """``status``, ``reason`` and ``flags`` of a committed block."""
        with np.load(self._stem(block).with_suffix(".rows.npz"), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def read_vectors(self, block: int, mmap: bool = True) -> np.ndarray:
        """``(rows, D)`` float32 vectors of a committed block."""
        return np.load(self._stem(block).with_suffix(".npy"), mmap_mode="r" if mmap else None, allow_pickle=False)

    def is_current(self, block: int, status: np.ndarray) -> bool:
        """Whether committed ``block`` was computed from cutouts with these statuses."""
        try:
            rows = self.read_rows(block)
        except (OSError, ValueError, KeyError):
            return False
        return rows["status"].shape == status.shape and bool(np.all(rows["status"] == status))

    def commit(self, block: int, vectors: np.ndarray, status: np.ndarray, reason: np.ndarray,
               flags: np.ndarray) -> None:
        """Write a block: vectors first, then the commit marker."""
        stem = self._stem(block)
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        atomic_write(stem.with_suffix(".npy"), buf.getbuffer())
        buf = io.BytesIO()
        np.savez(buf, status=np.asarray(status, dtype=str), reason=np.asarray(reason, dtype=str),
                 flags=np.asarray(flags, dtype=np.int32))
        atomic_write(stem.with_suffix(".rows.npz"), buf.getbuffer())
        fsync_dir(self.folder)

    def drop(self, block: int) -> None:
        """Forget a block (marker first, so a crash in between leaves it uncommitted)."""
        stem = self._stem(block)
        stem.with_suffix(".rows.npz").unlink(missing_ok=True)
        stem.with_suffix(".npy").unlink(missing_ok=True)
