"""Similarity search and anomaly scores over embeddings.

Cosine similarity, exact: embeddings are L2-normalised once, and the database is scanned in blocks with
batched matrix products on the CPU or GPU, keeping a running top-k, so memory stays bounded by
``query_batch × block`` whatever the catalogue size. For catalogues beyond memory, or many queries against
tens of millions of rows, ``backend="faiss"`` uses an exact inner-product index from
`faiss <https://github.com/facebookresearch/faiss>`_ (``pip install faiss-cpu``) instead.

Rows whose embedding is not finite (objects that failed upstream carry NaN vectors) are never returned as
neighbours; asking for their neighbours is an error that names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from galzoo_fm._utils.checks import one_of
from galzoo_fm.models.inference import resolve_device

__all__ = ["SimilarityIndex", "anomaly_scores", "nearest_row"]

_BACKENDS = ("torch", "faiss")


def _as_matrix(embeddings: Any, what: str = "embeddings") -> np.ndarray:
    arr = np.asarray(embeddings)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"{what} must have shape (N, D), got {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{what} must be numeric, got dtype {arr.dtype}")
    return arr.astype(np.float32, copy=False)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    norm = x.norm(dim=1, keepdim=True)
    return torch.where(norm > 0, x / norm.clamp_min(1e-30), torch.zeros_like(x))


class SimilarityIndex:
    """Exact cosine nearest neighbours over a set of embeddings.

    Parameters
    ----------
    embeddings : array-like
        Shape ``(N, D)``. Rows with NaN or infinite values are excluded from the results.
    ids : sequence, optional
        One identifier per row (e.g. the catalogue's ``id`` column), for :meth:`neighbours_of`.
    device : str or torch.device, optional
        Where the torch backend computes; CUDA when available by default.
    backend : {"torch", "faiss"}
        Batched matrix products in torch (default), or a faiss ``IndexFlatIP`` (exact).
    block_size : int
        Database rows per matrix product (torch backend).

    Examples
    --------
    >>> import numpy as np
    >>> from galzoo_fm.explore.search import SimilarityIndex
    >>> vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> index = SimilarityIndex(vectors, ids=["a", "b", "c"], device="cpu")
    >>> rows, sims = index.neighbours_of("a", k=2)
    >>> [index.ids[i] for i in rows], [round(float(s), 3) for s in sims]
    (['b', 'c'], [0.994, 0.0])
    """

    def __init__(
        self,
        embeddings: Any,
        ids: Sequence[Any] | None = None,
        *,
        device: str | torch.device | None = None,
        backend: str = "torch",
        block_size: int = 65536,
    ):
        one_of(backend, _BACKENDS, "backend")
        arr = _as_matrix(embeddings)
        self.valid = np.isfinite(arr).all(axis=1)
        self.n, self.dim = arr.shape
        if ids is not None and len(ids) != self.n:
            raise ValueError(f"ids has {len(ids)} entries but there are {self.n} embeddings")
        self.ids = list(ids) if ids is not None else list(range(self.n))
        self._row_of: dict[Any, int] | None = None
        self.backend = backend
        self.block_size = int(block_size)
        self.device = resolve_device(device)
        clean = np.where(self.valid[:, None], arr, 0.0).astype(np.float32)
        self._vectors = _normalise(torch.from_numpy(clean)).to(self.device)
        self._faiss = None
        if backend == "faiss":
            try:
                import faiss
            except ImportError as exc:
                raise ValueError("backend='faiss' needs the faiss package: pip install faiss-cpu") from exc
            self._faiss = faiss.IndexFlatIP(self.dim)
            self._faiss.add(self._vectors.cpu().numpy())

    # ------------------------------------------------------------------ lookup
    def row_of(self, identifier: Any) -> int:
        """The row index of ``identifier`` in ``ids``; ``ValueError`` if absent or not unique."""
        if self._row_of is None:
            rows: dict[Any, int] = {}
            dupes: set[Any] = set()
            for i, key in enumerate(self.ids):
                key = key.item() if isinstance(key, np.generic) else key
                if key in rows:
                    dupes.add(key)
                rows[key] = i
            self._row_of = {k: v for k, v in rows.items() if k not in dupes}
            self._dupes = dupes
        key = identifier.item() if isinstance(identifier, np.generic) else identifier
        if key in self._row_of:
            return self._row_of[key]
        if key in self._dupes:
            raise ValueError(f"id {identifier!r} appears more than once; query by row or by position instead")
        # ids read from files are often strings or integers: accept either spelling
        for alt in (str(key), _maybe_int(key)):
            if alt is not None and alt in self._row_of:
                return self._row_of[alt]
        raise ValueError(f"id {identifier!r} is not in the embeddings ({self.n} rows)")

    # ------------------------------------------------------------------ search
    def search(
        self,
        queries: Any,
        k: int = 10,
        *,
        exclude_rows: Sequence[int] | np.ndarray | None = None,
        query_batch: int = 1024,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar rows to each query vector.

        Parameters
        ----------
        queries : array-like
            Shape ``(Q, D)``.
        k : int
            Neighbours per query (at most the number of valid rows, less one when excluding).
        exclude_rows : sequence of int, optional
            One row index per query to leave out of its results (the query itself), or ``-1`` for none.
        query_batch : int
            Queries per matrix product.

        Returns
        -------
        rows : numpy.ndarray
            Shape ``(Q, k)``, int64 row indices, most similar first.
        similarities : numpy.ndarray
            Shape ``(Q, k)``, float32 cosine similarities.
        """
        q = _as_matrix(queries, "queries")
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have {q.shape[1]} dimensions but the embeddings have {self.dim}")
        if not np.isfinite(q).all():
            raise ValueError("queries contain NaN or infinite values")
        exclude = np.full(len(q), -1, np.int64) if exclude_rows is None else np.asarray(exclude_rows, np.int64)
        if exclude.shape != (len(q),):
            raise ValueError(f"exclude_rows must give one row per query ({len(q)}), got shape {exclude.shape}")
        available = int(self.valid.sum()) - int((exclude >= 0).any())
        if not isinstance(k, int | np.integer) or k < 1 or k > available:
            raise ValueError(f"k must be between 1 and {available} (the usable rows), got {k!r}")
        qt = _normalise(torch.from_numpy(q))
        if self._faiss is not None:
            return self._search_faiss(qt.numpy(), int(k), exclude)
        rows, sims = [], []
        for start in range(0, len(q), query_batch):
            r, s = self._search_torch(qt[start : start + query_batch].to(self.device), int(k),
                                      torch.from_numpy(exclude[start : start + query_batch]).to(self.device))
            rows.append(r.cpu().numpy())
            sims.append(s.float().cpu().numpy())
        return np.concatenate(rows), np.concatenate(sims)

    def _search_torch(self, q: torch.Tensor, k: int, exclude: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        best_s = torch.full((len(q), k), -torch.inf, device=self.device)
        best_r = torch.full((len(q), k), -1, dtype=torch.long, device=self.device)
        valid = torch.from_numpy(self.valid).to(self.device)
        for start in range(0, self.n, self.block_size):
            block = self._vectors[start : start + self.block_size]
            sims = q @ block.T  # (q, block)
            cols = torch.arange(start, start + len(block), device=self.device)
            sims = sims.masked_fill(~valid[start : start + len(block)], -torch.inf)
            sims = sims.masked_fill(cols[None, :] == exclude[:, None], -torch.inf)
            kk = min(k, len(block))
            s, r = sims.topk(kk, dim=1)
            merged_s = torch.cat([best_s, s], dim=1)
            merged_r = torch.cat([best_r, r + start], dim=1)
            best_s, order = merged_s.topk(k, dim=1)
            best_r = merged_r.gather(1, order)
        return best_r, best_s

    def _search_faiss(self, q: np.ndarray, k: int, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_invalid = int((~self.valid).sum())
        extra = n_invalid + 1
        sims, rows = self._faiss.search(np.ascontiguousarray(q), min(k + extra, self.n))
        out_r = np.empty((len(q), k), np.int64)
        out_s = np.empty((len(q), k), np.float32)
        for i in range(len(q)):
            keep = (rows[i] >= 0) & (rows[i] != exclude[i])
            keep &= self.valid[np.clip(rows[i], 0, None)]
            out_r[i] = rows[i][keep][:k]
            out_s[i] = sims[i][keep][:k]
        return out_r, out_s

    def neighbours_of(self, identifier: Any, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` rows most similar to the row with id ``identifier``, itself excluded."""
        row = self.row_of(identifier)
        return self.neighbours_of_row(row, k)

    def neighbours_of_row(self, row: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` rows most similar to row ``row``, itself excluded; returns ``(rows, similarities)``."""
        if not 0 <= row < self.n:
            raise ValueError(f"row {row} is out of range (0..{self.n - 1})")
        if not self.valid[row]:
            raise ValueError(f"row {row} (id {self.ids[row]!r}) has no valid embedding (NaN or infinite)")
        rows, sims = self.search(self._vectors[row : row + 1].cpu().numpy(), k, exclude_rows=[row])
        return rows[0], sims[0]

    def anomaly_scores(self, k: int = 10, *, query_batch: int = 1024) -> np.ndarray:
        """Mean cosine distance ``1 − similarity`` of each row to its ``k`` nearest other rows.

        Returns
        -------
        numpy.ndarray
            Shape ``(N,)``, float32; large for galaxies unlike any other. NaN for rows without a valid
            embedding.
        """
        out = np.full(self.n, np.nan, np.float32)
        rows = np.flatnonzero(self.valid)
        for start in range(0, len(rows), query_batch):
            chunk = rows[start : start + query_batch]
            _, sims = self.search(self._vectors[torch.from_numpy(chunk).to(self.device)].cpu().numpy(), k,
                                  exclude_rows=chunk)
            out[chunk] = (1.0 - sims).mean(axis=1)
        return out


def _maybe_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def anomaly_scores(embeddings: Any, k: int = 10, *, device: str | torch.device | None = None,
                   backend: str = "torch") -> np.ndarray:
    """Mean cosine distance of each embedding to its ``k`` nearest others, shape ``(N,)``.

    A simple, robust outlier score for finding rare galaxies (see :meth:`SimilarityIndex.anomaly_scores`).
    """
    return SimilarityIndex(embeddings, device=device, backend=backend).anomaly_scores(k)


def nearest_row(ra: float, dec: float, table_ra: Any, table_dec: Any, *, max_sep_arcsec: float = 5.0) -> int:
    """Row of the catalogue object nearest to (``ra``, ``dec``) in degrees.

    Raises
    ------
    ValueError
        If the nearest object is further than ``max_sep_arcsec``, naming it and its separation.
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    cat = SkyCoord(np.asarray(table_ra, float) * u.deg, np.asarray(table_dec, float) * u.deg)
    target = SkyCoord(ra * u.deg, dec * u.deg)
    sep = target.separation(cat).arcsec
    sep = np.where(np.isfinite(sep), sep, np.inf)
    row = int(np.argmin(sep))
    if not sep[row] <= max_sep_arcsec:
        raise ValueError(
            f"no object within {max_sep_arcsec} arcsec of ra={ra}, dec={dec}; the nearest (row {row}) is "
            f"{sep[row]:.1f} arcsec away"
        )
    return row
