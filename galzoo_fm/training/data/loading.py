"""Opening a training dataset from a path (cutout store or ``.npy``) and a catalogue of labels."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from galzoo_fm._utils.tablefile import read_table_file
from galzoo_fm.schemas import MissingLabelsWarning
from galzoo_fm.training.data.arrays import ArrayDataset, BatchDataset
from galzoo_fm.training.data.store import CutoutStoreDataset

__all__ = ["open_dataset", "table_targets"]


def _class_order(name: str) -> tuple:
    """Integer-like class names in numeric order, then the others alphabetically."""
    try:
        return (0, int(name), "")
    except ValueError:
        return (1, 0, name)


def table_targets(table: Any, columns: str | Sequence[str], task: str) -> tuple[np.ndarray, list[str] | None]:
    """Labels from catalogue columns.

    Parameters
    ----------
    table : astropy.table.Table
        The catalogue.
    columns : str or sequence of str
        One column for ``task="classification"``; one or more for ``"regression"``.
    task : {"classification", "regression"}

    Returns
    -------
    labels : numpy.ndarray
        ``(N,)`` int64 class indices (``-1`` for a masked / empty label) or ``(N, k)`` float32 targets.
    classes : list of str or None
        Class names, sorted, for classification (``labels`` index them).
    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in cols if c not in table.colnames]
    if missing:
        raise ValueError(f"label column(s) {', '.join(map(repr, missing))} not in the catalogue; it has "
                         f"{', '.join(table.colnames[:20])}{' ...' if len(table.colnames) > 20 else ''}")
    if task == "classification":
        if len(cols) != 1:
            raise ValueError(f"classification takes one label column, got {cols}")
        col = table[cols[0]]
        mask = np.ma.getmaskarray(col)
        values = np.asarray(np.ma.getdata(col)).astype(str)
        mask |= np.isin(np.char.strip(values), ["", "nan", "None", "--"])
        classes = sorted(set(values[~mask].tolist()), key=_class_order)
        if len(classes) < 2:
            raise ValueError(f"label column {cols[0]!r} has {len(classes)} class(es); classification needs 2 or more")
        lookup = {c: i for i, c in enumerate(classes)}
        labels = np.array([-1 if m else lookup[v] for v, m in zip(values, mask, strict=True)], dtype=np.int64)
        return labels, classes
    if task == "regression":
        out = []
        for c in cols:
            data = np.ma.filled(np.ma.asarray(table[c]).astype(np.float64), np.nan)
            if data.ndim != 1:
                raise ValueError(f"regression column {c!r} must hold one number per row, got shape {data.shape}")
            out.append(data)
        return np.stack(out, axis=1).astype(np.float32), None
    raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")


def open_dataset(
    path: str | Path,
    *,
    catalog: Any = None,
    schema: Any = None,
    label_columns: str | Sequence[str] | None = None,
    task: str = "classification",
    statuses: Sequence[str] = ("ok", "partial"),
) -> tuple[BatchDataset, dict[str, Any]]:
    """A dataset from a cutout store folder or a ``.npy`` image file, with votes and/or labels.

    Parameters
    ----------
    path : str or path
        A cutout store folder (with ``store.json``) or a ``.npy`` file of images ``(N, C, H, W)``.
    catalog : str, path or astropy.table.Table, optional
        The catalogue: for a store, the one it was fetched from (matched through the store's ``row``
        column); for a ``.npy`` file, one row per image.
    schema : Schema, optional
        Read vote counts from the catalogue's ``{question}_{answer}`` columns (rows without votes are
        unlabelled galaxies: zero votes).
    label_columns : str or sequence of str, optional
        Read labels from these columns (see :func:`table_targets`).
    task : {"classification", "regression"}
        How to read ``label_columns``.
    statuses : sequence of str
        Store rows to use.

    Returns
    -------
    dataset : BatchDataset
    info : dict
        ``{"classes": [...] or None, "n_labelled": int, "bands": [...] or None}``.
    """
    path = Path(path)
    table = read_table_file(catalog) if isinstance(catalog, str | Path) else catalog
    if (schema is not None or label_columns is not None) and table is None:
        raise ValueError("votes or labels were requested but no catalogue was given")
    votes = labels = classes = None
    if schema is not None:

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingLabelsWarning)
            votes = schema.votes_from_table(table, on_missing="ignore").astype(np.float32)
    if label_columns is not None:
        labels, classes = table_targets(table, label_columns, task)
    if path.is_dir():
        if not (path / "store.json").is_file():
            raise ValueError(f"{str(path)!r} is a folder but not a cutout store (no store.json)")
        dataset: BatchDataset = CutoutStoreDataset(path, statuses=statuses, catalog_votes=votes,
                                                   catalog_labels=labels)
        bands = dataset.bands
    else:
        images = ArrayDataset(path).images
        for what, arr in (("votes", votes), ("labels", labels)):
            if arr is not None and len(arr) != len(images):
                raise ValueError(f"the catalogue has {len(arr)} rows but {str(path)!r} has {len(images)} images; "
                                 f"{what} of a .npy image file need one catalogue row per image")
        dataset = ArrayDataset(images, votes=votes, labels=labels)
        dataset.source = str(path)
        bands = None
    return dataset, {"classes": classes, "n_labelled": dataset.n_labelled, "bands": bands}
