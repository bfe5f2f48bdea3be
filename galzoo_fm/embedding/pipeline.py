"""The main job: a catalogue in, an embeddings table out — validated, resumable, shardable.

:func:`run_embedding` does the work in three phases after validating everything (:func:`make_plan`):

1. **fetch** the cutouts into a store beside the output (:func:`galzoo_fm.fetch.fetch_catalog`: resumable,
   each rank its own shard);
2. **embed** fixed blocks of catalogue rows (``runner``), committing each block
   to ``OUT.partial/`` (:mod:`~galzoo_fm.embedding.partial`) and skipping blocks committed by an earlier,
   interrupted run;
3. **assemble** the output in catalogue order (:mod:`~galzoo_fm.embedding.assemble`), atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from astropy.table import Table

from galzoo_fm._utils.checks import OutputExistsError, positive_int
from galzoo_fm._utils.tableio import read_table_meta
from galzoo_fm.embedding.assemble import assemble
from galzoo_fm.embedding.overlap import BackgroundFetch
from galzoo_fm.embedding.partial import PartialRun
from galzoo_fm.embedding.plan import EmbedPlan, make_plan
from galzoo_fm.embedding.ranks import Ranks, rank_blocks
from galzoo_fm.embedding.runner import PLACEMENTS, embed_blocks
from galzoo_fm.explore.figures import read_embeddings
from galzoo_fm.fetch import fetch_catalog
from galzoo_fm.models.inference import autocast_dtype
from galzoo_fm.store.index import StoreIndex
from galzoo_fm.store.writer import default_chunk_rows

__all__ = ["EmbedSummary", "embed_catalog", "run_embedding"]


@dataclass
class EmbedSummary:
    """What one embedding run did (on this rank).

    Attributes
    ----------
    out : pathlib.Path or None
        The output table (written by rank 0).
    store : pathlib.Path
        The cutout store.
    rows : int
        Catalogue rows.
    model : str
        The model's description.
    counts : dict
        Rows per status in the output (rank 0).
    embedded : int
        Rows embedded by this run on this rank (rows of resumed blocks excluded).
    blocks_done, blocks_skipped : int
        Blocks computed now / found committed by an earlier run (this rank).
    seconds : dict
        Wall time per phase: ``fetch``, ``embed``, ``assemble``. For image files (one rank) the fetch runs
        beside the embedding (``galzoo_fm.embedding.overlap``): the two times overlap.
    table : astropy.table.Table or None
        The output table when no file was asked for.
    """

    out: Path | None
    store: Path
    rows: int
    model: str
    counts: dict[str, int] = field(default_factory=dict)
    embedded: int = 0
    blocks_done: int = 0
    blocks_skipped: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    table: Table | None = None
    rank: int = 0
    world: int = 1
    already_complete: bool = False

    def __str__(self) -> str:
        if self.already_complete:
            per = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
            hint = (f" ({self.counts['failed']} failed rows: run again with --overwrite to retry only them)"
                    if self.counts.get("failed") else "")
            return f"{self.out} is already complete: {self.rows} rows with {self.model}: {per}{hint}"
        rate = self.embedded / self.seconds["embed"] if self.seconds.get("embed") else 0.0
        per = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        times = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        where = f"wrote {self.out}" if self.out else "no output file"
        if self.counts.get("failed"):
            where += f" ({self.counts['failed']} failed rows: run again with --overwrite to retry only them)"
        ranks = f" on {self.world} ranks" if self.world > 1 else ""
        return (f"{self.rows} rows with {self.model}{ranks}: {per or 'see rank 0'}. Embedded {self.embedded} now "
                f"({rate:.0f}/s), {self.blocks_skipped} block(s) resumed. {times}. {where}; cutouts in {self.store}")


def _run_info(plan: EmbedPlan, batch_size: int, block_rows: int) -> dict[str, Any]:
    sv = plan.survey
    return {
        "model": plan.model_name,
        "model_sha256": plan.model_hash,
        "catalog": plan.catalog.source,
        "catalog_fingerprint": plan.catalog.fingerprint(),
        "catalog_rows": len(plan.catalog),
        "preprocessing": plan.preprocessor.to_dict(),
        "survey": sv.name,
        "layer": sv.layer,
        "survey_bands": list(sv.bands),
        "pixscale": sv.pixscale,
        "size": plan.size,
        **({"images": sv.provenance().get("images")} if sv.row_keyed else {}),
        "num_features": plan.encoder.num_features,
        **({"symmetry": plan.encoder.symmetry} if getattr(plan.encoder, "symmetry", "none") != "none" else {}),
        "block_rows": block_rows,
        "batch_size": batch_size,
    }


def _check_model_options(precision: Any, compile: Any, preprocess_on: Any) -> None:
    """Fail before any download on a bad ``precision``, ``compile`` or ``preprocess_on``."""
    autocast_dtype(precision, torch.device("cpu"))
    if not isinstance(compile, bool):
        raise TypeError(f"compile must be True or False, got {compile!r}")
    if preprocess_on is not None and preprocess_on not in PLACEMENTS:
        raise ValueError(f"preprocess_on must be one of {', '.join(map(repr, PLACEMENTS))} or None; "
                         f"got {preprocess_on!r}")


def run_embedding(
    catalog: str | Path | Table,
    *,
    model: Any = None,
    survey: Any = "legacy",
    survey_options: Mapping[str, Any] | None = None,
    layer: str | None = None,
    size: int | None = None,
    out: str | Path | None = None,
    store: str | Path | None = None,
    batch_size: int = 256,
    block_rows: int | None = None,
    device: Any = None,
    workers: int = 4,
    keep_cols: Sequence[str] = (),
    anomaly_k: int | None = None,
    progress: bool = False,
    columns: Mapping[str, str | None] | None = None,
    overwrite: bool = False,
    keep_partial: bool = False,
    backbone: str = "resnet18",
    image_size: int = 64,
    seed: int = 0,
    precision: str = "auto",
    compile: bool = False,
    preprocess_on: str | None = None,
    images: Any = None,
    preset: str | None = None,
) -> EmbedSummary:
    """Embed every row of a catalogue; see :func:`embed_catalog` for the parameters.

    Returns an :class:`EmbedSummary` (with the table in ``summary.table`` when ``out`` is ``None``). Memory
    stays bounded by a few blocks whatever the catalogue size (plus ``N × D`` with ``anomaly_k``).
    """
    batch_size = positive_int(batch_size, "batch_size")
    block_rows = positive_int(block_rows if block_rows is not None else max(batch_size * 16, 4096), "block_rows")
    workers = positive_int(workers, "workers")
    if anomaly_k is not None:
        positive_int(anomaly_k, "anomaly k")
    _check_model_options(precision, compile, preprocess_on)
    ranks = Ranks.from_env()
    if ranks.world > 1 and out is None and store is None:
        raise ValueError("a distributed run (WORLD_SIZE > 1) needs out= (--out) on a file system all ranks share")
    scratch = tempfile.mkdtemp(prefix="galzoo-embed-") if out is None and store is None else None
    try:
        plan = make_plan(catalog, model=model, survey=survey, survey_options=survey_options, layer=layer, size=size,
                         out=out, store=store, workdir=Path(scratch) if scratch else None, keep_cols=keep_cols,
                         columns=columns, backbone=backbone, image_size=image_size, seed=seed, images=images,
                         preset=preset)
        try:
            model_options = {"precision": precision, "compile": compile, "preprocess_on": preprocess_on}
            return _run(plan, ranks, batch_size, block_rows, device, workers, anomaly_k, progress, overwrite,
                        keep_partial or scratch is not None, model_options)
        finally:
            if plan.owns_survey:
                plan.survey.close()
    finally:
        ranks.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _overlap_chunk(plan: EmbedPlan, block_rows: int) -> int:
    """Rows per store chunk when the embedding runs beside the fetch: at most a quarter of a block (so a block
    is read soon after its last rows are decoded), and at most the writer's own default."""
    shape = (len(plan.survey.bands), plan.size, plan.size)
    return max(1, min(default_chunk_rows(shape, plan.survey.dtype, len(plan.survey.extras)), block_rows // 4))


def _fingerprint(info: dict[str, Any], plan: EmbedPlan, anomaly_k: int | None,
                 model_options: dict[str, Any]) -> str:
    """Hash of what decides the output's content: the run info, anomaly k, kept columns, precision, format."""
    same = {k: v for k, v in info.items() if k not in ("batch_size", "block_rows")}  # adopted on resume
    doc = {**same, "anomaly_k": anomaly_k, "keep_cols": list(plan.keep_cols),
           "precision": model_options.get("precision"),
           "format": plan.out.suffix.lower() if plan.out is not None else None}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _finished_output(plan: EmbedPlan, keep_partial: bool) -> dict[str, int] | None:
    """The rows per status of ``plan.out`` if it is this run's finished output (same ``RUNHASH``), else ``None``.

    Then the partial-progress folder a kill just after the output's rename left is removed (unless kept on
    purpose: ``keep_partial``, or failed rows that a rerun with ``--overwrite`` retries).
    """
    try:
        meta = read_table_meta(plan.out)
    except Exception:  # unreadable: not ours to judge; the caller refuses to overwrite it
        return None
    if meta.get("RUNHASH") != plan.fingerprint:
        return None
    try:
        counts = {str(k): int(v) for k, v in json.loads(meta.get("COUNTS") or "{}").items()}
    except (TypeError, ValueError):
        counts = {}
    if not keep_partial and not counts.get("failed"):
        shutil.rmtree(plan.partial, ignore_errors=True)
    return counts


def _run(plan: EmbedPlan, ranks: Ranks, batch_size: int, block_rows: int, device: Any, workers: int,
         anomaly_k: int | None, progress: bool, overwrite: bool, keep_partial: bool,
         model_options: dict[str, Any]) -> EmbedSummary:
    info = _run_info(plan, batch_size, block_rows)
    plan.fingerprint = _fingerprint(info, plan, anomaly_k, model_options)
    if plan.out is not None and plan.out.exists() and not overwrite:
        counts = _finished_output(plan, keep_partial)
        if counts is None:
            raise OutputExistsError(plan.out, "embed again")
        return EmbedSummary(plan.out, plan.store, len(plan.catalog), plan.model_name, counts=counts,
                            rank=ranks.rank, world=ranks.world, already_complete=True)
    partial = PartialRun(plan.partial, info)
    ranks.start()
    summary = EmbedSummary(plan.out, plan.store, len(plan.catalog), plan.model_name, rank=ranks.rank,
                           world=ranks.world)
    show = progress and ranks.rank == 0
    # the user's own image files, on one rank: the embedding runs beside the fetch (decoding on the CPU while
    # the model runs), each block as soon as its rows are in the store (embedding.overlap)
    overlap = ranks.world == 1 and plan.survey.row_keyed

    def fetch(**observer: Any) -> Any:
        return fetch_catalog(plan.catalog, plan.survey, size=plan.size, out=plan.store, workers=workers,
                             shard=ranks.shard, progress=show and not overlap,
                             chunk_size=_overlap_chunk(plan, block_rows) if overlap else None, **observer)

    t0 = time.perf_counter()
    background = BackgroundFetch(fetch, len(plan.catalog)) if overlap else None
    if background is not None:
        background.start()
    else:
        fetched = fetch()
        if fetched.interrupted:
            raise KeyboardInterrupt("fetch interrupted")
        summary.seconds["fetch"] = time.perf_counter() - t0
        ranks.barrier()
    try:
        t0 = time.perf_counter()
        rows = StoreIndex(plan.store, len(plan.catalog))
        mine = rank_blocks(partial.n_blocks(len(plan.catalog)), ranks.rank, ranks.world)
        committed = set(partial.committed())
        todo = []
        for b in mine:
            span = partial.rows_of(b, rows.n_rows)
            arriving = background is not None and background.arrivals.pending(*span)
            if b in committed and not arriving and partial.is_current(b, rows.status(*span)[0]):
                continue
            if b in committed:
                partial.drop(b)  # its rows' cutouts changed since (e.g. a failed fetch succeeded), or will
            todo.append(b)
        summary.blocks_skipped = len(mine) - len(todo)
        dev = ranks.device(device)
        stats = embed_blocks(todo, rows, partial, plan.preprocessor, plan.encoder, bands=rows.bands,
                             pixscale=rows.pixscale, device=dev, workers=workers, progress=show,
                             wait=background.waiter(rows) if background is not None else None, **model_options)
    except BaseException:
        if background is not None:
            background.stop()  # commits what it finished: the next run resumes from there
        raise
    if background is not None:
        if background.join().interrupted:
            raise KeyboardInterrupt("fetch interrupted")
        summary.seconds["fetch"] = background.seconds
    summary.embedded, summary.blocks_done = stats["embedded"], len(todo)
    summary.seconds["embed"] = time.perf_counter() - t0
    ranks.barrier()
    if ranks.rank == 0:
        t0 = time.perf_counter()
        ref = os.path.relpath(plan.store, plan.out.parent) if plan.out is not None else str(plan.store)
        result, summary.counts = assemble(plan, partial, anomaly_k=anomaly_k, device=dev, store_ref=ref)
        if isinstance(result, Table):
            summary.table = result
        if not keep_partial and not summary.counts.get("failed"):  # kept: a rerun retries only failed rows' blocks
            shutil.rmtree(partial.folder, ignore_errors=True)
        summary.seconds["assemble"] = time.perf_counter() - t0
    ranks.barrier()
    return summary


def embed_catalog(
    catalog: str | Path | Table,
    *,
    model: Any = None,
    survey: Any = "legacy",
    survey_options: Mapping[str, Any] | None = None,
    layer: str | None = None,
    size: int | None = None,
    out: str | Path | None = None,
    store: str | Path | None = None,
    batch_size: int = 256,
    device: Any = None,
    workers: int = 4,
    keep_cols: Sequence[str] = (),
    anomaly_k: int | None = None,
    progress: bool = False,
    columns: Mapping[str, str | None] | None = None,
    **options: Any,
) -> Table:
    """Embed every galaxy of a catalogue: fetch cutouts, preprocess as the model says, run the model.

    Parameters
    ----------
    catalog : str, path or astropy.table.Table
        Any table astropy reads (FITS, ECSV, CSV, Parquet, VOTable, HDF5) with RA/Dec columns; with
        ``images``, a catalogue with a column of image paths, Parquet files with image bytes, or a folder
        of image files (:func:`galzoo_fm.images.open_images`).
    model : str, path or Encoder, optional
        Checkpoint folder, ``hf_hub:<repo id>`` or an :class:`~galzoo_fm.Encoder`; ``None``: a randomly
        initialised ``backbone`` (``resnet18``), seeded, at ``image_size`` (64) — for trying the pipeline only.
    survey : str or Survey
        Registered survey name (``legacy``, ``panstarrs``, ``sdss``, ``hips``, ``skyview``, ``local``, ...).
    survey_options : mapping, optional
        Survey options (``bands``, ``pixscale``, ``server``, ``path`` for ``local``, ...).
    layer : str, optional
        Survey layer (e.g. ``ls-dr9``).
    size : int, optional
        Cutout side in survey pixels; default the preprocessing's field of view
        (``image_size × pixel_scale / survey pixel scale``).
    out : str or path, optional
        Output table (``.parquet``, ``.fits``, ``.ecsv``, ``.h5``), written atomically; the cutout store
        (``OUT.cutouts/``) and partial progress (``OUT.partial/``) live beside it, and running the same call
        again resumes an interrupted run. Without ``out`` (and ``store``) a temporary folder is used.
    store : str or path, optional
        Cutout store folder, instead of ``OUT.cutouts``.
    batch_size : int
        Images per forward pass (and per preprocessing call).
    device : str, optional
        ``cuda``, ``cpu``, ...; default CUDA when available (each ``torchrun`` rank its own GPU).
    workers : int
        Concurrent downloads, and store reader threads (which also preprocess when the preprocessing runs
        on the host).
    keep_cols : sequence of str
        Input columns to copy to the output.
    anomaly_k : int, optional
        Add ``anomaly_score``: the mean cosine distance to the ``k`` nearest other galaxies.
    progress : bool
        Progress bars (objects/s, failures).
    columns : mapping, optional
        ``{"id": ..., "ra": ..., "dec": ...}`` column names, overriding the automatic choice.
    **options
        ``block_rows`` (rows per committed block, default ``max(16 × batch_size, 4096)``), ``overwrite``,
        ``keep_partial``, ``backbone``, ``image_size``, ``seed`` (for the random model); ``precision``
        (the model's autocast, ``"auto"``: bf16 on CUDA, float32 on the CPU), ``compile`` (``torch.compile``
        the model's forward, default ``False``), ``preprocess_on`` (``"device"``: on the model's device in
        the main thread, the default on a GPU; ``"threads"``: on CPU tensors in the reader threads, the
        default on a CPU and with photutils steps; see ``galzoo_fm.embedding.runner``); ``images`` (the
        user's own images instead of a survey: the column of paths or bytes, e.g. ``"file_loc"``, or a dict of
        :func:`~galzoo_fm.images.open_images` options such as ``{"column": "file_loc", "root": "..."}``, or
        an :class:`~galzoo_fm.images.ImageFiles`; the store then holds them, resized to one side when sizes
        differ), ``preset`` (a preprocessing preset for a model that records none, e.g. ``"zoobot"``:
        :data:`~galzoo_fm.preprocess.PREPROCESS_PRESETS`).

    Returns
    -------
    astropy.table.Table
        One row per catalogue row, in catalogue order: ``id``, ``ra``, ``dec`` (degrees, NaN if invalid),
        ``keep_cols``, ``embedding`` ``(N, D)`` float32 (NaN without a cutout), ``status``, ``reason``,
        ``flags`` (preprocessing bits), optionally ``anomaly_score``; provenance in ``meta``.

    Raises
    ------
    ValueError, TypeError
        Bad input, before any download: see :func:`~galzoo_fm.embedding.make_plan`.
    FileExistsError
        ``out`` exists and ``overwrite`` is not set.
    """
    summary = run_embedding(catalog, model=model, survey=survey, survey_options=survey_options, layer=layer,
                            size=size, out=out, store=store, batch_size=batch_size, device=device, workers=workers,
                            keep_cols=keep_cols, anomaly_k=anomaly_k, progress=progress, columns=columns, **options)
    if summary.table is not None:
        return summary.table
    if summary.out is None:
        raise RuntimeError("this rank wrote no table (only rank 0 assembles the output)")

    return read_embeddings(summary.out)
