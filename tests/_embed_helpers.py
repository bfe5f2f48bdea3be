"""Shared pieces of the embedding tests: a small synthetic sky and a tiny encoder with recorded preprocessing."""

from __future__ import annotations

from pathlib import Path

from galzoo_fm import Encoder
from galzoo_fm.datasets.sim.demo import make_demo_field
from galzoo_fm.preprocess import Preprocessor


def demo_field(folder: Path, n_side: int = 4, spacing: int = 30) -> tuple[Path, Path]:
    """A ``local``-survey mosaic and its catalogue (``n_side²`` galaxies + one off-footprint + one NaN row)."""
    return make_demo_field(folder, n_side=n_side, spacing=spacing)


def local(mosaic: Path) -> dict:
    return {"survey": "local", "survey_options": {"path": str(mosaic)}}


def tiny_encoder(image_size: int = 32, pixel_scale: float = 0.262, bands=("g", "r", "z")) -> Encoder:
    pre = Preprocessor(list(bands), image_size=image_size, pixel_scale=pixel_scale, survey="legacy")
    return Encoder("resnet18", in_chans=len(bands), image_size=image_size, preprocessing=pre, bands=list(bands),
                   seed=1)


def bad_input_store(folder: Path, size: int = 40, n_good: int = 9, seed: int = 0) -> Path:
    """A cutout store of galaxies on noise plus problem cutouts, in catalogue order: ``n_good`` galaxies, one
    with NaN pixels, one with an infinite pixel, one all zeros, one with a constant band, one off the
    footprint (no pixels), one failed fetch, one all NaN, then two more galaxies."""
    import numpy as np

    from galzoo_fm.cutout import Cutout, Status
    from galzoo_fm.store.writer import StoreWriter, ensure_manifest

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2

    def galaxy():
        r = rng.uniform(2, 6)
        blob = rng.uniform(0.2, 2.0) * np.exp(-(xx**2 + yy**2) / (2 * r**2))
        return (rng.normal(0, 0.01, (3, size, size)) + blob + 0.003).astype(np.float32)

    nan = galaxy()
    nan[0, 3:6, 10:14] = np.nan
    inf = galaxy()
    inf[2, 20, 20] = np.inf
    constant = galaxy()
    constant[1] = 0.25
    cutouts = ([Cutout(Status.OK, galaxy()) for _ in range(n_good)]
               + [Cutout(Status.OK, nan), Cutout(Status.OK, inf),
                  Cutout(Status.OK, np.zeros((3, size, size), np.float32)),
                  Cutout(Status.PARTIAL, constant, reason="edge"), Cutout(Status.OFF_FOOTPRINT, reason="no data"),
                  Cutout.failed("timeout"), Cutout(Status.OK, np.full((3, size, size), np.nan, np.float32)),
                  Cutout(Status.OK, galaxy()), Cutout(Status.OK, galaxy())])
    ensure_manifest(folder, {"shape": [3, size, size], "bands": ["g", "r", "z"], "extras": [], "dtype": "float32",
                             "size": size, "survey": "t", "layer": None, "pixscale": 0.262, "catalog_fingerprint": "x"})
    with StoreWriter(folder, "a", chunk_size=7) as w:
        for i, c in enumerate(cutouts):
            w.add(i, f"g{i}", 1.0, 1.0, c)
    return folder


def embed_store(store: Path, encoder, folder: Path, *, device="cpu", batch_size: int = 4, block_rows: int = 6,
                workers: int = 2, preprocess_on=None, precision: str = "auto") -> dict:
    """:func:`~galzoo_fm.embedding.runner.embed_blocks` over every block of ``store``: the committed ``vectors``,
    ``flags``, ``status``, ``reason`` in row order, and the stats."""
    import numpy as np

    from galzoo_fm.embedding.partial import PartialRun
    from galzoo_fm.embedding.runner import embed_blocks
    from galzoo_fm.store.index import StoreIndex

    n = sum(1 for _ in _store_rows(store))
    rows = StoreIndex(store, n)
    partial = PartialRun(folder, {"block_rows": block_rows, "batch_size": batch_size})
    stats = embed_blocks(range(partial.n_blocks(n)), rows, partial, encoder.preprocessor, encoder,
                         bands=rows.bands, pixscale=rows.pixscale, device=device, workers=workers,
                         preprocess_on=preprocess_on, precision=precision)
    blocks = partial.committed()
    parts = [partial.read_rows(b) for b in blocks]
    return {"vectors": np.concatenate([partial.read_vectors(b, mmap=False) for b in blocks]),
            **{k: np.concatenate([p[k] for p in parts]) for k in ("flags", "status", "reason")},
            "stats": stats, "rows": rows}


def _store_rows(store: Path):
    from galzoo_fm.store.reader import CutoutStore

    return CutoutStore(store).table["row"]
