"""Phase 3 of an embedding run: the committed blocks → one output table in catalogue order.

Two passes over the blocks: the first reads only the small status files (string widths, counts, and — for
``--anomaly`` only — the vectors), the second builds the rows of a few consecutive blocks at a time (about
32 MiB of vectors) and streams them to the output (:class:`~galzoo_fm._utils.writers.StreamingWriter`),
so memory stays bounded. Anomaly scores need every vector at once (``N × D`` float32; use the faiss backend of
:class:`~galzoo_fm.explore.search.SimilarityIndex` beyond memory).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table, vstack

from galzoo_fm._utils.tableio import describe_columns, fits_date
from galzoo_fm._utils.version import __version__
from galzoo_fm._utils.writers import StreamingWriter
from galzoo_fm.embedding.partial import PartialRun
from galzoo_fm.embedding.plan import EmbedPlan
from galzoo_fm.explore.search import SimilarityIndex

__all__ = ["assemble", "provenance"]

def provenance(plan: EmbedPlan, store_ref: str, anomaly_k: int | None,
               counts: dict[str, int] | None = None) -> dict[str, Any]:
    """Output metadata: short upper-case keys (valid FITS keywords), plain values, ``PREPROC`` as JSON.

    ``MODELPIX`` (the model's pixel scale, arcsec/pixel) and ``PIXSCALE`` (the survey's) are left out when
    unknown; ``RUNHASH`` fingerprints the run (:attr:`EmbedPlan.fingerprint`) so that rerunning the same
    command can tell its own finished output; ``COUNTS`` is the rows per status as JSON.
    """

    enc, sv, pre = plan.encoder, plan.survey, plan.preprocessor
    settings = pre.to_dict()
    meta = {
        "GZFMVER": __version__,
        "DATE": fits_date(),
        "MODEL": plan.model_name,
        "MODELSHA": plan.model_hash,
        "BACKBONE": enc.backbone_name,
        "NFEAT": enc.num_features,
        "IMGSIZE": enc.image_size,
        "BANDS": ",".join(pre.bands),
        "MODELPIX": settings.get("pixel_scale"),
        "PRESRC": plan.preprocessing_source,
        "PREPROC": json.dumps(settings, sort_keys=True),
        "SURVEY": sv.name,
        "LAYER": sv.layer or "",
        "SVBANDS": ",".join(sv.bands),
        "PIXSCALE": float(sv.pixscale) if sv.pixscale is not None else None,
        "CUTSIZE": plan.size,
        "STORE": store_ref,
        "CATALOG": plan.catalog.source,
        "NROWS": len(plan.catalog),
        "IDCOL": plan.catalog.columns["id"] or "",
        "RACOL": plan.catalog.columns["ra"],
        "DECCOL": plan.catalog.columns["dec"],
    }
    if anomaly_k:
        meta["ANOMALYK"] = int(anomaly_k)
    if plan.fingerprint:
        meta["RUNHASH"] = plan.fingerprint
    if counts is not None:
        meta["COUNTS"] = json.dumps(dict(sorted(counts.items())))
    return {k: v for k, v in meta.items() if v is not None}


def _column(plan: EmbedPlan, name: str, start: int, stop: int) -> np.ndarray:
    col = plan.catalog.table[name][start:stop]
    data = col.filled() if hasattr(col, "filled") and getattr(col, "mask", None) is not None else col
    data = np.asarray(data)
    if data.dtype.kind == "S":  # FITS text columns read as bytes: text in every output format
        data = np.char.decode(data, "utf-8", "replace")
    return data


def _group_table(plan: EmbedPlan, partial: PartialRun, blocks: range, widths: dict[str, int],
                 scores: np.ndarray | None, meta: dict[str, Any]) -> Table:
    """Output rows of consecutive committed ``blocks``, in catalogue order."""
    n = len(plan.catalog)
    start, stop = partial.rows_of(blocks[0], n)[0], partial.rows_of(blocks[-1], n)[1]
    parts = [partial.read_rows(b) for b in blocks]
    cat = plan.catalog
    out = Table(meta=meta)
    out["id"] = _column(plan, cat.columns["id"], start, stop) if cat.columns["id"] else np.arange(start, stop)
    out["ra"] = cat.ra[start:stop]
    out["dec"] = cat.dec[start:stop]
    for name in plan.keep_cols:
        out[name] = _column(plan, name, start, stop)
    out["embedding"] = np.concatenate([partial.read_vectors(b) for b in blocks]).astype(np.float32, copy=False)
    out["status"] = np.concatenate([r["status"] for r in parts]).astype(f"<U{widths['status']}")
    out["reason"] = np.concatenate([r["reason"] for r in parts]).astype(f"<U{widths['reason']}")
    out["flags"] = np.concatenate([r["flags"] for r in parts]).astype(np.int32)
    if scores is not None:
        out["anomaly_score"] = scores[start:stop]
    return describe_columns(out)


def _groups(partial: PartialRun, n_blocks: int, num_features: int) -> list[range]:
    """Consecutive blocks written together: about 32 MiB of vectors (at most 65536 rows) per output group,
    so that per-write overheads (one Parquet row group, one astropy encode) stay small."""
    rows = max(partial.block_rows, min(65536, (32 << 20) // (4 * max(1, num_features))))
    per = max(1, rows // partial.block_rows)
    return [range(b, min(b + per, n_blocks)) for b in range(0, n_blocks, per)]


def assemble(plan: EmbedPlan, partial: PartialRun, *, anomaly_k: int | None = None, device: Any = None,
             store_ref: str = "") -> tuple[Table | Path, dict[str, int]]:
    """Write (or, without ``plan.out``, return) the output table; also return the rows per status.

    Raises
    ------
    ValueError
        A block is missing (a rank did not finish).
    """
    n = len(plan.catalog)
    n_blocks = partial.n_blocks(n)
    missing = sorted(set(range(n_blocks)) - set(partial.committed()))
    if missing:
        raise ValueError(f"{len(missing)} block(s) of {partial.folder} are not finished (e.g. {missing[:5]}); "
                         "run the command again")
    widths = {"status": 1, "reason": 1}
    counts: Counter[str] = Counter()
    vectors = np.empty((n, plan.encoder.num_features), np.float32) if anomaly_k else None
    for b in range(n_blocks):
        rows = partial.read_rows(b)
        widths["status"] = max(widths["status"], rows["status"].dtype.itemsize // 4)
        widths["reason"] = max(widths["reason"], rows["reason"].dtype.itemsize // 4)
        counts.update(rows["status"].tolist())
        if vectors is not None:
            start, stop = partial.rows_of(b, n)
            vectors[start:stop] = partial.read_vectors(b)
    scores = None
    if vectors is not None:

        usable = int(np.isfinite(vectors).all(axis=1).sum())
        if usable <= anomaly_k:
            raise ValueError(f"anomaly scores with k={anomaly_k} need more than {anomaly_k} embedded rows; "
                             f"only {usable} have a vector")
        scores = SimilarityIndex(vectors, device=device).anomaly_scores(int(anomaly_k))
        del vectors
    meta = provenance(plan, store_ref, anomaly_k, dict(counts))
    groups = _groups(partial, n_blocks, plan.encoder.num_features)
    if plan.out is None:
        tables = [_group_table(plan, partial, g, widths, scores, meta) for g in groups]
        table = vstack(tables, metadata_conflicts="silent")
        table.meta.update(meta)
        return table, dict(counts)
    writer = StreamingWriter(plan.out, n)
    try:
        for g in groups:
            writer.write(_group_table(plan, partial, g, widths, scores, meta))
    except BaseException:
        writer.abort()
        raise
    return writer.close(), dict(counts)
