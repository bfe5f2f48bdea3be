"""The fetch engine: a catalogue in, a complete cutout store out — concurrent, resumable, shardable.

:func:`fetch_catalog` reads the catalogue, skips rows the store already holds with a final status, records
invalid positions without asking any service, and fetches the rest with a pool of worker threads (the
survey's HTTP session limits requests per host). Finished cutouts are committed to the store in atomic
chunks, so an interrupted run (Ctrl-C, ``kill -9``, a lost node) is resumed by running the same command
again: nothing finished is fetched again, nothing is lost or recorded twice.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from galzoo_fm._utils.checks import positive_int
from galzoo_fm._utils.version import __version__
from galzoo_fm.catalog import Catalog, read_catalog
from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.plugins import get_registry
from galzoo_fm.store.index import StoreIndex
from galzoo_fm.store.writer import StoreWriter, ensure_manifest
from galzoo_fm.store.writer import check_folder as _check_folder
from galzoo_fm.surveys.base import Survey

__all__ = ["IMAGES_CATALOG", "FetchSummary", "build_survey", "fetch_catalog", "fetch_images", "parse_options",
           "parse_shard", "shard_rows", "survey_options"]


@dataclass
class FetchSummary:
    """What a fetch run did.

    Attributes
    ----------
    out : pathlib.Path
        The store folder.
    rows : int
        Catalogue rows in this shard.
    skipped : int
        Rows already in the store with a final status (not fetched again).
    counts : dict
        Rows recorded by this run, per status.
    seconds : float
        Wall time of the fetching.
    interrupted : bool
        The run stopped early (Ctrl-C); run it again to resume.
    store_counts : dict
        Rows per status in the whole store afterwards.
    """

    out: Path
    rows: int
    skipped: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False
    store_counts: dict[str, int] = field(default_factory=dict)

    @property
    def fetched(self) -> int:
        """Rows recorded by this run."""
        return sum(self.counts.values())

    def __str__(self) -> str:
        rate = self.fetched / self.seconds if self.seconds > 0 else 0.0
        per = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "nothing to do"
        total = ", ".join(f"{k} {v}" for k, v in sorted(self.store_counts.items()))
        head = "interrupted: rerun the same command to resume. " if self.interrupted else ""
        return (f"{head}{self.fetched} rows recorded in {self.seconds:.1f} s ({rate:.1f}/s): {per}; "
                f"{self.skipped} already done. Store {self.out}: {total}")


def parse_shard(text: str | tuple[int, int] | None) -> tuple[int, int]:
    """``"i/n"`` (0-based ``i``) → ``(i, n)``; ``None`` → ``(0, 1)``."""
    if text is None:
        return 0, 1
    if isinstance(text, tuple):
        i, n = text
    else:
        try:
            i, n = (int(p) for p in str(text).split("/"))
        except ValueError:
            raise ValueError(f"shard {text!r} must look like i/n, e.g. 0/4 (0-based)") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard {i}/{n} is out of range: need n >= 1 and 0 <= i < n")
    return i, n


def shard_rows(catalog: Catalog, index: int, count: int, by: str = "rows") -> np.ndarray:
    """The catalogue rows of shard ``index`` of ``count``.

    ``by="rows"`` splits by row range; ``by="sky"`` splits into sky regions of equal size (1° declination
    zones ordered by RA, cut into ``count`` runs), so neighbours share frames and caches.
    """
    n = len(catalog)
    if by == "rows":
        return np.arange(index * n // count, (index + 1) * n // count)
    if by == "sky":
        zone = np.floor(np.nan_to_num(catalog.dec, nan=1000.0) + 90.0)
        order = np.lexsort((np.nan_to_num(catalog.ra, nan=1000.0), zone))
        return np.sort(order[index * n // count:(index + 1) * n // count])
    raise ValueError(f"shard_by must be 'rows' or 'sky', got {by!r}")


def parse_options(pairs: list[str] | tuple[str, ...] | None) -> dict[str, str]:
    """``["key=value", ...]`` (``--survey-opt``) → dict; ``ValueError`` for a pair without ``=``."""
    options: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"survey option {pair!r} must look like KEY=VALUE")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


def survey_options(pairs: list[str] | tuple[str, ...] | None = None, *, bands: str | None = None,
                   layer: str | None = None, pixscale: str | None = None) -> dict[str, str]:
    """Survey options from ``--survey-opt KEY=VALUE`` pairs and the ``--bands/--layer/--pixscale`` shortcuts.

    Parameters
    ----------
    pairs : sequence of str, optional
        ``"key=value"`` strings (:func:`parse_options`).
    bands, layer, pixscale : str, optional
        Shortcuts for ``bands=...``, ``layer=...``, ``pixscale=...``; each one given replaces the pair of
        the same key.

    Returns
    -------
    dict
        Option name → value (strings; the survey converts them).

    Raises
    ------
    ValueError
        A pair without ``=``.

    Examples
    --------
    >>> survey_options(["layer=ls-dr9", "bands=grz"], bands="gr")
    {'layer': 'ls-dr9', 'bands': 'gr'}
    """
    options = parse_options(pairs)
    for key, value in (("bands", bands), ("layer", layer), ("pixscale", pixscale)):
        if value is not None:
            options[key] = value
    return options


def build_survey(name: str, options: Mapping[str, Any] | None = None, *, cache_dir: Path | None = None) -> Survey:
    """Build a registered survey; ``cache_dir`` is passed only to surveys that take one.

    Raises
    ------
    TypeError
        If the survey rejects an option: names the caller's unknown options (not ``cache_dir``, which is
        added here) and, when its factory's signature tells them, the options the survey takes.
    """

    factory = get_registry("surveys").entry(name).factory
    given = dict(options or {})
    options = dict(given)
    if cache_dir is not None and "cache_dir" not in options and _accepts(factory, "cache_dir"):
        options["cache_dir"] = cache_dir
    try:
        return factory(**options)
    except TypeError as exc:
        raise TypeError(_rejected(name, factory, given, exc)) from exc


def _rejected(name: str, factory: Any, given: Mapping[str, Any], exc: TypeError) -> str:
    import difflib

    known = survey_option_names(factory)
    unknown = [k for k in given if known is not None and k not in known]
    if not unknown:
        return f"survey {name!r} rejected the options {sorted(given)}: {exc}"
    shown = [k for k in known if k != "cache_dir"]  # the store's cache: set by fetch (cache=, --no-cache)
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, shown, n=1, cutoff=0.6)
        parts.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    what = "option" if len(unknown) == 1 else "options"
    return f"survey {name!r} has no {what} {', '.join(parts)}; its options are: {', '.join(shown)}"


def survey_option_names(factory: Any) -> list[str] | None:
    """The keyword options a survey factory takes, from its signature; ``None`` when it cannot be told.

    A factory with a ``target()`` attribute (the built-in surveys' lazy factories) is inspected through the
    class it returns; for a class, the ``__init__`` signatures along the MRO are followed as long as each
    passes ``**kwargs`` on; when the last one also does, the options the survey class declares
    (:meth:`~galzoo_fm.surveys.Survey.option_settings`) that the signatures do not name are added.
    """
    target = getattr(factory, "target", None)
    if callable(target):
        try:
            factory = target()
        except Exception:
            return None
    if inspect.isclass(factory):
        inits = [k.__dict__["__init__"] for k in factory.__mro__ if k is not object and "__init__" in k.__dict__]
        skip = 1  # self
    else:
        inits, skip = [factory], 0
    names: list[str] = []
    for init in inits:
        try:
            params = list(inspect.signature(init).parameters.values())[skip:]
        except (TypeError, ValueError):
            return None
        names += [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                  and p.name not in names]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names
    # every __init__ passed **kwargs on: a class ends at object (which takes none); a function is open
    return _declared(factory, names) if inspect.isclass(factory) else None


def _declared(cls: type, names: list[str]) -> list[str]:
    try:
        declared = list(cls.option_settings())
    except Exception:  # not a Survey, or an unusual one: the signatures tell
        return names
    return names + [k for k in declared if k not in names]


def _accepts(factory: Any, name: str) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _run_batch(survey: Survey, rows: np.ndarray, ra: np.ndarray, dec: np.ndarray, size: int) -> list[Cutout]:
    try:
        if survey.row_keyed:
            results = survey.fetch_rows(rows, size)
        else:
            results = survey.fetch_batch(ra, dec, size)
        if len(results) != len(ra):
            raise ValueError(f"survey returned {len(results)} cutouts for {len(ra)} positions")
        return results
    except Exception as exc:  # one bad batch must not stop the catalogue: record why, retry next run
        reason = f"{type(exc).__name__}: {exc}"
        return [Cutout.failed(reason) for _ in range(len(ra))]


def fetch_catalog(
    catalog: str | Path | Catalog,
    survey: str | Survey,
    *,
    size: int,
    out: str | Path,
    survey_options: Mapping[str, Any] | None = None,
    workers: int = 4,
    shard: str | tuple[int, int] | None = None,
    shard_by: str = "rows",
    retry_failed: bool = True,
    cache: bool = True,
    chunk_size: int | None = None,
    flush_seconds: float = 10.0,
    progress: bool = False,
    columns: Mapping[str, str | None] | None = None,
    observer: Any = None,
) -> FetchSummary:
    """Fetch cutouts for every row of ``catalog`` into the store at ``out`` (resuming if it exists).

    Parameters
    ----------
    catalog : str, path or Catalog
        The catalogue (see :func:`galzoo_fm.catalog.read_catalog`).
    survey : str or Survey
        A registered survey name (built with ``survey_options``) or a survey object; a row-keyed one (an
        :class:`~galzoo_fm.images.ImageFiles` source: ``row_keyed = True`` and ``fetch_rows(rows, size)``) is
        asked by catalogue row, for every row, whatever its position.
    size : int
        Cutout side in pixels.
    out : str or path
        Store folder; created if needed.
    workers : int
        Concurrent fetches.
    shard : str or (int, int), optional
        ``"i/n"``: handle only shard ``i`` of ``n`` (0-based), written to its own part of the store.
    shard_by : {"rows", "sky"}
        Split by row range or by sky region.
    retry_failed : bool
        Fetch again rows a previous run recorded as ``failed``.
    cache : bool
        Keep raw responses in ``out/cache`` (so rows lost by a crash before their chunk was committed are
        not requested again); surveys without an HTTP cache ignore it.
    chunk_size : int, optional
        Rows per committed chunk (default: about 64 MB of pixels); see :class:`~galzoo_fm.store.writer.StoreWriter`.
    flush_seconds : float
        Commit queued rows at least this often, bounding what a crash can lose.
    progress : bool
        Show a tqdm progress bar (rate, failures).
    columns : mapping, optional
        ``{"id": ..., "ra": ..., "dec": ...}`` column overrides for reading ``catalog``.
    observer : object, optional
        Told what happens, for a consumer running beside the fetch (an embedding that embeds finished
        blocks meanwhile): ``observer.started(rows)`` with the catalogue rows this run will record, once the
        store's manifest exists; ``observer.committed(rows)`` after each committed chunk; and the fetch stops
        as on Ctrl-C (committing what finished) once ``observer.stop_requested`` is true.

    Returns
    -------
    FetchSummary
        Also when interrupted by Ctrl-C (``interrupted=True``), after committing what had finished.
    """
    positive_int(workers, "workers")
    out = Path(out)
    if not isinstance(catalog, Catalog):
        cols = dict(columns or {})
        catalog = read_catalog(catalog, id_col=cols.get("id"), ra_col=cols.get("ra"), dec_col=cols.get("dec"))
    index, count = parse_shard(shard)
    own = isinstance(survey, str)
    if own:

        existed = out.exists()
        _check_folder(out)
        try:
            survey = build_survey(survey, survey_options, cache_dir=out / "cache" if cache else None)
        except Exception:
            if not existed:  # a mistyped survey name or option leaves no empty store folder behind
                for folder in (out / "cache", out):
                    try:
                        folder.rmdir()
                    except OSError:
                        pass
            raise
    try:
        size = survey.check_size(size)
        return _fetch(catalog, survey, size, out, workers, index, count, shard_by, retry_failed,
                      chunk_size, flush_seconds, progress, observer)
    finally:
        if own:
            survey.close()


def _manifest(catalog: Catalog, survey: Survey, size: int) -> dict[str, Any]:

    prov = survey.provenance()
    return {
        "shape": [len(survey.bands), size, size],
        "dtype": str(survey.dtype),
        "bands": list(survey.bands),
        "extras": list(survey.extras),
        "size": size,
        "survey": survey.name,
        "layer": survey.layer,
        "pixscale": survey.pixscale,
        "provenance": prov,
        "catalog": {"source": catalog.source, "rows": len(catalog), "columns": catalog.columns},
        "catalog_fingerprint": catalog.fingerprint(),
        "package_version": __version__,
    }


def _fetch(catalog: Catalog, survey: Survey, size: int, out: Path, workers: int, index: int, count: int,
           shard_by: str, retry_failed: bool, chunk_size: int | None, flush_seconds: float,
           progress: bool, observer: Any = None) -> FetchSummary:
    from tqdm.auto import tqdm

    ensure_manifest(out, _manifest(catalog, survey, size))
    rows = shard_rows(catalog, index, count, shard_by)
    recorded = StoreIndex(out, len(catalog))  # about 13 bytes per row, whatever the store holds per row
    done = recorded.done() if retry_failed else recorded.recorded()
    del recorded
    todo = rows[~done[rows]]
    if observer is not None:
        observer.started(todo)
    summary = FetchSummary(out, len(rows), len(rows) - len(todo))
    part = "main" if count == 1 else f"shard-{index:04d}-of-{count:04d}"
    counts = summary.counts
    start = time.monotonic()
    # no "0cutout [00:00, ?cutout/s]" bar when the store is complete already
    bar = tqdm(total=len(todo), unit="cutout", desc="fetch", disable=not progress or len(todo) == 0,
               smoothing=0.05, dynamic_ncols=True)
    on_commit = observer.committed if observer is not None else None
    with StoreWriter(out, part, chunk_size=chunk_size, flush_seconds=flush_seconds, on_commit=on_commit,
                     background=True) as writer:  # chunks written to disk while the workers go on

        def record(row: int, cutout: Cutout) -> None:
            writer.add(row, str(catalog.ids[row]), catalog.ra[row], catalog.dec[row], cutout)
            counts[cutout.status.value] = counts.get(cutout.status.value, 0) + 1
            bar.update(1)

        by_row = survey.row_keyed  # image files need no position: every row is asked for
        for row in ([] if by_row else todo[~catalog.valid[todo]]):
            record(int(row), Cutout(Status.INVALID, reason=str(catalog.reasons[row])))
        valid = todo if by_row else todo[catalog.valid[todo]]
        batch = max(1, int(survey.batch_size))
        batches = [valid[i:i + batch] for i in range(0, len(valid), batch)]
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="galzoo-fetch")
        running: dict[Future, np.ndarray] = {}
        try:
            next_batch = 0
            while next_batch < len(batches) or running:
                if observer is not None and observer.stop_requested:
                    raise KeyboardInterrupt("stop requested")
                while next_batch < len(batches) and len(running) < 2 * workers:
                    sel = batches[next_batch]
                    running[pool.submit(_run_batch, survey, sel, catalog.ra[sel], catalog.dec[sel], size)] = sel
                    next_batch += 1
                # with an observer, look at its stop request twice a second
                finished, _ = wait(running, timeout=flush_seconds if observer is None else min(flush_seconds, 0.5),
                                   return_when=FIRST_COMPLETED)
                for fut in finished:
                    sel = running.pop(fut)
                    for row, cutout in zip(sel, fut.result(), strict=True):
                        record(int(row), cutout)
                bad = sum(counts.get(s, 0) for s in ("failed", "off_footprint", "invalid"))
                bar.set_postfix_str(f"failed {counts.get('failed', 0)}, not ok {bad}", refresh=False)
                if not finished:
                    writer.flush_if_due()  # nothing finished for a while: commit what is queued anyway
        except KeyboardInterrupt:
            summary.interrupted = True
            survey.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
        else:
            pool.shutdown(wait=True)
        finally:
            bar.close()
    summary.seconds = time.monotonic() - start
    summary.store_counts = StoreIndex(out, len(catalog)).counts()
    return summary


#: The catalogue a store of image files keeps beside its cutouts (the source's rows without the image bytes).
IMAGES_CATALOG = "catalog.fits"


def fetch_images(
    source: str | Path,
    *,
    out: str | Path,
    column: str | None = None,
    root: str | Path | None = None,
    size: int | None = None,
    channels: int | None = None,
    bands: str | list[str] | None = None,
    pixscale: float | None = None,
    hdu: str | int | None = None,
    id_col: str | None = None,
    **options: Any,
) -> FetchSummary:
    """Put the user's own images into the cutout store at ``out`` (resuming if it exists).

    The images are decoded (JPEG, PNG 8/16-bit, FITS), brought to one geometry and committed in atomic
    chunks, exactly as :func:`fetch_catalog` commits a survey's cutouts: the same status per row (``failed``
    with the file's problem, retried by the next run; ``invalid`` for a row without a usable path), the
    same resume and sharding. A store of 8-bit images keeps ``uint8`` pixels.

    Parameters
    ----------
    source : str or path
        A catalogue with a ``column`` of image paths, Parquet / Arrow files with a ``column`` of image bytes,
        or a folder of image files: see :func:`galzoo_fm.images.open_images`, which also explains ``root``,
        ``size``, ``channels``, ``bands``, ``pixscale``, ``hdu`` and ``id_col``.
    out : str or path
        Store folder. It also receives ``catalog.fits``: the source's rows (ids, positions when present,
        vote columns, paths; no image bytes) in store row order, the ``[data] catalog`` of training on it.
    **options
        ``workers``, ``shard``, ``shard_by``, ``retry_failed``, ``chunk_size``, ``flush_seconds``,
        ``progress``, as for :func:`fetch_catalog`.

    Returns
    -------
    FetchSummary
    """
    from galzoo_fm._utils.writers import write_table
    from galzoo_fm.images import open_images

    images = open_images(source, column=column, root=root, id_col=id_col, size=size, channels=channels,
                         bands=bands, pixscale=pixscale, hdu=hdu)
    try:
        out = Path(out)
        _check_folder(out)
        copy = out / IMAGES_CATALOG
        if not copy.exists():
            table = images.catalog.table
            keep = [c for c in table.colnames if table[c].dtype.kind != "O"]  # bytes / nested cells stay out
            write_table(table[keep] if keep else table, copy, overwrite=True)
        return fetch_catalog(images.catalog, images, size=images.native_size, out=out, **options)
    finally:
        images.close()
