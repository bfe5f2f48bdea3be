"""Where a local survey's files are and what their names say: the ``layout`` option of the local survey.

* ``"files"`` (default): ``path`` is a FITS file, a folder of FITS files, a glob, or a comma-separated list of
  these; bands come from the headers.
* ``"legacy"``: ``path`` is the top of a Legacy Surveys tree,
  ``coadd/<AAA>/<brick>/legacysurvey-<brick>-image-<band>.fits.fz`` (``.fits`` and ``.fits.gz`` too); the band
  comes from the file name. With the survey's bricks table beside ``coadd/`` (``survey-bricks.fits.gz``:
  ``BRICKNAME``, ``RA``, ``DEC``, ``RA1``, ``RA2``, ``DEC1``, ``DEC2``) a brick's footprint is its centre from the
  table on the pixel grid of one opened file, so indexing a new brick opens no file.
* A pattern relative to ``path`` with a ``{band}`` field, e.g. ``"*/*_{band}.fits"`` or
  ``"tiles/**/{band}/*.fits"``: the files it matches, the band from the name.
"""

from __future__ import annotations

import glob
import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LEGACY_PATTERN", "bricks_rows", "list_files", "pattern_regex"]

LEGACY_PATTERN = "coadd/*/*/legacysurvey-*-image-{band}.fits*"
_FITS = (".fits", ".fit", ".fz", ".fits.gz", ".fit.gz")
_LEGACY_NAME = re.compile(r"legacysurvey-(?P<brick>[^/]+)-image-(?P<band>[^./]+)\.fits(\.fz|\.gz)?$")


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression of a layout pattern (``*``, ``?``, ``**`` and one ``{band}`` field).

    Raises
    ------
    ValueError
        The pattern has no ``{band}`` field, or more than one.
    """
    if pattern.count("{band}") != 1:
        raise ValueError(f"layout pattern {pattern!r} needs exactly one {{band}} field")
    out = ""
    for part in re.split(r"(\{band\}|\*\*/|\*\*|\*|\?)", pattern):
        out += {"{band}": r"(?P<band>[^/]+?)", "**/": r"(?:.*/)?", "**": r".*", "*": r"[^/]*",
                "?": r"[^/]"}.get(part, re.escape(part))
    return re.compile(out + "$")


def _expand(path: Any) -> list[str]:
    items = [path] if isinstance(path, str | Path) else list(path)
    files: list[str] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            p = Path(part).expanduser()
            if p.is_dir():
                with os.scandir(p) as it:
                    found = sorted(e.path for e in it if e.name.lower().endswith(_FITS) and e.is_file())
            elif any(c in part for c in "*?["):
                found = sorted(glob.glob(str(p)))
            else:
                if not p.is_file():
                    raise ValueError(f"local survey file {part!r} does not exist")
                found = [str(p)]
            if not found:
                raise ValueError(f"local survey path {part!r} matches no FITS files")
            files.extend(found)
    if not files:
        raise ValueError("the local survey needs path=<FITS file, folder, glob or comma-separated list>")
    return files


def list_files(path: Any, layout: str) -> tuple[list[tuple[str, str | None]], Path | None]:
    """The files of a layout with the band each name gives, and the folder the layout's paths start from.

    Parameters
    ----------
    path : str, path or sequence
        The survey's ``path`` option.
    layout : str
        ``"files"``, ``"legacy"`` or a pattern with a ``{band}`` field.

    Returns
    -------
    files : list of (str, str or None)
        Paths (sorted) and their bands (``None``: from the header).
    root : pathlib.Path or None
        The folder for a layout on one folder (``None`` for a list of files or globs).

    Raises
    ------
    ValueError
        A missing path, no matching files, a bad pattern.
    """
    if layout == "files":
        files = _expand(path)
        single = Path(str(path)).expanduser() if isinstance(path, str | Path) and "," not in str(path) else None
        return [(f, None) for f in files], single if single is not None and single.is_dir() else None
    pattern = LEGACY_PATTERN if layout == "legacy" else layout
    regex = pattern_regex(pattern)
    if not isinstance(path, str | Path) or not Path(str(path)).expanduser().is_dir():
        raise ValueError(f"layout={layout!r} needs path=<the folder the layout starts from>, got {path!r}")
    root = Path(str(path)).expanduser()
    found = sorted(glob.glob(str(root / pattern.replace("{band}", "*")), recursive="**" in pattern))
    out = []
    for f in found:
        rel = Path(f).relative_to(root).as_posix()
        m = regex.match(rel)
        if m and f.lower().endswith(_FITS):
            out.append((f, m.group("band")))
    if not out:
        raise ValueError(f"no files under {str(root)!r} match the layout {pattern!r}")
    return out, root


def bricks_table(root: Path) -> Path | None:
    """The Legacy Surveys bricks table under ``root``, if there is one."""
    for name in ("survey-bricks.fits.gz", "survey-bricks.fits"):
        if (root / name).is_file():
            return root / name
    return None


def bricks_rows(table: Path, read_planes: Callable[..., list[dict[str, Any]]], only_hdu: Any = None
                ) -> Callable[[list[str]], dict[str, list[dict[str, Any]]]]:
    """A ``known`` callback for :meth:`TileIndex.update <galzoo_fm.surveys.tiles.TileIndex.update>`: index rows of
    Legacy Surveys brick images from the bricks table, with the pixel grid of one opened file.

    The grid (size, reference pixel, CD matrix, HDU) of the first file is used for every brick, centred on the
    brick's ``RA``, ``DEC``; it is used only when that file's own centre matches its brick's to 1e-6 deg and its
    grid is a plain TAN. Files whose brick is not in the table are left to be opened.
    """
    def known(paths: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        named = [(p, _LEGACY_NAME.search(Path(p).name)) for p in paths]
        named = [(p, m) for p, m in named if m]
        if not named:
            return {}
        from astropy.table import Table

        t = Table.read(table, hdu=1)
        cols = {c.upper(): c for c in t.colnames}
        if not {"BRICKNAME", "RA", "DEC"} <= set(cols):
            warnings.warn(f"{str(table)!r} has no BRICKNAME, RA, DEC columns; opening the brick files", stacklevel=4)
            return {}
        names = np.char.strip(np.asarray(t[cols["BRICKNAME"]]).astype(str))
        at = {n: i for i, n in enumerate(names)}
        ra, dec = np.asarray(t[cols["RA"]], float), np.asarray(t[cols["DEC"]], float)
        for p, m in named:  # the template: the first readable file with its brick in the table
            if m["brick"] not in at:
                continue
            try:
                rows = read_planes(Path(p), only_hdu, m["band"])
            except Exception:
                continue
            if len(rows) != 1 or not rows[0]["tan"]:
                return {}
            i = at[m["brick"]]
            if np.abs(rows[0]["crval"] - [ra[i], dec[i]]).max() > 1e-6:
                warnings.warn(f"the grid of {p!r} is not centred on its brick in {str(table)!r}; opening every "
                              "brick file to index it", stacklevel=4)
                return {}
            template = rows[0]
            break
        else:
            return {}
        out = {}
        for p, m in named:
            i = at.get(m["brick"])
            if i is not None:
                out[p] = [{**template, "band": m["band"], "crval": np.array([ra[i], dec[i]])}]
        return out

    return known
