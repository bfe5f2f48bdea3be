"""Files astronomers' tools accept: fitsverify-clean FITS, VO column metadata, VOTable, the umask, no debris.

Every FITS file the package writes is checked with HEASARC's ``fitsverify`` (Debian package ``fitsverify``,
installed by ``.ci/run``; the tests skip without it unless ``GALZOO_FM_REQUIRE_FITSVERIFY`` is set).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from _embed_helpers import demo_field, local, tiny_encoder
from astropy.io import fits
from astropy.table import Table
from click.testing import CliRunner

from galzoo_fm._utils.atomic import remove_stale_temporaries, temporary_path
from galzoo_fm._utils.tableio import fits_date, read_table, read_table_meta
from galzoo_fm._utils.writers import write_table
from galzoo_fm.cli import cli
from galzoo_fm.embedding import embed_catalog
from galzoo_fm.explore import read_embeddings

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def fitsverify(path: Path, *, vote_columns: bool = False) -> str:
    """Run fitsverify; fail unless it reports 0 warnings and 0 errors.

    ``vote_columns``: the table has Galaxy Zoo vote columns, whose names keep the hyphens of the Galaxy Zoo /
    Zoobot convention (``smooth-or-featured-dr5_smooth``) so that they join with the published catalogues;
    fitsverify's one warning for those ("Name ... contains character '-'", a recommendation of the FITS
    standard, 7.2.2) is then the only warning allowed.
    """
    exe = shutil.which("fitsverify")
    if exe is None:
        if os.environ.get("GALZOO_FM_REQUIRE_FITSVERIFY"):
            pytest.fail("fitsverify is required (GALZOO_FM_REQUIRE_FITSVERIFY) but not installed")
        pytest.skip("fitsverify not installed (apt-get install fitsverify)")
    res = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=120)
    if vote_columns:
        import re

        warned = re.findall(r"\*\*\* Warning: (.*?)(?=\n\s*\n|\n\*\*\*)", res.stdout, re.S)
        other = [w for w in warned if "contains character '-'" not in " ".join(w.split())]
        assert not other and "and 0 error(s)" in res.stdout, res.stdout[-3000:]
        return res.stdout
    assert "0 warning(s) and 0 error(s)" in res.stdout, res.stdout[-3000:]
    return res.stdout


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    return demo_field(tmp_path_factory.mktemp("field"), n_side=3, spacing=30)


@pytest.fixture(scope="module")
def fits_catalog(field, tmp_path_factory):
    """The field's catalogue as FITS, so that its string ids read back as bytes (as any FITS catalogue's do)."""
    catalog, _ = field
    path = tmp_path_factory.mktemp("cat") / "catalog.fits"
    Table.read(catalog).write(path)
    return path


@pytest.fixture(scope="module")
def embedded(field, fits_catalog, tmp_path_factory):
    """One run written as FITS, and the same run as VOTable and Parquet."""
    _, mosaic = field
    folder = tmp_path_factory.mktemp("emb")
    enc = tiny_encoder(image_size=32)
    out = {}
    for ext in ("fits", "vot", "parquet"):
        out[ext] = folder / f"e.{ext}"
        embed_catalog(fits_catalog, model=enc, **local(mosaic), out=out[ext], batch_size=4, block_rows=4, workers=1,
                      store=folder / "store")
    return out


# ------------------------------------------------------------------------------------------------ fitsverify
def test_embedding_table_passes_fitsverify_and_describes_its_columns(embedded):
    path = embedded["fits"]
    fitsverify(path)
    header = fits.getheader(path, 1)
    names = {header[f"TTYPE{i}"]: i for i in range(1, header["TFIELDS"] + 1)}
    assert header[f"TUCD{names['id']}"] == "meta.id;meta.main"
    assert header[f"TUCD{names['ra']}"] == "pos.eq.ra;meta.main" and header[f"TUNIT{names['ra']}"] == "deg"
    assert header[f"TUCD{names['dec']}"] == "pos.eq.dec;meta.main" and header[f"TUNIT{names['dec']}"] == "deg"
    assert all(f"TCOMM{i}" in header for i in names.values())  # every column described
    assert len(header["DATE"]) == 19 and header["DATE"][10] == "T" and "+" not in header["DATE"]
    assert header["LONGSTRN"] == "OGIP 1.0"  # PREPROC is long JSON in CONTINUE cards
    assert json.loads(header["PREPROC"])["image_size"] == 32
    assert header["MODELPIX"] == pytest.approx(0.262)


def test_every_fits_the_package_writes_passes_fitsverify(tmp_path, field, fits_catalog, demo_images):
    from galzoo_fm.datasets.sim.catalogue import write_synthetic

    _, mosaic = field
    fitsverify(mosaic)  # the demo field generator's image
    paths = write_synthetic(tmp_path / "sim", 4, seed=0)  # the synthetic training set's catalogue
    fitsverify(paths[1], vote_columns=True)
    long = Table({"id": np.array(["a", "b"]), "x": [1.5, np.nan], "v": np.ones((2, 3), "f4"),
                  "ok": np.array([True, False]), "n": np.array([1, 2], dtype=np.uint16)},
                 meta={"DATE": fits_date(), "REPORT": json.dumps({"k": list(range(60))}), "LONGNAME": "x" * 200})
    fitsverify(write_table(long, tmp_path / "generic.fits"))  # similar / anomalies / join / prepare tables
    runner = CliRunner()
    res = runner.invoke(cli, ["embed-images", str(demo_images), "--out", str(tmp_path / "images.fits")])
    assert res.exit_code == 0, res.output
    fitsverify(tmp_path / "images.fits")


# ---------------------------------------------------------------------------------------------- VOTable, ids
def test_votable_output_has_vo_metadata_and_the_same_rows(embedded):
    from astropy.io.votable import parse

    a = read_embeddings(embedded["fits"])
    b = read_embeddings(embedded["vot"])
    assert b["id"].tolist() == a["id"].tolist() and b["status"].tolist() == a["status"].tolist()
    np.testing.assert_array_equal(np.asarray(b["embedding"]), np.asarray(a["embedding"]))
    assert b.meta["MODELSHA"] == a.meta["MODELSHA"] and b.meta["NFEAT"] == a.meta["NFEAT"] == 512
    fields = {f.name: f for f in parse(str(embedded["vot"])).get_first_table().fields}
    assert fields["ra"].ucd == "pos.eq.ra;meta.main" and str(fields["ra"].unit) == "deg"
    assert fields["dec"].ucd == "pos.eq.dec;meta.main" and fields["id"].ucd == "meta.id;meta.main"
    assert fields["embedding"].arraysize == "512" and fields["status"].description
    import io

    from astropy.io.votable import validate

    report = io.StringIO()
    assert validate(str(embedded["vot"]), output=report, xmllint=shutil.which("xmllint") is not None), \
        report.getvalue()  # astropy's VOTable validator (and the VOTable 1.4 schema where xmllint exists)


def test_parquet_from_a_fits_catalogue_stores_text_ids(embedded):
    import pyarrow.parquet as pq

    schema = pq.read_schema(embedded["parquet"])
    assert str(schema.field("id").type) == "string"  # not binary: pandas would show b'demo-000'
    frame = pq.read_table(embedded["parquet"]).to_pandas()
    assert frame["id"].iloc[0] == "demo-000"


def test_streamed_votable_equals_astropys_whole_table_votable(tmp_path):
    from galzoo_fm._utils.writers import StreamingWriter

    rng = np.random.default_rng(0)
    t = Table({"id": np.array([f"g{i}" for i in range(11)]), "v": rng.normal(size=(11, 5)).astype("f4"),
               "m": np.ma.masked_array(np.arange(11), np.arange(11) % 3 == 0)}, meta={"K": 3})
    w = StreamingWriter(tmp_path / "s.vot", 11)
    for a, b in ((0, 1), (1, 5), (5, 11)):  # blocks whose byte lengths are not multiples of 3
        w.write(t[a:b])
    back = read_table(w.close())
    whole = read_table(write_table(t, tmp_path / "w.xml"))
    for r in (back, whole):
        assert r["id"].tolist() == t["id"].tolist() and r.meta["K"] == 3
        np.testing.assert_array_equal(np.asarray(r["v"]), t["v"])
        assert r["m"].mask.tolist() == t["m"].mask.tolist()


def test_model_without_pixel_scale_writes_no_modelpix_and_warns(tmp_path):
    from galzoo_fm import Encoder
    from galzoo_fm.preprocess import Preprocessor

    catalog, mosaic = demo_field(tmp_path / "coarse", n_side=2, spacing=30)
    coarse = tmp_path / "coarse" / "demo_mosaic.fits"
    with fits.open(mosaic) as hdul:  # the same pixels at 0.524"/px: another survey's scale
        hdul[0].header["CDELT1"] *= 2
        hdul[0].header["CDELT2"] *= 2
        for key in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
            if key in hdul[0].header:
                hdul[0].header[key] *= 2
        hdul.writeto(coarse, overwrite=True)
    cat = Table.read(catalog)
    cat["ra"] = 150.0 + (cat["ra"] - 150.0) * 2
    cat["dec"] = 2.0 + (cat["dec"] - 2.0) * 2
    cat.write(tmp_path / "coarse.ecsv")
    trained = tiny_encoder(image_size=32, pixel_scale=None)  # input scale recorded (legacy 0.262), no resampling
    with pytest.warns(UserWarning, match="set up for input at 0.262"):
        embed_catalog(tmp_path / "coarse.ecsv", model=trained, **local(coarse), out=tmp_path / "a.fits", workers=1)
    assert "MODELPIX" not in fits.getheader(tmp_path / "a.fits", 1)
    assert read_table_meta(tmp_path / "a.fits")["PIXSCALE"] == pytest.approx(0.524)
    unknown = Encoder("resnet18", in_chans=3, image_size=32, bands=["g", "r", "z"], seed=1,
                      preprocessing=Preprocessor(["g", "r", "z"], image_size=32, softening="noise"))
    with pytest.warns(UserWarning, match="records no pixel scale"):
        embed_catalog(tmp_path / "coarse.ecsv", model=unknown, **local(coarse), out=tmp_path / "b.fits", workers=1)
    assert "MODELPIX" not in fits.getheader(tmp_path / "b.fits", 1)


# ------------------------------------------------------------------------------------------------ the umask
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_honour_the_umask(field, tmp_path, umask):
    import torch

    from galzoo_fm.training.state import capture_rng, save_state

    catalog, mosaic = field
    old = os.umask(umask)
    try:
        embed_catalog(catalog, model=tiny_encoder(image_size=32), **local(mosaic), out=tmp_path / "e.fits",
                      workers=1, keep_partial=True)
        write_table(Table({"a": [1]}), tmp_path / "t.parquet")
        tiny_encoder(image_size=32).save_pretrained(tmp_path / "model")
        from galzoo_fm.training.finetune import FinetuneModel, save_finetuned

        save_finetuned(FinetuneModel(tiny_encoder(image_size=32), "classifier", 2), tmp_path / "head", {"k": 1})
        objective = torch.nn.Module()
        objective.encoder = torch.nn.Linear(2, 2)
        save_state(tmp_path / "ckpt", 1, objective=objective,
                   optimizer=torch.optim.SGD(objective.parameters(), lr=0.1),
                   scheduler=None, rng=[capture_rng()], meta={})
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".lock"]
    kinds = {p.suffix for p in files}
    assert {".fits", ".json", ".npy", ".npz", ".safetensors", ".parquet"} <= kinds
    want = 0o666 & ~umask
    wrong = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
             if stat.S_IMODE(p.stat().st_mode) != want}
    assert not wrong, f"not {oct(want)}: {wrong}"


# ------------------------------------------------------------------------------------------------ debris
def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    out = tmp_path / "e.fits"
    mine = temporary_path(out, ".fits")  # this process: alive
    dead = subprocess.run([sys.executable, "-c", "from galzoo_fm._utils.atomic import temporary_path as t; "
                           f"print(t({str(out)!r}, '.fits'))"], capture_output=True, text=True, check=True)
    dead_tmp = Path(dead.stdout.strip())
    other = tmp_path / f".other.fits.{dead_tmp.name.split('.fits.', 1)[1]}"  # another output's debris
    dead_tmp.rename(tmp_path / dead_tmp.name)
    shutil.copy(tmp_path / dead_tmp.name, other)
    user = tmp_path / ".e.fits.backup"
    user.write_text("the user's own file")
    removed = remove_stale_temporaries(tmp_path, "e.fits")
    assert removed == [tmp_path / dead_tmp.name]
    assert mine.exists() and other.exists() and user.exists()


def test_the_http_cache_removes_killed_writers_temporaries(tmp_path):
    from galzoo_fm._utils.http import DiskCache

    root = tmp_path / "cache"
    entry = DiskCache(root).path("ab" + "0" * 62)
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"cached")
    dead = subprocess.run([sys.executable, "-c", "from galzoo_fm._utils.atomic import temporary_path as t; "
                           f"print(t({str(entry)!r}))"], capture_output=True, text=True, check=True)
    DiskCache._cleaned.discard(root)  # a new process
    DiskCache(root)
    assert not Path(dead.stdout.strip()).exists() and entry.read_bytes() == b"cached"


def _embed_cmd(catalog, mosaic, out, prelude=""):
    code = prelude + "from galzoo_fm.cli import main; main()"
    return [sys.executable, "-c", code, "embed", str(catalog), "--survey", "local", "--survey-opt",
            f"path={mosaic}", "--out", str(out), "--image-size", "32", "--batch-size", "4", "--workers", "1",
            "--no-progress"]


# the output's writer is killed with SIGKILL after writing every row, before the rename
_KILL_IN_WRITE = """
import os, signal
from galzoo_fm._utils import writers
def close(self):
    self._state["fh"].flush()
    os.kill(os.getpid(), signal.SIGKILL)
writers.StreamingWriter.close = close
"""
# killed just after the output was renamed into place, before OUT.partial/ is removed
_KILL_AFTER_RENAME = """
import os, signal
from galzoo_fm.embedding import pipeline
def rmtree(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
pipeline.shutil.rmtree = rmtree
"""


@pytest.mark.parametrize("prelude", [_KILL_IN_WRITE, _KILL_AFTER_RENAME], ids=["in-write", "after-rename"])
def test_rerun_after_a_kill_ends_complete_with_no_debris(field, tmp_path, prelude):
    catalog, mosaic = field
    out = tmp_path / "e.fits"
    killed = subprocess.run(_embed_cmd(catalog, mosaic, out, prelude), env=ENV, capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = sorted(p.name for p in tmp_path.iterdir())
    assert any(n.startswith(".e.fits.") for n in before) or (tmp_path / "e.fits.partial").exists(), before
    again = subprocess.run(_embed_cmd(catalog, mosaic, out), env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    if prelude is _KILL_AFTER_RENAME:
        assert "already complete" in again.stdout
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["e.fits", "e.fits.cutouts"], left  # no .e.fits.* temporaries, no e.fits.partial
    table = read_embeddings(out)
    assert len(table) == 11 and (table["status"] == "ok").sum() == 9
    third = subprocess.run(_embed_cmd(catalog, mosaic, out), env=ENV, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0 and "already complete" in third.stdout, third.stdout + third.stderr


def test_fits_date_has_no_offset():
    import datetime

    when = datetime.datetime(2026, 12, 1, 6, 51, 35, tzinfo=datetime.UTC)
    assert fits_date(when) == "2026-12-01T06:51:35"
    assert fits.Card("DATE", fits_date()).value.count(":") == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from astropy.time import Time

        Time(fits_date(), format="fits")  # astropy's own FITS-date parser accepts it
