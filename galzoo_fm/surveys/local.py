"""Cutouts from the user's own FITS images or mosaics with a celestial WCS, up to survey scale.

Files may be single images, multi-extension files (one band per HDU), cubes ``(nband, H, W)`` or
tile-compressed (fpack ``.fits.fz``) images; images with the same pixel grid are one *tile* with several
bands (so ``field_g.fits`` + ``field_r.fits`` work as well as one cube). The footprints come from a tile
index (:mod:`galzoo_fm.surveys.tiles`) read from the headers once and cached beside the data; each position
is converted only on the few tiles near it and cut from the one that covers it best with plain array
slicing, the pixel convention of :class:`~astropy.nddata.Cutout2D`. Files open lazily, at most ``max_open``
at a time (:mod:`galzoo_fm.surveys.handles`), so each process (each ``torchrun`` rank) opens only the files
its rows need. Where files sit and what their names say is the ``layout`` (:mod:`galzoo_fm.surveys.layouts`).
"""

from __future__ import annotations

import itertools
import os
import threading
import warnings
import zlib
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from galzoo_fm._utils.settings import Setting
from galzoo_fm.surveys.base import Cutout, Status, Survey, classify_coverage, parse_bands
from galzoo_fm.surveys.grid import linear_tan
from galzoo_fm.surveys.handles import OpenFiles
from galzoo_fm.surveys.layouts import bricks_rows, bricks_table, list_files
from galzoo_fm.surveys.options import DEFAULT, band_list, integer, text
from galzoo_fm.surveys.tiles import TileIndex, read_planes

__all__ = ["LocalSurvey", "LocalTile"]

_INDEX_NAME = ".galzoo-fm-tiles-{key}.npz"


@dataclass(frozen=True)
class LocalTile:
    """One tile of a local survey: the files of its planes, its bands, its ``(H, W)`` and its corners."""

    files: list[str]
    bands: tuple[str, ...]
    shape: tuple[int, int]
    corners: np.ndarray


def _layout_rule(value: Any, key: str) -> str:
    value = str(value).strip()
    if value not in ("files", "legacy") and "{band}" not in value:
        raise ValueError(f"option {key}={value!r} must be 'files', 'legacy' or a pattern with a {{band}} field")
    return value


class LocalSurvey(Survey):
    """The user's FITS images as a survey.

    Parameters
    ----------
    {options}

    Raises
    ------
    ValueError
        No file has an image with a celestial WCS, files have different pixel scales, or a band appears twice
        on one pixel grid. Unreadable or non-image files among others are skipped with a warning that lists
        them (the ``skipped`` attribute: file -> reason).
    """

    name: ClassVar[str] = "local"
    description: ClassVar[str] = "your own FITS images / mosaics with WCS (single, multi-extension, cubes)"
    bands_note: ClassVar[str] = "from BAND/FILTER/EXTNAME keywords of your files"
    batch_size: ClassVar[int] = 256
    options: ClassVar[dict[str, Setting]] = {
        "path": text(None, "A FITS file, a folder of FITS files, a glob, or a comma-separated list of these "
                     "(required); with a ``layout`` other than ``files``, the folder the layout starts from.",
                     type_doc="str, path or sequence"),
        "bands": band_list(None, "Output band order; default the bands of the first file. Band names come from "
                           "``BAND<i>`` / ``BANDS`` (cubes), ``BAND`` or ``FILTER`` keywords, else ``EXTNAME`` "
                           "(lower-cased), else the file name.", parse=False),
        "hdu": text(None, "Only use this HDU of each file (its index or name).", type_doc="int or str"),
        "layout": text("files", "``files`` (the ``path`` as given, bands from headers), ``legacy`` (a Legacy "
                       "Surveys tree ``coadd/<AAA>/<brick>/legacysurvey-<brick>-image-<band>.fits.fz`` with "
                       "its ``survey-bricks.fits.gz`` when present), or a pattern under ``path`` with a "
                       "``{band}`` field (``*/*_{band}.fits``): the band from the file name.", rule=_layout_rule),
        "index": text("auto", "The tile index file (``.npz``): ``auto`` (beside the data, else in ``cache_dir``), "
                      "a path, or ``none`` (built in memory on every start)."),
        "max_open": integer(64, "How many files stay open at once (least recently used close first)."),
    }

    def __init__(self, path: Any = DEFAULT, bands: Any = DEFAULT, hdu: Any = DEFAULT, layout: Any = DEFAULT,
                 index: Any = DEFAULT, max_open: Any = DEFAULT, **_ignored: Any):
        o = self.resolve_options(path=path, bands=bands, hdu=hdu, layout=layout, index=index, max_open=max_open)
        if o["path"] is None:
            raise ValueError("the local survey needs path=<FITS file, folder, glob or comma-separated list>")
        unknown = sorted(set(_ignored) - {"cache_dir"})  # the store's cache, which fetch passes to every survey
        if unknown:
            raise TypeError(f"unknown local survey options: {', '.join(unknown)} "
                            f"(known: {', '.join(self.option_settings())})")
        self.layout, hdu = o["layout"], o["hdu"]
        files, root = list_files(o["path"], self.layout)
        self._files = [f for f, _ in files]
        self.index_path = self._index_path(o["index"], root, files, f"{self.layout}\n{hdu}",
                                           _ignored.get("cache_dir"))
        table = bricks_table(root) if self.layout == "legacy" and root is not None else None
        known = bricks_rows(table, read_planes, hdu) if table is not None else None
        self.index = TileIndex.update(files, self.index_path, only_hdu=hdu, known=known)
        self.skipped = dict(self.index.bad)
        self._check_files()
        self.all_bands = self.index.bands
        first = self.index.table[0]
        self.bands = parse_bands(o["bands"], self.all_bands, what="local band") or tuple(
            self.all_bands[c] for c in sorted(np.flatnonzero(first >= 0), key=lambda c: first[c]))
        self.pixscale = float(np.round(self.index.scale[0], 4))
        self.layer = None
        self._handles = OpenFiles(o["max_open"])
        self._checked: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _index_path(value: str, root: Path | None, files: Sequence[tuple[str, str | None]], spec: str,
                    cache_dir: Any) -> Path | None:
        if value.lower() in ("none", "off", "no", ""):
            return None
        if value.lower() != "auto":
            return Path(value).expanduser()
        if root is None:  # a list of files or globs: one index per list
            spec = "\n".join([spec, *(os.path.abspath(f) for f, _ in files)])
        key = f"{zlib.crc32(spec.encode()):08x}"
        if root is not None:
            return root / _INDEX_NAME.format(key=key)
        if cache_dir:
            return Path(str(cache_dir)).expanduser() / _INDEX_NAME.format(key=key).lstrip(".")
        return Path(files[0][0]).parent / _INDEX_NAME.format(key=key)

    def _check_files(self) -> None:
        index, bad = self.index, self.skipped
        if not len(index):
            listed = "; ".join(f"{f}: {r}" for f, r in list(bad.items())[:5])
            if len(self._files) == 1:
                raise ValueError(f"local survey file {listed}")
            raise ValueError(f"none of the {len(self._files)} local survey files is usable ({listed}"
                             f"{' ...' if len(bad) > 5 else ''})")
        if bad:
            listed = ", ".join(f"{f} ({r})" for f, r in list(bad.items())[:10])
            warnings.warn(f"skipped {len(bad)} of {len(self._files)} local survey files: {listed}"
                          f"{f' and {len(bad) - 10} more (see .skipped)' if len(bad) > 10 else ''}", stacklevel=3)
        scales = np.round(index.scale, 4)
        values = np.unique(scales)
        if len(values) > 1:
            groups = []
            for s in values:
                tiles = np.flatnonzero(scales == s)
                names = [index.tile_files(int(t))[0] for t in tiles[:3]]
                groups.append(f"{s:g}\"/px: {len(tiles)} tiles ({', '.join(names)}{', ...' if len(tiles) > 3 else ''})")
            raise ValueError("local files have different pixel scales; resample them to one scale or select one "
                             "with path=: " + "; ".join(groups))

    @property
    def tiles(self) -> list[LocalTile]:
        """The tiles (made on each access: with a large survey, prefer the ``index`` attribute, a ``TileIndex``)."""
        out = []
        for t in range(len(self.index)):
            row = self.index.table[t]
            out.append(LocalTile(self.index.tile_files(t), tuple(b for b, r in zip(self.index.bands, row,
                                                                                       strict=True) if r >= 0),
                                 tuple(int(v) for v in self.index.shape[t]), self.index.corners[t]))
        return out

    def fetch_batch(self, ra: np.ndarray, dec: np.ndarray, size: int) -> list[Cutout]:
        """Cut ``(n,)`` positions: a tile lookup, then slicing from each tile's files in turn."""
        size = self.check_size(size)
        ra, dec = np.asarray(ra, float), np.asarray(dec, float)
        tile, xy, _ = self.index.locate(ra, dec)
        out: list[Cutout | None] = [None] * len(ra)
        off = Cutout(Status.OFF_FOOTPRINT, reason="position is outside every local image")
        order = np.argsort(tile, kind="stable")
        bounds = np.flatnonzero(np.r_[True, tile[order][1:] != tile[order][:-1], True]) if len(ra) else [0]
        for a, b in itertools.pairwise(bounds):
            rows, t = order[a:b], int(tile[order[a]])
            if t < 0:
                for i in rows:
                    out[i] = off
                continue
            for i, cut in zip(rows, self._cut_tile(t, xy[rows], size), strict=True):
                out[i] = cut
        return out  # type: ignore[return-value]

    def fetch(self, ra: float, dec: float, size: int) -> Cutout:
        return self.fetch_batch(np.array([ra]), np.array([dec]), size)[0]

    def _cut_tile(self, t: int, xy: np.ndarray, size: int) -> list[Cutout]:
        planes = [self.index.plane(t, b) for b in self.bands]
        with ExitStack() as stack:
            entries = {}
            try:
                for p in planes:
                    if p is not None and p[0] not in entries:
                        entries[p[0]] = stack.enter_context(self._handles.use(p[0]))
                        self._check_grid(t, p, entries[p[0]])
            except (OSError, ValueError) as exc:
                return [Cutout.failed(f"cannot read local file: {exc}")] * len(xy)
            return [self._cut(t, planes, entries, x, y, size) for x, y in xy]

    def _check_grid(self, t: int, plane: tuple[str, int, int], entry: Any) -> None:
        """Once per file: its header still has the indexed grid (a file changed since the start fails)."""
        key = plane[:2]
        if key in self._checked or not self.index.tan[t]:
            return
        h = entry.header(plane[1])
        if not str(h.get("CTYPE1", "")).startswith("RA"):
            return
        crval = np.array([h.get("CRVAL1", np.nan), h.get("CRVAL2", np.nan)], float)
        shape = (h.get("NAXIS2"), h.get("NAXIS1"))
        if np.abs(crval - self.index.crval[t]).max() > 1e-6 or shape != tuple(self.index.shape[t]):
            raise ValueError(f"{plane[0]} HDU {plane[1]} is not on the grid of the tile index "
                             f"{self.index_path}; the file changed since the start (a new start re-indexes it)")
        with self._lock:
            self._checked.add(key)

    def _cut(self, t: int, planes: list, entries: dict, x: float, y: float, size: int) -> Cutout:
        h, w = (int(v) for v in self.index.shape[t])
        # the convention of astropy's Cutout2D / overlap_slices, so both give identical pixels
        x0 = int(np.ceil(x - size / 2))
        y0 = int(np.ceil(y - size / 2))
        xs, ys = slice(max(x0, 0), min(x0 + size, w)), slice(max(y0, 0), min(y0 + size, h))
        dst = (slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0))
        data = np.zeros((len(self.bands), size, size), np.float32)
        missing = []
        dtypes = [data.dtype] * len(self.bands)
        for c, (band, p) in enumerate(zip(self.bands, planes, strict=True)):
            if p is None:
                missing.append(band)
                continue
            arr = entries[p[0]].read(p[1], p[2], ys, xs)
            dtypes[c] = arr.dtype  # an 8-bit image (from a JPEG or PNG) has legitimate zeros
            data[c][dst] = arr
        if self.index.tan[t]:
            wcs = linear_tan(self.index.crval[t], self.index.crpix[t] - [x0, y0], self.index.cd[t])
        else:
            wcs = self.index.wcs(t).deepcopy()
            wcs.wcs.crpix = wcs.wcs.crpix - np.array([x0, y0])
            if wcs.sip is not None:
                wcs.sip = type(wcs.sip)(wcs.sip.a, wcs.sip.b, wcs.sip.ap, wcs.sip.bp, wcs.wcs.crpix)
        status, reason = classify_coverage(data, self.bands, dtype=dtypes)
        covered = (xs.stop - xs.start) * (ys.stop - ys.start) / size**2
        if status is not Status.OFF_FOOTPRINT and covered < 1:
            status, reason = Status.PARTIAL, f"cutout runs off the image edge ({covered:.0%} covered)"
        if missing:
            status = Status.PARTIAL if status is not Status.OFF_FOOTPRINT else status
            first = self.index.tile_files(t)[0]
            reason = "; ".join(filter(None, [reason, f"bands not in {first}: {', '.join(missing)}"]))
        if status is Status.OFF_FOOTPRINT:
            return Cutout(status, reason=reason)
        return Cutout(status, data, wcs, reason)

    @property
    def open_files(self) -> int:
        """How many files are open now (at most ``max_open`` between reads)."""
        return len(self._handles)

    @property
    def files_opened(self) -> int:
        """How many times a file was opened for pixels so far."""
        return self._handles.opened

    def provenance(self) -> dict[str, Any]:
        files = self._files if len(self._files) <= 1000 else {"count": len(self._files), "first": self._files[0]}
        return {**super().provenance(), "files": files, "layout": self.layout}

    def close(self) -> None:
        self._handles.close()
