"""Join several campaigns' vote tables onto one image set, in the GZ-Evo layout.

GZ-Evo (Walmsley et al. 2024, arXiv:2404.02973) trains one model on the votes of every Galaxy Zoo campaign:
each campaign keeps its own ``{question}_{answer}`` columns (the questions carry a campaign suffix such as
``-dr5`` or ``-gz2``) and a galaxy that a campaign did not classify has 0 votes there, which the Dirichlet
loss ignores. :func:`join_campaigns` builds that table from the user's own catalogues: one row per image,
every campaign's vote columns, matched by id or by sky position within a tolerance.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from astropy import units as u
from astropy.table import Table

from galzoo_fm._utils.checks import OutputExistsError

__all__ = ["JoinWarning", "join_campaigns", "join_files", "parse_votes"]


class JoinWarning(UserWarning):
    """Some vote rows matched no image (or lost to a nearer row); see ``table.meta["join_report"]``."""


def _column(table: Table, name: str, what: str) -> np.ndarray:
    if name not in table.colnames:
        raise ValueError(f"{what} has no column {name!r}; it has {', '.join(table.colnames[:12])}"
                         + (" ..." if len(table.colnames) > 12 else ""))
    return np.asarray(table[name])


def _coords(table: Table, ra_col: str, dec_col: str, what: str):
    from astropy.coordinates import SkyCoord

    ra = np.asarray(_column(table, ra_col, what), dtype=np.float64)
    dec = np.asarray(_column(table, dec_col, what), dtype=np.float64)
    good = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)
    return SkyCoord(np.where(good, ra, 0.0) * u.deg, np.where(good, dec, 0.0) * u.deg), good


def _match_ids(image_ids: np.ndarray, vote_ids: np.ndarray, campaign: str) -> tuple[np.ndarray, dict[str, int]]:
    """Image index per vote row (-1: none)."""
    uniq, counts = np.unique(vote_ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        raise ValueError(f"campaign {campaign!r}: {len(dup)} ids appear on more than one vote row, e.g. "
                         f"{', '.join(map(str, dup[:5]))}; combine them first")
    lookup = {k: i for i, k in enumerate(image_ids)}
    index = np.array([lookup.get(k, -1) for k in vote_ids], dtype=np.int64)
    return index, {"ambiguous": 0, "lost_to_nearer": 0}


def _match_sky(images: Table, votes: Table, tolerance: u.Quantity, ra_col: str, dec_col: str, campaign: str,
               img_coords) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Image index per vote row (-1: none) and separation in arcsec (NaN: none)."""
    from astropy.coordinates import match_coordinates_sky, search_around_sky

    v_coords, v_good = _coords(votes, ra_col, dec_col, f"vote table of campaign {campaign!r}")
    i_coords, i_good = img_coords
    n = len(votes)
    index = np.full(n, -1, np.int64)
    sep = np.full(n, np.nan)
    report = {"ambiguous": 0, "lost_to_nearer": 0}
    if n == 0 or not i_good.any():
        return index, sep, report
    good_img = np.flatnonzero(i_good)
    if len(good_img) > 1:
        nearest, d2d, _ = match_coordinates_sky(v_coords, i_coords[good_img])
        nearest = good_img[nearest]
        d = d2d.to_value(u.arcsec)
    else:
        nearest = np.full(n, good_img[0])
        d = v_coords.separation(i_coords[good_img[0]]).to_value(u.arcsec)
    ok = v_good & (d <= tolerance.to_value(u.arcsec))
    # a vote row with two or more images within the tolerance: the nearest wins, and it is counted
    iv, _, _, _ = search_around_sky(v_coords[ok], i_coords[good_img], tolerance)
    report["ambiguous"] = int((np.bincount(iv, minlength=int(ok.sum())) > 1).sum()) if len(iv) else 0
    rows = np.flatnonzero(ok)
    # one image, several vote rows: the nearest row wins, the others stay unmatched
    order = rows[np.lexsort((d[rows], nearest[rows]))]
    first = np.r_[True, nearest[order][1:] != nearest[order][:-1]] if len(order) else np.zeros(0, bool)
    winners = order[first]
    report["lost_to_nearer"] = int(len(order) - len(winners))
    index[winners] = nearest[winners]
    sep[winners] = d[winners]
    return index, sep, report


def join_campaigns(images: Table, votes: Mapping[str, Table | tuple[Table, str]], *, on: str = "id",
                   tolerance: u.Quantity | float = 1.0 * u.arcsec, id_col: str = "id", ra_col: str = "ra",
                   dec_col: str = "dec", schema: str | None = None,
                   return_unmatched: bool = False) -> Table | tuple[Table, dict[str, Table]]:
    """One row per image with every campaign's vote counts (0 where a campaign has no votes).

    Parameters
    ----------
    images : astropy.table.Table
        The image set (e.g. a catalogue that was fetched into a cutout store): every column is kept, in
        order, so the result lines up row for row with a store made from ``images``.
    votes : mapping
        Campaign name → vote table, or → ``(vote table, schema name)``. Without a schema name the campaign
        name is the schema (``"decals_dr5"``, ``"gz2"``, ...). A vote table carries the schema's
        ``{question}_{answer}`` count columns (absent / masked / NaN mean no votes) and ``id_col`` or
        ``ra_col`` / ``dec_col``.
    on : {"id", "sky"}
        Match vote rows to images by equal ids (as strings) or by the nearest image within ``tolerance``.
    tolerance : astropy.units.Quantity or float
        Largest separation for ``on="sky"`` (a float is in arcsec).
    id_col, ra_col, dec_col : str
        Column names, the same in ``images`` and every vote table (degrees for positions).
    schema : str, optional
        A schema covering every campaign (e.g. ``"gz_evo"``): the result then has all its label columns
        (0 for campaigns not joined), and a campaign whose columns it lacks raises ``ValueError``.
    return_unmatched : bool
        Also return ``{campaign: vote rows that matched no image}``.

    Returns
    -------
    astropy.table.Table or (Table, dict)
        ``images``'s columns, then per campaign ``<campaign>_matched`` (bool), ``<campaign>_row`` (row of the
        vote table, -1 when unmatched) and for ``on="sky"`` ``<campaign>_sep`` (arcsec, NaN when unmatched),
        then the int64 vote columns: those of ``schema`` when given, else the union of the campaigns' schemas
        in order. Campaigns sharing columns add their votes. ``meta["join_report"]`` holds per campaign:
        ``rows``, ``matched``, ``unmatched``, ``ambiguous`` (rows with several images within the
        tolerance; the nearest was used) and ``lost_to_nearer`` (rows whose image went to a nearer row).

    Warns
    -----
    JoinWarning
        When vote rows matched no image (how many, per campaign): they are not silently dropped.

    Examples
    --------
    >>> from astropy.table import Table
    >>> images = Table({"id": ["a", "b", "c"]})
    >>> dr5 = Table({"id": ["b"], "smooth-or-featured-dr5_smooth": [7]})
    >>> gz2 = Table({"id": ["a", "b"], "smooth-or-featured-gz2_smooth": [3, 4]})
    >>> t = join_campaigns(images, {"decals_dr5": dr5, "gz2": gz2})
    >>> t["smooth-or-featured-dr5_smooth"].tolist(), t["smooth-or-featured-gz2_smooth"].tolist()
    ([0, 7, 0], [3, 4, 0])
    """
    from galzoo_fm.plugins import get_registry

    if on not in ("id", "sky"):
        raise ValueError(f"on must be 'id' or 'sky', got {on!r}")
    if not votes:
        raise ValueError("votes is empty: give at least one campaign's vote table")
    tol = tolerance if isinstance(tolerance, u.Quantity) else float(tolerance) * u.arcsec
    if on == "sky" and not tol.to_value(u.arcsec) > 0:
        raise ValueError(f"tolerance must be positive, got {tolerance!r}")
    campaigns: list[tuple[str, Table, Any]] = []
    for name, value in votes.items():
        table, schema_name = value if isinstance(value, tuple) else (value, name)
        try:
            sch = get_registry("schemas").create(schema_name)
        except ValueError as exc:
            raise ValueError(f"campaign {name!r}: {exc} (give (table, schema_name) for a campaign that is not "
                             "named after its schema)") from None
        present = [c for c in sch.label_cols if c in table.colnames]
        if not present:
            raise ValueError(f"campaign {name!r}: the vote table has none of schema {schema_name!r}'s label "
                             f"columns (e.g. {sch.label_cols[0]!r})")
        campaigns.append((name, table, sch))
    if schema is not None:
        label_cols = list(get_registry("schemas").create(schema).label_cols)
        known = set(label_cols)
        for name, _, sch in campaigns:
            outside = [c for c in sch.label_cols if c not in known]
            if outside:
                raise ValueError(f"campaign {name!r}: schema {schema!r} lacks {len(outside)} of its columns, e.g. "
                                 f"{', '.join(outside[:3])}")
    else:
        label_cols = list(dict.fromkeys(c for _, _, sch in campaigns for c in sch.label_cols))
    col_index = {c: j for j, c in enumerate(label_cols)}
    n = len(images)
    out = Table(images, copy=True)
    total = np.zeros((n, len(label_cols)), np.int64)
    report: dict[str, dict[str, int]] = {}
    unmatched_rows: dict[str, Table] = {}
    if on == "id":
        image_ids = _column(images, id_col, "the image table").astype(str)
        uniq, counts = np.unique(image_ids, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"the image table has duplicate ids, e.g. {', '.join(uniq[counts > 1][:5])}")
    else:
        img_coords = _coords(images, ra_col, dec_col, "the image table")
    for name, table, sch in campaigns:
        counts_v = sch.votes_from_table(table, on_missing="ignore")  # (M, A) int64, validated
        if on == "id":
            index, rep = _match_ids(image_ids, _column(table, id_col, f"vote table of {name!r}").astype(str), name)
            sep = None
        else:
            index, sep, rep = _match_sky(images, table, tol, ra_col, dec_col, name, img_coords)
        hit = index >= 0
        matched = np.zeros(n, bool)
        matched[index[hit]] = True
        row = np.full(n, -1, np.int64)
        row[index[hit]] = np.flatnonzero(hit)
        out[f"{name}_matched"] = matched
        out[f"{name}_row"] = row
        if sep is not None:
            s = np.full(n, np.nan)
            s[index[hit]] = sep[hit]
            out[f"{name}_sep"] = s
            out[f"{name}_sep"].unit = u.arcsec
        cols = [col_index[c] for c in sch.label_cols]
        total[np.ix_(index[hit], cols)] += counts_v[hit]
        report[name] = {"rows": len(table), "matched": int(hit.sum()), "unmatched": int((~hit).sum()), **rep}
        unmatched_rows[name] = table[~hit]
        if (~hit).any():
            warnings.warn(f"campaign {name!r}: {int((~hit).sum())} of {len(table)} vote rows matched no image "
                          f"(by {on}); they are listed in meta['join_report'] / return_unmatched=True",
                          JoinWarning, stacklevel=2)
    for c, j in col_index.items():
        out[c] = total[:, j]
    out.meta["join_report"] = report
    return (out, unmatched_rows) if return_unmatched else out


def parse_votes(items: Iterable[str]) -> dict[str, str]:
    """``["decals_dr5=gzd5.csv", "gz2=gz2.fits"]`` → ``{"decals_dr5": "gzd5.csv", "gz2": "gz2.fits"}``.

    ``ValueError`` for an item without ``=`` or a schema named twice.
    """
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(f"--votes takes SCHEMA=FILE, got {item!r}")
        if key in out:
            raise ValueError(f"--votes names schema {key!r} twice ({out[key]}, {value}); join one table per "
                             "campaign, or combine them first")
        out[key] = value
    return out


def join_files(images: str | os.PathLike, votes: Mapping[str, str | os.PathLike], out: str | os.PathLike, *,
               overwrite: bool = False, **kwargs: Any) -> tuple[Path, dict[str, dict[str, int]]]:
    """:func:`join_campaigns` on catalogue files; writes ``out`` atomically (``galzoo-fm datasets join``).

    Parameters
    ----------
    images : path
        The image table (any format astropy reads: FITS, ECSV, CSV, Parquet, ...).
    votes : mapping
        Schema name → vote table file (each campaign is named after its schema).
    out : path
        Output table; its extension chooses the format (``.fits``, ``.ecsv``, ``.parquet``, ``.h5``).
    overwrite : bool
        Replace an existing ``out``.
    **kwargs
        ``on``, ``tolerance``, ``id_col``, ``ra_col``, ``dec_col``, ``schema`` of :func:`join_campaigns`.

    Returns
    -------
    (pathlib.Path, dict)
        The file written and the join report (per campaign: rows, matched, unmatched, ambiguous,
        lost_to_nearer). The report is also in the file's metadata (``JOINREP``, JSON).
    """
    import json

    from galzoo_fm._utils.tablefile import read_table_file as read_table
    from galzoo_fm._utils.writers import write_table

    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(out)
    tables = {name: read_table(path) for name, path in votes.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JoinWarning)  # the report below says it
        table = join_campaigns(read_table(images), tables, **kwargs)
    report = table.meta.pop("join_report")
    table.meta["JOINREP"] = json.dumps(report, separators=(",", ":"))
    return write_table(table, out, overwrite=overwrite), report
