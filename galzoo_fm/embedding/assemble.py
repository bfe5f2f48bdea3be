"""Phase 3 of an embedding run: the committed blocks → one output table in catalogue order.

Two passes over the blocks: the first reads only the small status files (string widths, counts, and — for
``--anomaly`` only — the vectors), the second builds each block's rows and streams them to the output
(:class:`~galzoo_fm.embedding.writers.StreamingWriter`), so memory holds one block at a time. Anomaly
scores need every vector at once (``N × D`` float32; use the faiss backend of
:class:`~galzoo_fm.search.SimilarityIndex` beyond memory).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table, vstack

from .partial import PartialRun
from .plan import EmbedPlan
from .writers import StreamingWriter

__all__ = ["assemble", "provenance"]


def provenance(plan: EmbedPlan, store_ref: str, anomaly_k: int | None) -> dict[str, Any]:
    """Output metadata: short upper-case keys (valid FITS keywords), plain values, ``PREPROC`` as JSON."""
    import datetime

    from .. import __version__

    enc, sv, pre = plan.encoder, plan.survey, plan.preprocessor
    settings = pre.to_dict()
    meta = {
        "GZFMVER": __version__,
        "DATE": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "MODEL": plan.model_name,
        "MODELSHA": plan.model_hash,
        "BACKBONE": enc.backbone_name,
        "NFEAT": enc.num_features,
        "IMGSIZE": enc.image_size,
        "BANDS": ",".join(pre.bands),
        "MODELPIX": settings.get("pixel_scale") or 0.0,
        "PRESRC": plan.preprocessing_source,
        "PREPROC": json.dumps(settings, sort_keys=True),
        "SURVEY": sv.name,
        "LAYER": sv.layer or "",
        "SVBANDS": ",".join(sv.bands),
        "PIXSCALE": float(sv.pixscale) if sv.pixscale is not None else 0.0,
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
    return meta


def _column(plan: EmbedPlan, name: str, start: int, stop: int) -> np.ndarray:
    col = plan.catalog.table[name][start:stop]
    data = col.filled() if hasattr(col, "filled") and getattr(col, "mask", None) is not None else col
    return np.asarray(data)


def _block_table(plan: EmbedPlan, partial: PartialRun, block: int, widths: dict[str, int],
                 scores: np.ndarray | None, meta: dict[str, Any]) -> Table:
    n = len(plan.catalog)
    start, stop = partial.rows_of(block, n)
    rows = partial.read_rows(block)
    cat = plan.catalog
    out = Table(meta=meta)
    out["id"] = _column(plan, cat.columns["id"], start, stop) if cat.columns["id"] else np.arange(start, stop)
    out["ra"] = cat.ra[start:stop]
    out["dec"] = cat.dec[start:stop]
    for name in plan.keep_cols:
        out[name] = _column(plan, name, start, stop)
    out["embedding"] = np.asarray(partial.read_vectors(block), dtype=np.float32)
    out["status"] = rows["status"].astype(f"<U{widths['status']}")
    out["reason"] = rows["reason"].astype(f"<U{widths['reason']}")
    out["flags"] = rows["flags"].astype(np.int32)
    if scores is not None:
        out["anomaly_score"] = scores[start:stop]
    out["ra"].unit = out["dec"].unit = "deg"
    return out


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
        from ..search import SimilarityIndex

        usable = int(np.isfinite(vectors).all(axis=1).sum())
        if usable <= anomaly_k:
            raise ValueError(f"anomaly scores with k={anomaly_k} need more than {anomaly_k} embedded rows; "
                             f"only {usable} have a vector")
        scores = SimilarityIndex(vectors, device=device).anomaly_scores(int(anomaly_k))
        del vectors
    meta = provenance(plan, store_ref, anomaly_k)
    if plan.out is None:
        tables = [_block_table(plan, partial, b, widths, scores, meta) for b in range(n_blocks)]
        table = vstack(tables, metadata_conflicts="silent")
        table.meta.update(meta)
        return table, dict(counts)
    writer = StreamingWriter(plan.out, n)
    try:
        for b in range(n_blocks):
            writer.write(_block_table(plan, partial, b, widths, scores, meta))
    except BaseException:
        writer.abort()
        raise
    return writer.close(), dict(counts)
