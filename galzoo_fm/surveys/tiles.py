"""A tile index for folders of FITS images: each image's footprint read once, cached, and looked up fast.

Every image plane of every file (2-D image, cube plane, extension) is one row: the file, the HDU, the
plane, the band, the pixel grid (shape, ``CRVAL``, ``CRPIX``, CD matrix) and its footprint on the sphere.
Planes on the same grid form one *tile*. The index is written once to a small ``.npz`` file (no pickles)
keyed by each file's size and modification time; a later start reads it back and reads only the headers
of files that are new or changed. A KD-tree on the unit vectors of the tile centres gives each position the
few tiles that can cover it; pure gnomonic (``TAN``) grids — the Legacy Surveys bricks, most mosaics — are
converted with vectorised spherical formulas (checked against astropy when the tile is indexed), any other
grid with its own :class:`~astropy.wcs.WCS`.
"""

from __future__ import annotations

import os
import threading
import warnings
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from galzoo_fm._utils.atomic import atomic_path
from galzoo_fm.surveys.grid import linear_tan

__all__ = ["TileIndex", "band_names", "read_planes", "tan_pix2world", "tan_world2pix"]

#: bump when the index file's arrays change meaning
INDEX_VERSION = 1
_PLANE_FIELDS = ("file", "hdu", "plane", "band", "shape", "crval", "crpix", "cd", "tan", "header")
#: per tile, computed from the grids: kept in the index file too
_FOOTPRINT_FIELDS = ("corners", "centre", "radius", "scale")


def band_names(header: fits.Header, n: int, fallback: str) -> list[str]:
    """Band names of an image with ``n`` planes from ``BAND<i>`` / ``BANDS``, ``BAND`` or ``FILTER`` keywords.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The image's header.
    n : int
        Number of planes (1 for a 2-D image).
    fallback : str
        The name of a 2-D image without keywords; the prefix ``<fallback><i>`` of a cube's planes.

    Returns
    -------
    list of str
    """
    if n == 1:
        for key in ("BAND", "FILTER", "BAND0", "BANDS"):
            if str(header.get(key, "")).strip():
                return [str(header[key]).strip()]
        return [fallback]
    names = [str(header.get(f"BAND{i}", "")).strip() for i in range(n)]
    if all(names):
        return names
    text = str(header.get("BANDS", "")).strip()
    if "," in text and len(text.split(",")) == n:
        return [t.strip() for t in text.split(",")]
    if len(text) == n:
        return list(text)
    return [f"{fallback}{i}" for i in range(n)]


# ----------------------------------------------------------------------------- gnomonic projection
def tan_world2pix(ra: np.ndarray, dec: np.ndarray, crval: np.ndarray, crpix: np.ndarray, cd: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel ``(x, y)`` of ``(ra, dec)`` degrees on TAN grids, element by element.

    ``crval``, ``crpix`` (1-based): ``(n, 2)``; ``cd``: ``(n, 2, 2)`` degrees per pixel. Positions on the far
    hemisphere of a grid's tangent point get NaN.
    """
    a0, d0 = np.radians(crval[:, 0]), np.radians(crval[:, 1])
    a, d = np.radians(ra), np.radians(dec)
    da = a - a0
    sd0, cd0, sd, cdd, cda = np.sin(d0), np.cos(d0), np.sin(d), np.cos(d), np.cos(da)
    cosc = sd0 * sd + cd0 * cdd * cda
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.degrees(cdd * np.sin(da) / cosc)
        eta = np.degrees((cd0 * sd - sd0 * cdd * cda) / cosc)
    det = cd[:, 0, 0] * cd[:, 1, 1] - cd[:, 0, 1] * cd[:, 1, 0]
    x = (cd[:, 1, 1] * xi - cd[:, 0, 1] * eta) / det + crpix[:, 0] - 1
    y = (-cd[:, 1, 0] * xi + cd[:, 0, 0] * eta) / det + crpix[:, 1] - 1
    far = ~(cosc > 0)
    x[far], y[far] = np.nan, np.nan
    return x, y


def tan_pix2world(x: np.ndarray, y: np.ndarray, crval: np.ndarray, crpix: np.ndarray, cd: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(ra, dec)`` degrees of 0-based pixels ``(x, y)`` on TAN grids (the inverse of :func:`tan_world2pix`)."""
    dx, dy = x - (crpix[:, 0] - 1), y - (crpix[:, 1] - 1)
    xi = np.radians(cd[:, 0, 0] * dx + cd[:, 0, 1] * dy)
    eta = np.radians(cd[:, 1, 0] * dx + cd[:, 1, 1] * dy)
    a0, d0 = np.radians(crval[:, 0]), np.radians(crval[:, 1])
    dec = np.arcsin((np.sin(d0) + eta * np.cos(d0)) / np.sqrt(1 + xi**2 + eta**2))
    ra = a0 + np.arctan2(xi, np.cos(d0) - eta * np.sin(d0))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def _unit(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    a, d = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)], axis=-1)


def _grid_of(wcs: WCS, shape: tuple[int, int]) -> dict[str, Any]:
    """The grid fields of one celestial WCS; ``tan`` when the vectorised formulas reproduce astropy's."""
    w = wcs.wcs
    grid = {"shape": shape, "crval": np.array(w.crval, float), "crpix": np.array(w.crpix, float),
            "cd": np.array(wcs.pixel_scale_matrix, float), "tan": False, "header": ""}
    if list(w.ctype) == ["RA---TAN", "DEC--TAN"]:
        h, wd = shape
        px = np.array([0.0, wd - 1.0, 0.0, wd - 1.0, (wd - 1) / 2])
        py = np.array([0.0, 0.0, h - 1.0, h - 1.0, (h - 1) / 2])
        ra, dec = wcs.all_pix2world(px, py, 0)
        one = {k: np.repeat(grid[k][None], 5, axis=0) for k in ("crval", "crpix", "cd")}
        x, y = tan_world2pix(ra, dec, one["crval"], one["crpix"], one["cd"])
        if np.allclose(x, px, atol=1e-6) and np.allclose(y, py, atol=1e-6):
            grid["tan"] = True
    if not grid["tan"]:
        grid["header"] = wcs.to_header_string(relax=True)
    return grid


_NOT_PLAIN = ("A_ORDER", "B_ORDER", "AP_ORDER", "BP_ORDER", "CPDIS1", "CPDIS2", "D2IMDIS1", "D2IMDIS2",
              "D2IMFILE", "PV1_1", "PV1_2", "PV2_1", "PV2_2", "PV2_3")


def _plain_tan(header: fits.Header, shape: tuple[int, int]) -> dict[str, Any] | None:
    """The grid of a plain TAN header (celestial axes 1 and 2, no distortions) without building a WCS."""
    header = {c.keyword: c.value for c in header.cards}  # one parse: astropy's keyword lookups are slow
    if header.get("CTYPE1") != "RA---TAN" or header.get("CTYPE2") != "DEC--TAN" or \
            any(k in header for k in _NOT_PLAIN) or header.get("LONPOLE", 180) != 180 or \
            any(str(header.get(f"CUNIT{i}", "deg")).strip().lower() != "deg" for i in (1, 2)):
        return None
    try:
        if any(f"CD{i}_{j}" in header for i in (1, 2) for j in (1, 2)):
            cd = np.array([[header.get(f"CD{i}_{j}", 0.0) for j in (1, 2)] for i in (1, 2)], float)
        else:
            pc = np.array([[header.get(f"PC{i}_{j}", float(i == j)) for j in (1, 2)] for i in (1, 2)], float)
            cd = pc * np.array([header.get("CDELT1", 1.0), header.get("CDELT2", 1.0)], float)[:, None]
        crval = np.array([header["CRVAL1"], header["CRVAL2"]], float)
        crpix = np.array([header.get("CRPIX1", 0.0), header.get("CRPIX2", 0.0)], float)
    except (KeyError, TypeError, ValueError):
        return None
    if not (np.isfinite(cd).all() and np.isfinite(crval).all() and np.linalg.det(cd) != 0):
        return None
    return {"shape": shape, "crval": crval, "crpix": crpix, "cd": cd, "tan": True, "header": ""}


def read_planes(path: Path, only_hdu: Any = None, band_from_name: str | None = None) -> list[dict[str, Any]]:
    """The index rows of one file: one per image plane with a celestial WCS (headers only, no pixels).

    Parameters
    ----------
    path : pathlib.Path
        A FITS file (``.fits``, ``.fits.fz``, ``.fits.gz``).
    only_hdu : int or str, optional
        Only this HDU (index or name).
    band_from_name : str, optional
        The band of the file's 2-D images, from its name (a layout's rule), over the header keywords.

    Returns
    -------
    list of dict
        ``{"hdu", "plane", "band", "shape", "crval", "crpix", "cd", "tan", "header"}``; empty when the file
        holds no 2-D image or cube with a celestial WCS.
    """
    rows: list[dict[str, Any]] = []
    with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
        for k, hdu in enumerate(hdul):
            if only_hdu is not None and str(only_hdu) not in (str(k), hdu.name):
                continue
            if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
                continue
            header = hdu.header
            naxis = int(header.get("NAXIS", 0))
            if naxis not in (2, 3):
                continue
            shape = tuple(int(header[f"NAXIS{i}"]) for i in range(naxis, 0, -1))
            grid = _plain_tan(header, shape[-2:])
            n = 1 if naxis == 2 else shape[0]
            # EXTNAMEs are upper-cased by FITS convention: "G" names band "g"
            fallback = hdu.name.lower() if hdu.name not in ("PRIMARY", "", "COMPRESSED_IMAGE") \
                else path.name.split(".")[0]
            names = [band_from_name] if band_from_name and n == 1 else \
                band_names(header, n, fallback if n == 1 else "band")
            if grid is not None:
                rows.extend({"hdu": k, "plane": -1 if naxis == 2 else i, "band": b, **grid}
                            for i, b in enumerate(names))
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FITSFixedWarning)
                # the HDU list only for distortion lookup tables in other extensions (rare, and slow to pass)
                lookup = hdul if any(k in header for k in ("CPDIS1", "CPDIS2", "D2IMFILE", "D2IMDIS1")) else None
                wcs = WCS(header, lookup).celestial
            if not wcs.has_celestial or wcs.naxis != 2:
                continue
            grid = _grid_of(wcs, shape[-2:])
            rows.extend({"hdu": k, "plane": -1 if naxis == 2 else i, "band": b, **grid} for i, b in enumerate(names))
    return rows


# ----------------------------------------------------------------------------------- the index
class TileIndex:
    """Image planes grouped into tiles, with a KD-tree of the tile centres.

    Build with :meth:`TileIndex.update` (reads what changed since a saved index, saves it again), then
    :meth:`locate` positions.

    Attributes
    ----------
    files : numpy.ndarray of str
        The indexed files (usable ones and the ``bad`` ones).
    bad : dict of str to str
        Files that are unreadable or hold no image with a celestial WCS: ``{path: reason}``.
    """

    def __init__(self, files: Sequence[str], stats: np.ndarray, planes: dict[str, np.ndarray],
                 bad: dict[str, str], footprints: dict[str, np.ndarray] | None = None):
        self._saved_footprints = footprints
        self.files = np.asarray(files, dtype=str)
        self.stats = np.asarray(stats, np.int64).reshape(-1, 2)
        self.planes = planes
        self.bad = bad
        self._wcs: dict[int, WCS] = {}
        self._lock = threading.Lock()
        self._group()

    # ----------------------------------------------------------------- grouping into tiles
    def _group(self) -> None:
        p = self.planes
        n = len(p["file"])
        if not n:
            p["tile"] = np.zeros(0, np.int64)
        elif "tile" not in p or len(p["tile"]) != n:
            hashes = np.array([zlib.crc32(h.encode()) for h in p["header"]], float)
            key = np.column_stack([p["shape"], np.round(p["crval"], 8), np.round(p["crpix"], 4),
                                   np.round(p["cd"].reshape(n, 4) * 3600, 9), p["tan"], hashes])
            _, first, tile = np.unique(key, axis=0, return_index=True, return_inverse=True)
            order = np.argsort(first)  # tiles numbered in order of first appearance
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            p["tile"] = rank[tile.ravel()].astype(np.int64)
        tile = p["tile"]
        ntile = int(tile.max()) + 1 if n else 0
        first = np.full(ntile, n, np.int64)
        np.minimum.at(first, tile, np.arange(n))
        self.first = first  # a plane row of each tile: its grid
        names, at = np.unique(p["band"], return_index=True)
        bands = [str(b) for b in names[np.argsort(at)]]  # in order of first appearance
        self.bands = tuple(bands)
        band_id = np.searchsorted(np.array(sorted(bands)), p["band"])
        sorted_to_order = np.array([bands.index(b) for b in sorted(bands)], np.int64)
        col = sorted_to_order[band_id] if n else np.zeros(0, np.int64)
        table = np.full((ntile, len(bands)), -1, np.int64)
        dup = np.zeros((ntile, len(bands)), np.int64)
        np.add.at(dup, (tile, col), 1)
        if (dup > 1).any():
            t, c = np.argwhere(dup > 1)[0]
            where = sorted({str(self.files[f]) for f in p["file"][(tile == t) & (col == c)]})
            raise ValueError(f"band {bands[c]!r} appears twice on one pixel grid ({where}); name the bands with "
                             "BAND/FILTER keywords or pass hdu=")
        table[tile, col] = np.arange(n)
        self.table = table
        g = first
        self.shape = p["shape"][g].astype(np.int64)
        self.crval, self.crpix, self.cd, self.tan = p["crval"][g], p["crpix"][g], p["cd"][g], p["tan"][g]
        self._footprints()

    def _footprints(self) -> None:
        t = len(self.first)
        saved, self._saved_footprints = self._saved_footprints, None
        if saved is not None and all(len(saved.get(k, ())) == t for k in _FOOTPRINT_FIELDS):
            for k in _FOOTPRINT_FIELDS:
                setattr(self, k, saved[k])
            self._tree()
            return
        h, w = self.shape[:, 0].astype(float), self.shape[:, 1].astype(float)
        px = np.stack([np.full(t, -0.5), w - 0.5, w - 0.5, np.full(t, -0.5), (w - 1) / 2], axis=1)
        py = np.stack([np.full(t, -0.5), np.full(t, -0.5), h - 0.5, h - 0.5, (h - 1) / 2], axis=1)
        rep = {k: np.repeat(getattr(self, k), 5, axis=0) for k in ("crval", "crpix", "cd")}
        ra, dec = tan_pix2world(px.ravel(), py.ravel(), rep["crval"], rep["crpix"], rep["cd"])
        ra, dec = ra.reshape(t, 5), dec.reshape(t, 5)
        for i in np.flatnonzero(~self.tan):
            ra[i], dec[i] = self.wcs(i).all_pix2world(px[i], py[i], 0)
        #: ``(T, 4, 2)`` RA, Dec of each tile's pixel corners, then its centre
        self.corners = np.stack([ra[:, :4], dec[:, :4]], axis=-1)
        vec = _unit(ra, dec)
        self.centre = vec[:, 4]
        self.radius = np.linalg.norm(vec[:, :4] - vec[:, 4:5], axis=-1).max(axis=1) if t else np.zeros(0)
        self.scale = np.sqrt(np.abs(np.linalg.det(self.cd))) * 3600 if t else np.zeros(0)
        self._tree()

    def _tree(self) -> None:
        from scipy.spatial import cKDTree

        t = len(self.centre)
        self.tree = cKDTree(self.centre) if t else None
        self.rmax = float(self.radius.max()) * (1 + 1e-9) + 1e-12 if t else 0.0

    def __len__(self) -> int:
        return len(self.first)

    def wcs(self, tile: int) -> WCS:
        """The :class:`~astropy.wcs.WCS` of one tile (made once, on first use)."""
        with self._lock:
            wcs = self._wcs.get(tile)
            if wcs is None:
                text = str(self.planes["header"][self.first[tile]])
                if text:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", FITSFixedWarning)
                        wcs = WCS(fits.Header.fromstring(text), relax=True)
                else:
                    wcs = linear_tan(self.crval[tile], self.crpix[tile], self.cd[tile])
                self._wcs[tile] = wcs
            return wcs

    def plane(self, tile: int, band: str) -> tuple[str, int, int] | None:
        """``(file, hdu, plane)`` of ``band`` on ``tile`` (``plane`` -1 for a 2-D image); ``None`` if absent."""
        if band not in self.bands:
            return None
        row = self.table[tile, self.bands.index(band)]
        if row < 0:
            return None
        p = self.planes
        return str(self.files[p["file"][row]]), int(p["hdu"][row]), int(p["plane"][row])

    def tile_files(self, tile: int) -> list[str]:
        """The files holding ``tile``'s planes."""
        rows = self.table[tile][self.table[tile] >= 0]
        return list(dict.fromkeys(str(self.files[f]) for f in self.planes["file"][rows]))

    # --------------------------------------------------------------------------- lookup
    def locate(self, ra: np.ndarray, dec: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each position the tile that covers it best and the 0-based pixel there.

        Parameters
        ----------
        ra, dec : numpy.ndarray
            ``(n,)`` degrees.
        k : int
            Nearest tile centres tried per position first (positions with more candidates within the largest
            tile radius are looked up again with every candidate).

        Returns
        -------
        tile : numpy.ndarray of int
            ``(n,)``, -1 where no tile covers the position.
        xy : numpy.ndarray
            ``(n, 2)`` 0-based pixel position on ``tile``.
        score : numpy.ndarray
            ``(n,)`` distance in pixels from the nearest edge of the tile (larger is better covered).
        """
        n = len(ra)
        best, best_tile, best_xy = np.full(n, -np.inf), np.full(n, -1, np.int64), np.zeros((n, 2))
        if not len(self) or not n:
            return best_tile, best_xy, best
        v = _unit(ra, dec)
        ok = np.isfinite(v).all(axis=1)
        k = min(k, len(self))
        dist, idx = self.tree.query(np.where(ok[:, None], v, 0.0), k=k, distance_upper_bound=self.rmax)
        dist, idx = dist.reshape(n, k), idx.reshape(n, k)
        hit = np.isfinite(dist) & ok[:, None]
        pos, tiles = np.nonzero(hit)
        tiles = idx[pos, tiles]
        more = np.flatnonzero(hit.all(axis=1)) if k < len(self) else np.zeros(0, np.int64)
        if len(more):  # possibly more than k candidates: all of them
            lists = self.tree.query_ball_point(v[more], r=self.rmax)
            extra_pos = np.repeat(more, [len(x) for x in lists])
            extra = np.concatenate([np.asarray(x, np.int64) for x in lists])
            keep = ~np.isin(pos, more)
            pos, tiles = np.r_[pos[keep], extra_pos], np.r_[tiles[keep], extra]
        x, y = np.full(len(pos), np.nan), np.full(len(pos), np.nan)
        tan = self.tan[tiles]
        if tan.any():
            t = tiles[tan]
            x[tan], y[tan] = tan_world2pix(ra[pos[tan]], dec[pos[tan]], self.crval[t], self.crpix[t], self.cd[t])
        for t in np.unique(tiles[~tan]):
            sel = np.flatnonzero(tiles == t)
            x[sel], y[sel] = self.wcs(int(t)).all_world2pix(ra[pos[sel]], dec[pos[sel]], 0)
        h, w = self.shape[tiles, 0], self.shape[tiles, 1]
        score = np.minimum.reduce([x + 0.5, y + 0.5, w - 0.5 - x, h - 0.5 - y])
        score = np.where(np.isfinite(score), score, -np.inf)
        order = np.lexsort((-score, pos))  # per position, best first
        first = order[np.r_[True, pos[order][1:] != pos[order][:-1]]] if len(pos) else order
        p = pos[first]
        best[p], best_tile[p] = score[first], tiles[first]
        best_xy[p, 0], best_xy[p, 1] = x[first], y[first]
        best_tile[best <= 0] = -1
        return best_tile, best_xy, best

    # ------------------------------------------------------------------ build, update, save, load
    @classmethod
    def update(cls, files: Sequence[tuple[str, str | None]], cache: Path | None, *, only_hdu: Any = None,
               known: Callable[[list[str]], dict[str, list[dict[str, Any]]]] | None = None) -> TileIndex:
        """The index of ``files``, reading only the headers of files not in ``cache`` as they are now.

        Parameters
        ----------
        files : sequence of (str, str or None)
            Each file's path and the band its name gives (``None``: from its header).
        cache : pathlib.Path or None
            The index file: read if present and written back when anything changed; ``None``: no file.
        only_hdu : int or str, optional
            Only this HDU of each file (part of the cache's identity).
        known : callable, optional
            ``known(paths) -> {path: rows}``: the rows of some new files without opening them (a survey's
            bricks table); the others are read.

        Returns
        -------
        TileIndex
            ``stale`` (files read again), ``fresh`` (files taken from the cache) set on it.
        """
        paths = [f for f, _ in files]
        stats = _stats(paths)
        old = _load(cache, only_hdu) if cache is not None else None
        rows_of: dict[str, list[dict[str, Any]]] = {}
        bad: dict[str, str] = {}
        reuse = np.zeros(len(paths), bool)
        if old is not None:
            saved = old.files.tolist()
            if saved == paths:  # the same files in the same order: no lookups
                at = np.arange(len(paths), dtype=np.int64)
            else:
                where = {f: i for i, f in enumerate(saved)}
                at = np.array([where.get(f, -1) for f in paths], np.int64)
            seen = at >= 0
            reuse[seen] = (old.stats[at[seen]] == stats[seen]).all(axis=1)
            if old.bad:
                now = {f: i for i, f in enumerate(paths)}
                bad = {f: r for f, r in old.bad.items() if f in now and reuse[now[f]]}
        todo = [paths[i] for i in np.flatnonzero(~reuse)]
        if old is not None and not todo and len(paths) == len(old.files) and (at == np.arange(len(paths))).all():
            index = cls(old.files, old.stats, old.planes, old.bad, old.footprints)  # nothing changed: as saved
            index.stale, index.fresh = [], len(paths)
            if old.footprints is None and cache is not None:
                index.save(cache, only_hdu)  # an index from before the footprints were kept in it
            return index
        todo_set = set(todo)  # a set: 100 000 files against a list was 10^10 comparisons
        from_table = known(todo) if known is not None and todo else {}
        for f, band in files:
            if f in from_table or f not in todo_set or f in rows_of:
                continue
            try:
                rows = read_planes(Path(f), only_hdu, band)
            except Exception as exc:  # an unreadable file is skipped and listed, not fatal
                bad[f] = f"unreadable: {type(exc).__name__}: {exc}"
                continue
            if not rows:
                bad[f] = "no 2-D image or cube with a celestial WCS"
            rows_of[f] = rows
        rows_of.update(from_table)
        parts = [old.subset(paths, reuse)] if old is not None and reuse.any() else []
        at_path = {f: i for i, f in enumerate(paths)}
        new = [(at_path[f], r) for f in todo for r in rows_of.get(f, [])]
        parts.append(_rows_to_arrays(new))
        planes = {k: np.concatenate([p[k] for p in parts]) for k in _PLANE_FIELDS}
        if old is not None and not todo and len(paths) == len(old.files):
            planes["tile"] = parts[0]["tile"]
        index = cls(paths, stats, planes, bad)
        index.stale, index.fresh = todo, int(reuse.sum())
        if cache is not None and (old is None or todo or len(paths) != len(old.files)):
            index.save(cache, only_hdu)
        return index

    def subset(self: Any, paths: list[str], reuse: np.ndarray) -> dict[str, np.ndarray]:
        """The plane rows of the files ``paths[reuse]``, renumbered to positions in ``paths``."""
        new_id = np.full(len(self.files), -1, np.int64)
        where = {f: i for i, f in enumerate(self.files.tolist())}
        for i in np.flatnonzero(reuse):
            new_id[where[paths[i]]] = i
        keep = new_id[self.planes["file"]] >= 0
        out = {k: self.planes[k][keep] for k in (*_PLANE_FIELDS, "tile")}
        out["file"] = new_id[out["file"]]
        return out

    def save(self, path: Path, only_hdu: Any = None) -> None:
        """Write the index to ``path`` (``.npz``, atomically; a folder that cannot be written is skipped)."""
        bad = sorted(self.bad.items())
        arrays = {**{f"plane_{k}": self.planes[k] for k in (*_PLANE_FIELDS, "tile")},
                  "files": self.files, "stats": self.stats, "version": np.array(INDEX_VERSION),
                  "only_hdu": np.array("" if only_hdu is None else str(only_hdu)),
                  "bad_files": np.array([b[0] for b in bad], dtype=str),
                  "bad_reasons": np.array([b[1] for b in bad], dtype=str),
                  # the footprints, so that a start from the saved index computes none of them
                  **{f"tile_{k}": getattr(self, k) for k in _FOOTPRINT_FIELDS}}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        except OSError as exc:
            warnings.warn(f"could not write the tile index {str(path)!r} ({exc}); it is rebuilt on every start",
                          stacklevel=3)


def _rows_to_arrays(rows: list[tuple[int, dict[str, Any]]]) -> dict[str, np.ndarray]:
    n = len(rows)
    return {"file": np.array([f for f, _ in rows], np.int64).reshape(n),
            "hdu": np.array([r["hdu"] for _, r in rows], np.int64).reshape(n),
            "plane": np.array([r["plane"] for _, r in rows], np.int64).reshape(n),
            "band": np.array([r["band"] for _, r in rows], dtype=str).reshape(n),
            "shape": np.array([r["shape"] for _, r in rows], np.int64).reshape(n, 2),
            "crval": np.array([r["crval"] for _, r in rows], float).reshape(n, 2),
            "crpix": np.array([r["crpix"] for _, r in rows], float).reshape(n, 2),
            "cd": np.array([r["cd"] for _, r in rows], float).reshape(n, 2, 2),
            "tan": np.array([r["tan"] for _, r in rows], bool).reshape(n),
            "header": np.array([r["header"] for _, r in rows], dtype=str).reshape(n)}


def _stat_some(paths: list[str]) -> list[tuple[int, int]]:
    out = []
    for f in paths:
        st = os.stat(f)
        out.append((st.st_size, st.st_mtime_ns))
    return out


def _stats(paths: list[str]) -> np.ndarray:
    """``(N, 2)`` size and modification time (ns) of each file (collected in a list: filling the array row by
    row cost as much as the stat calls; threads were 5x slower, the GIL)."""
    return np.array(_stat_some(paths), np.int64).reshape(-1, 2)


class _Saved:
    """A saved index as read (files, stats, plane rows, bad files), not yet grouped into tiles: the index is
    built once, from it and the files that changed."""

    def __init__(self, files: np.ndarray, stats: np.ndarray, planes: dict[str, np.ndarray], bad: dict[str, str],
                 footprints: dict[str, np.ndarray] | None = None):
        self.files, self.stats, self.planes, self.bad = np.asarray(files, dtype=str), stats, planes, bad
        self.footprints = footprints

    subset = TileIndex.subset


def _load(path: Path, only_hdu: Any) -> _Saved | None:
    """A saved index, or ``None`` when there is none, it cannot be read, or it was made differently."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != INDEX_VERSION or str(z["only_hdu"]) != ("" if only_hdu is None else
                                                                            str(only_hdu)):
                return None
            planes = {k: z[f"plane_{k}"] for k in (*_PLANE_FIELDS, "tile")}
            bad = dict(zip(z["bad_files"].tolist(), z["bad_reasons"].tolist(), strict=True))
            saved = {k: z[f"tile_{k}"] for k in _FOOTPRINT_FIELDS if f"tile_{k}" in z.files}
            return _Saved(z["files"], z["stats"], planes, bad, saved if len(saved) == len(_FOOTPRINT_FIELDS) else None)
    except Exception as exc:  # a damaged index is rebuilt
        warnings.warn(f"ignoring the unreadable tile index {str(path)!r} ({exc}); rebuilding it", stacklevel=3)
        return None
