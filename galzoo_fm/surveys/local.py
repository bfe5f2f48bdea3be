"""Cutouts from the user's own FITS images or mosaics with a celestial WCS.

Files may be single images, multi-extension files (one band per HDU) or cubes ``(nband, H, W)``; images
with the same pixel grid are one *tile* with several bands (so ``field_g.fits`` + ``field_r.fits`` work
as well as one cube). For a batch of positions each tile converts all positions with one vectorised
``all_world2pix`` call; every position is cut from the tile that covers it best with plain array
slicing — no :class:`~astropy.nddata.Cutout2D` per object.
"""

from __future__ import annotations

import glob
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

from galzoo_fm._utils.settings import Setting
from galzoo_fm.surveys.base import Cutout, Status, Survey, classify_coverage, parse_bands
from galzoo_fm.surveys.options import DEFAULT, band_list, text

__all__ = ["LocalSurvey"]


@dataclass
class _Tile:
    wcs: WCS
    shape: tuple[int, int]
    planes: dict[str, tuple[np.ndarray, int | None]] = field(default_factory=dict)  # band -> (data, plane)
    files: list[str] = field(default_factory=list)


def _expand(path: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [path] if isinstance(path, str | Path) else list(path)
    files: list[Path] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            p = Path(part).expanduser()
            if p.is_dir():
                found = sorted(q for q in p.iterdir() if q.suffix.lower() in {".fits", ".fit", ".fz"}
                               or q.name.lower().endswith((".fits.gz", ".fit.gz")))
            elif any(c in part for c in "*?["):
                found = [Path(q) for q in sorted(glob.glob(str(p)))]
            else:
                if not p.is_file():
                    raise ValueError(f"local survey file {part!r} does not exist")
                found = [p]
            if not found:
                raise ValueError(f"local survey path {part!r} matches no FITS files")
            files.extend(found)
    if not files:
        raise ValueError("the local survey needs path=<FITS file, folder, glob or comma-separated list>")
    return files


def _band_names(header: fits.Header, n: int, fallback: str) -> list[str]:
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


def _grid_key(wcs: WCS, shape: tuple[int, int]) -> tuple:
    w = wcs.wcs
    return (shape, tuple(np.round(w.crval, 8)), tuple(np.round(w.crpix, 4)),
            tuple(np.round(wcs.pixel_scale_matrix.ravel(), 12)), tuple(w.ctype))


class LocalSurvey(Survey):
    """The user's FITS images as a survey.

    Parameters
    ----------
    {options}

    Raises
    ------
    ValueError
        A file has no image with a celestial WCS, or files have different pixel scales.
    """

    name: ClassVar[str] = "local"
    description: ClassVar[str] = "your own FITS images / mosaics with WCS (single, multi-extension, cubes)"
    bands_note: ClassVar[str] = "from BAND/FILTER/EXTNAME keywords of your files"
    batch_size: ClassVar[int] = 256
    options: ClassVar[dict[str, Setting]] = {
        "path": text(None, "A FITS file, a folder of FITS files, a glob, or a comma-separated list of these "
                     "(required).", type_doc="str, path or sequence"),
        "bands": band_list(None, "Output band order; default the bands of the first file. Band names come from "
                           "``BAND<i>`` / ``BANDS`` (cubes), ``BAND`` or ``FILTER`` keywords, else ``EXTNAME`` "
                           "(lower-cased), else the file name.", parse=False),
        "hdu": text(None, "Only use this HDU of each file (its index or name).", type_doc="int or str"),
    }

    def __init__(self, path: Any = DEFAULT, bands: Any = DEFAULT, hdu: Any = DEFAULT, **_ignored: Any):
        o = self.resolve_options(path=path, bands=bands, hdu=hdu)
        if o["path"] is None:
            raise ValueError("the local survey needs path=<FITS file, folder, glob or comma-separated list>")
        unknown = sorted(set(_ignored) - {"cache_dir"})  # the store's cache, which fetch passes to every survey
        if unknown:
            raise TypeError(f"unknown local survey options: {', '.join(unknown)} "
                            f"(known: {', '.join(self.option_settings())})")
        path, bands, hdu = o["path"], o["bands"], o["hdu"]
        self._files = _expand(path)
        self._open: list[fits.HDUList] = []
        self._lock = threading.Lock()
        self.tiles = self._load(hdu)
        found: list[str] = []
        for tile in self.tiles:
            found.extend(b for b in tile.planes if b not in found)
        self.bands = parse_bands(bands, found, what="local band") or tuple(self.tiles[0].planes)
        self.all_bands = tuple(found)
        scales = {round(float(np.mean(proj_plane_pixel_scales(t.wcs))) * 3600, 4) for t in self.tiles}
        if len(scales) > 1:
            raise ValueError(f"local files have different pixel scales {sorted(scales)} arcsec/px; "
                             "resample them to one scale first")
        self.pixscale = scales.pop()
        self.layer = None

    def _load(self, only_hdu: Any) -> list[_Tile]:
        tiles: dict[tuple, _Tile] = {}
        import warnings

        for path in self._files:
            try:
                hdul = fits.open(path, memmap=True)
            except Exception as exc:
                raise ValueError(f"cannot open local survey file {str(path)!r}: {exc}") from exc
            self._open.append(hdul)
            used = 0
            for k, hdu in enumerate(hdul):
                if only_hdu is not None and str(only_hdu) not in (str(k), hdu.name):
                    continue
                if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU) or hdu.data is None:
                    continue
                data = hdu.data
                if data.ndim not in (2, 3):
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FITSFixedWarning)
                    wcs = WCS(hdu.header, hdul).celestial
                if not wcs.has_celestial or wcs.naxis != 2:
                    continue
                shape = tuple(data.shape[-2:])
                n = 1 if data.ndim == 2 else data.shape[0]
                # EXTNAMEs are upper-cased by FITS convention: "G" names band "g"
                fallback = hdu.name.lower() if hdu.name not in ("PRIMARY", "") else path.name.split(".")[0]
                names = _band_names(hdu.header, n, fallback if n == 1 else "band")
                tile = tiles.setdefault(_grid_key(wcs, shape), _Tile(wcs, shape))
                for i, band in enumerate(names):
                    if band in tile.planes:
                        raise ValueError(f"band {band!r} appears twice on one pixel grid ({[*tile.files, str(path)]}); "
                                         "name the bands with BAND/FILTER keywords or pass hdu=")
                    tile.planes[band] = (data, None if data.ndim == 2 else i)
                tile.files.append(str(path))
                used += 1
            if not used:
                raise ValueError(f"local survey file {str(path)!r} has no 2-D image or cube with a celestial WCS")
        return list(tiles.values())

    def fetch_batch(self, ra: np.ndarray, dec: np.ndarray, size: int) -> list[Cutout]:
        """Cut ``(n,)`` positions: one vectorised pixel conversion per tile, then slicing."""
        size = self.check_size(size)
        ra, dec = np.asarray(ra, float), np.asarray(dec, float)
        n = len(ra)
        best = np.full(n, -np.inf)
        best_tile = np.full(n, -1)
        best_xy = np.zeros((n, 2))
        for t, tile in enumerate(self.tiles):
            x, y = tile.wcs.all_world2pix(ra, dec, 0)
            h, w = tile.shape
            # signed distance of the centre to the nearest edge: larger is better covered
            score = np.minimum.reduce([x + 0.5, y + 0.5, w - 0.5 - x, h - 0.5 - y])
            score = np.where(np.isfinite(score), score, -np.inf)
            better = score > best
            best[better], best_tile[better] = score[better], t
            best_xy[better] = np.c_[x, y][better]
        out = []
        for i in range(n):
            if best[i] <= 0:
                out.append(Cutout(Status.OFF_FOOTPRINT, reason="position is outside every local image"))
                continue
            out.append(self._cut(self.tiles[best_tile[i]], best_xy[i, 0], best_xy[i, 1], size))
        return out

    def fetch(self, ra: float, dec: float, size: int) -> Cutout:
        return self.fetch_batch(np.array([ra]), np.array([dec]), size)[0]

    def _cut(self, tile: _Tile, x: float, y: float, size: int) -> Cutout:
        h, w = tile.shape
        # the convention of astropy's Cutout2D / overlap_slices, so both give identical pixels
        x0 = int(np.ceil(x - size / 2))
        y0 = int(np.ceil(y - size / 2))
        xs, ys = slice(max(x0, 0), min(x0 + size, w)), slice(max(y0, 0), min(y0 + size, h))
        dst = (slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0))
        data = np.zeros((len(self.bands), size, size), np.float32)
        missing = []
        dtypes = [data.dtype] * len(self.bands)
        for c, band in enumerate(self.bands):
            plane = tile.planes.get(band)
            if plane is None:
                missing.append(band)
                continue
            arr, k = plane
            dtypes[c] = arr.dtype  # an 8-bit image (from a JPEG or PNG) has legitimate zeros
            data[c][dst] = arr[ys, xs] if k is None else arr[k, ys, xs]
        wcs = tile.wcs.deepcopy()
        wcs.wcs.crpix = wcs.wcs.crpix - np.array([x0, y0])
        if wcs.sip is not None:
            wcs.sip = type(wcs.sip)(wcs.sip.a, wcs.sip.b, wcs.sip.ap, wcs.sip.bp, wcs.wcs.crpix)
        status, reason = classify_coverage(data, self.bands, dtype=dtypes)
        covered = (xs.stop - xs.start) * (ys.stop - ys.start) / size**2
        if status is not Status.OFF_FOOTPRINT and covered < 1:
            status, reason = Status.PARTIAL, f"cutout runs off the image edge ({covered:.0%} covered)"
        if missing:
            status = Status.PARTIAL if status is not Status.OFF_FOOTPRINT else status
            reason = "; ".join(filter(None, [reason, f"bands not in {tile.files[0]}: {', '.join(missing)}"]))
        if status is Status.OFF_FOOTPRINT:
            return Cutout(status, reason=reason)
        return Cutout(status, data, wcs, reason)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "files": [str(p) for p in self._files]}

    def close(self) -> None:
        for hdul in self._open:
            hdul.close()
        self._open = []
