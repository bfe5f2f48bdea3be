"""Vote counts from a catalogue, laid out as a schema's outputs.

A Galaxy Zoo catalogue has one column of vote counts per answer, named ``{question}_{answer}``. A
question that was not asked of a galaxy, or not asked in its campaign at all, has no votes: absent
columns and masked or NaN values become 0 votes, which a Dirichlet-multinomial loss ignores exactly
(Walmsley et al. 2022, arXiv:2206.11927). This is how one GZ-Evo model learns from every campaign.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from galzoo_fm.schemas.questions import SchemaLike

__all__ = ["MissingLabelsWarning", "votes_from_table"]


class MissingLabelsWarning(UserWarning):
    """A catalogue has none of a schema's label columns, so every vote count is 0."""


def _column_names(table: Any) -> list[str]:
    names = getattr(table, "colnames", None)  # astropy Table
    if names is None:
        names = getattr(getattr(table, "dtype", None), "names", None)  # numpy structured array
    if names is None and hasattr(table, "columns"):  # pandas / polars DataFrame
        names = list(table.columns)
    if names is None and isinstance(table, Mapping):
        names = list(table.keys())
    if names is None:
        raise TypeError(
            f"cannot find the columns of a {type(table).__name__}; give an astropy Table, a numpy "
            f"structured array, a DataFrame or a mapping of column name to values"
        )
    return [str(n) for n in names]


def _n_rows(table: Any, present: list[str]) -> int:
    if isinstance(table, Mapping):
        return len(table[present[0]]) if present else 0
    return len(table)


def _column_values(table: Any, col: str, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``(values as float64, missing mask)`` of one column."""
    values = table[col]
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):  # pandas / polars Series
        try:
            values = values.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            values = values.to_numpy()
    mask = np.ma.getmaskarray(values)
    data = np.asarray(np.ma.getdata(values))
    if data.shape != (n_rows,):
        raise ValueError(
            f"column {col!r} has shape {data.shape}; expected one vote count per row, ({n_rows},)"
        )
    if data.dtype.kind == "O":
        try:
            data = np.array([np.nan if v is None else v for v in data], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {col!r} holds values that are not vote counts: {exc}") from None
    if data.dtype.kind not in "iuf":
        raise TypeError(f"column {col!r} has dtype {data.dtype}; vote counts must be numbers")
    data = data.astype(np.float64, copy=False)
    return data, mask | np.isnan(data)


def _first_bad(col: str, data: np.ndarray, bad: np.ndarray, problem: str) -> ValueError:
    row = int(np.flatnonzero(bad)[0])
    return ValueError(
        f"column {col!r} has {problem} in row {row} ({float(data[row])!r}; {int(bad.sum())} such rows); "
        f"label columns hold vote counts, not fractions"
    )


def votes_from_table(
    schema: SchemaLike,
    table: Any,
    *,
    dtype: Any = np.int64,
    on_missing: Literal["warn", "raise", "ignore"] = "warn",
) -> np.ndarray:
    """Read vote counts for every answer of ``schema`` from a catalogue.

    Parameters
    ----------
    schema : Schema
        The decision tree; column ``j`` of the result is ``schema.label_cols[j]``.
    table : astropy.table.Table, numpy structured array, DataFrame or mapping
        Anything with named columns; ``table[name]`` gives one value per row.
    dtype : numpy dtype, optional
        Integer type of the result, ``int64`` by default.
    on_missing : {"warn", "raise", "ignore"}, optional
        What to do when the table has *none* of the schema's label columns (all votes would be 0):
        emit a :class:`MissingLabelsWarning` (default), raise ``ValueError``, or nothing.

    Returns
    -------
    numpy.ndarray
        Vote counts of shape ``(N, schema.n_answers)``. Absent columns, masked values and NaN mean
        "not asked" and give 0 votes.

    Raises
    ------
    ValueError
        If a column holds a negative, infinite or non-integer count, naming the column and the first
        such row; if a column is not one value per row.
    TypeError
        If a column is not numeric, or the table has no recognisable columns.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import MaskedColumn, Table
    >>> import galzoo_fm
    >>> schema = galzoo_fm.get_schema("decals_dr5")
    >>> t = Table({"smooth-or-featured-dr5_smooth": [3, 0],
    ...            "smooth-or-featured-dr5_featured-or-disk": MaskedColumn([1, 9], mask=[False, True]),
    ...            "disk-edge-on-dr5_no": [np.nan, 4.0]})
    >>> votes = schema.votes_from_table(t)
    >>> votes.shape
    (2, 34)
    >>> votes[:, :5].tolist()
    [[3, 1, 0, 0, 0], [0, 0, 0, 0, 4]]
    """
    if on_missing not in ("warn", "raise", "ignore"):
        raise ValueError(f"on_missing must be 'warn', 'raise' or 'ignore', got {on_missing!r}")
    names = _column_names(table)
    available = set(names)
    present = [c for c in schema.label_cols if c in available]
    n_rows = _n_rows(table, present)
    votes = np.zeros((n_rows, schema.n_answers), dtype=dtype)
    if not present:
        if on_missing != "ignore":
            expected = schema.label_cols[0]
            close = difflib.get_close_matches(expected, names, n=1, cutoff=0.8)
            hint = f" (the catalogue has {close[0]!r}: is it another schema's column?)" if close else ""
            msg = (
                f"the catalogue has none of the {schema.n_answers} label columns of schema {schema.name!r}, "
                f"e.g. {expected!r}{hint}; every vote count is 0"
            )
            if on_missing == "raise":
                raise ValueError(msg)
            warnings.warn(msg, MissingLabelsWarning, stacklevel=3)
        return votes
    index = {c: i for i, c in enumerate(schema.label_cols)}
    for col in present:
        data, missing = _column_values(table, col, n_rows)
        clean = np.where(missing, 0.0, data)
        for bad, problem in (
            (~np.isfinite(clean), "an infinite vote count"),
            (clean < 0, "a negative vote count"),
            (np.floor(clean) != clean, "a non-integer vote count"),
        ):
            if np.any(bad):
                raise _first_bad(col, clean, bad, problem)
        votes[:, index[col]] = clean
    return votes
