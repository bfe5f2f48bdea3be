"""`galzoo-fm embed` / `embed_catalog`: end to end on a local mosaic, output formats, resume checks, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from _embed_helpers import demo_field, local, tiny_encoder
from _survey_servers import FAST, legacy_server
from astropy.table import Table
from click.testing import CliRunner

from galzoo_fm import Encoder
from galzoo_fm.cli import cli
from galzoo_fm.embedding import embed_catalog, make_plan
from galzoo_fm.embedding.plan import output_path
from galzoo_fm.explore import read_embeddings
from galzoo_fm.store.reader import CutoutStore


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    return demo_field(tmp_path_factory.mktemp("field"))


def test_cli_embeds_every_row_with_a_status(field, tmp_path):
    catalog, mosaic = field
    out = tmp_path / "emb.fits"
    res = run("embed", catalog, "--survey", "local", "--survey-opt", f"path={mosaic}", "--out", out,
              "--image-size", 32, "--batch-size", 8, "--keep-cols", "mag_r")
    assert res.exit_code == 0, res.output
    assert "18 rows with random-init resnet18 (seed 0)" in res.output and "ok 16" in res.output
    assert "invalid 1" in res.output and "off_footprint 1" in res.output and "random-init model" in res.output
    table = read_embeddings(out)
    source = Table.read(catalog)
    assert table.colnames == ["id", "ra", "dec", "mag_r", "embedding", "status", "reason", "flags"]
    assert table["id"].tolist() == source["objid"].tolist()  # catalogue order, no row dropped
    assert table["embedding"].shape == (18, 512) and table["embedding"].dtype == np.float32
    have = np.isfinite(table["embedding"]).all(axis=1)
    assert have.tolist() == [s == "ok" for s in table["status"]]
    assert table["status"][-2:].tolist() == ["off_footprint", "invalid"]
    assert "outside every local image" in table["reason"][-2] and "'dec'" in table["reason"][-1]
    meta = table.meta
    assert meta["MODEL"] == "random-init resnet18 (seed 0)" and meta["PRESRC"] == "survey default"
    assert meta["SURVEY"] == "local" and meta["BANDS"] == "g,r,z" and meta["PIXSCALE"] == pytest.approx(0.262)
    assert meta["CUTSIZE"] == 32 and len(meta["MODELSHA"]) == 64 and meta["GZFMVER"] and meta["DATE"]
    assert (tmp_path / meta["STORE"] / "store.json").is_file()
    assert not (tmp_path / "emb.fits.partial").exists()  # removed once the output is written
    before = out.stat().st_mtime_ns
    res = run("embed", catalog, "--survey", "local", "--survey-opt", f"path={mosaic}", "--out", out,
              "--image-size", 32, "--batch-size", 8, "--keep-cols", "mag_r")  # the same command again
    assert res.exit_code == 0 and "already complete" in res.output and "ok 16" in res.output, res.output
    assert out.stat().st_mtime_ns == before
    res = run("embed", catalog, "--survey", "local", "--survey-opt", f"path={mosaic}", "--out", out)  # another
    assert res.exit_code == 1 and "exists; pass --overwrite to embed again" in res.output, res.output
    assert "overwrite=True" not in res.output


@pytest.mark.parametrize(("batch_size", "block_rows", "workers"), [(5, 7, 2), (2, 18, 1), (1, 13, 3)])
def test_output_equals_encoder_embed_on_preprocessed_cutouts(field, tmp_path, batch_size, block_rows, workers):
    """Also when a block arrives in several pieces (max(4, workers) batches each) around rows without pixels."""
    catalog, mosaic = field
    encoder = tiny_encoder(image_size=32, pixel_scale=0.262 * 1.5)
    table = embed_catalog(catalog, model=encoder, out=tmp_path / "e.ecsv", batch_size=batch_size,
                          block_rows=block_rows, workers=workers,
                          **{k: v for k, v in local(mosaic).items() if k != "survey"}, survey="local")
    assert table.meta["PRESRC"] == "checkpoint" and table.meta["CUTSIZE"] == 48  # 32 px × 1.5 of the field
    store = CutoutStore(tmp_path / "e.ecsv.cutouts")
    ok = store.indices("ok")
    rows = np.asarray(store.table["row"])[ok]
    images = encoder.preprocessor(store.read(ok), bands=list(store.bands), pixel_scale=0.262).images
    expected = encoder.embed(images, batch_size=batch_size, device="cpu")
    np.testing.assert_allclose(np.asarray(table["embedding"])[rows], expected, rtol=1e-4, atol=1e-5)
    assert set(table["flags"][rows].tolist()) == {0} and len(rows) == 16
    assert np.isnan(np.asarray(table["embedding"])[np.setdiff1d(np.arange(len(table)), rows)]).all()


@pytest.fixture(scope="module")
def reference(field, tmp_path_factory):
    catalog, mosaic = field
    folder = tmp_path_factory.mktemp("formats")
    table = embed_catalog(catalog, **local(mosaic), out=folder / "ref.fits", image_size=32, batch_size=8,
                          anomaly_k=3)
    return folder, table


@pytest.mark.parametrize("ext", [".parquet", ".fits", ".ecsv", ".h5"])
def test_every_output_format_round_trips(field, reference, ext):
    catalog, mosaic = field
    folder, ref = reference
    out = folder / f"emb{ext}"
    table = embed_catalog(catalog, **local(mosaic), out=out, store=folder / "ref.fits.cutouts", image_size=32,
                          batch_size=8, anomaly_k=3)  # same blocks and batches: bit-identical vectors
    back = read_embeddings(out)
    for t in (table, back):
        assert t["id"].tolist() == ref["id"].tolist()
        assert t["status"].tolist() == ref["status"].tolist() and t["reason"].tolist() == ref["reason"].tolist()
        np.testing.assert_array_equal(np.asarray(t["embedding"]), np.asarray(ref["embedding"]))
        np.testing.assert_allclose(t["anomaly_score"], ref["anomaly_score"], rtol=1e-6)
        assert t["embedding"].dtype == np.float32
        assert {k: t.meta[k] for k in ("MODELSHA", "PREPROC", "SURVEY", "BANDS")} == {
            k: ref.meta[k] for k in ("MODELSHA", "PREPROC", "SURVEY", "BANDS")}


def test_resume_refuses_another_model_and_reuses_blocks(field, tmp_path):
    catalog, mosaic = field
    out = tmp_path / "e.fits"
    first = embed_catalog(catalog, **local(mosaic), out=out, image_size=32, block_rows=4, keep_partial=True)
    out.unlink()
    with pytest.raises(ValueError, match=r"model weights \(sha256\): earlier run '[0-9a-f]+', this run"):
        embed_catalog(catalog, **local(mosaic), out=out, image_size=32, block_rows=4, seed=5)
    with pytest.warns(UserWarning, match="resuming with the earlier run's block_rows=4"):
        again = embed_catalog(catalog, **local(mosaic), out=out, image_size=32, block_rows=6)
    np.testing.assert_array_equal(np.asarray(again["embedding"]), np.asarray(first["embedding"]))


def test_duplicate_ids_warn_and_keep_both_rows(field, tmp_path):
    _, mosaic = field
    src = Table.read(field[0])[:4]
    src["objid"][1] = src["objid"][0]
    with pytest.warns(UserWarning, match=r"1 id\(s\) appear more than once in column 'objid' \(demo-000\)"):
        table = embed_catalog(src, **local(mosaic), image_size=32)
    assert table["id"].tolist() == ["demo-000", "demo-000", "demo-002", "demo-003"]
    assert np.isfinite(np.asarray(table["embedding"])).all()


@pytest.fixture
def server():
    srv = legacy_server()
    yield srv
    srv.close()


def _legacy(srv):
    return {"survey": "legacy", "survey_options": {"server": f"{srv.url}/viewer/fits-cutout", **FAST}}


def test_bad_input_fails_before_any_download(server, tmp_path):
    good = tmp_path / "cat.ecsv"
    Table({"id": [1, 2], "ra": [10.0, 10.1], "dec": [1.0, 1.0]}).write(good)
    garbage = tmp_path / "garbage.fits"
    garbage.write_bytes(b"not a fits file at all")
    empty = tmp_path / "empty.ecsv"
    Table({"ra": np.zeros(0), "dec": np.zeros(0)}).write(empty)
    nocoords = tmp_path / "nocoords.ecsv"
    Table({"x": [1.0], "y": [2.0]}).write(nocoords)
    ambiguous = tmp_path / "ambiguous.ecsv"
    Table({"ra": [10.0], "RAJ2000": [11.0], "dec": [1.0]}).write(ambiguous)
    same = Table({"ra": [10.0], "RAJ2000": [10.0], "dec": [1.0]})
    cases = [
        (dict(catalog=garbage), r"cannot read catalogue .*garbage.fits"),
        (dict(catalog=tmp_path / "missing.fits"), "does not exist"),
        (dict(catalog=empty), r"empty.ecsv has no rows \(columns: ra, dec\)"),
        (dict(catalog=nocoords), r"cannot find a RA column .* the catalogue has columns: x, y"),
        (dict(catalog=ambiguous), r"ambiguous RA column: ra, RAJ2000 .* columns: ra, RAJ2000, dec"),
        (dict(catalog=good, out=tmp_path / "e.txt"), r"cannot tell the table format .*e.txt"),
        (dict(catalog=good, keep_cols=["nope"]), r"--keep-cols nope not in the catalogue; it has columns: id, ra"),
        (dict(catalog=good, model=tiny_encoder(bands=("g", "r", "i")), layer="ls-dr9"),
         r"needs bands g, r, i but survey 'legacy' layer 'ls-dr9' serves g, r, z: missing i"),
        (dict(catalog=good, layer="dr99"), "unknown legacy layer 'dr99'"),
    ]
    for kwargs, message in cases:
        kwargs.setdefault("out", tmp_path / "e.fits")
        with pytest.raises(ValueError, match=message):
            embed_catalog(**kwargs, **_legacy(server), image_size=32)
    plan = make_plan(same, **_legacy(server), image_size=32)  # equal duplicates are not ambiguous
    plan.survey.close()
    assert plan.catalog.columns["ra"] == "ra" and plan.size == 32
    assert server.log == []  # nothing was downloaded


def test_random_model_uses_survey_bands_and_narrows_the_download(server, tmp_path):
    cat = Table({"id": [1, 2], "ra": [10.0, 10.1], "dec": [1.0, float("nan")]})
    encoder = tiny_encoder(image_size=16)
    table = embed_catalog(cat, model=encoder, **_legacy(server), out=tmp_path / "e.parquet", batch_size=4)
    assert table["status"].tolist() == ["ok", "invalid"]
    assert {r.q("bands") for r in server.log} == {"grz"}  # not griz: only the model's bands are fetched
    assert table.meta["SVBANDS"] == "g,r,z" and table.meta["LAYER"] == "ls-dr10"


def test_cli_reports_bad_input(tmp_path):
    bad = tmp_path / "bad.ecsv"
    Table({"x": [1.0]}).write(bad)
    res = run("embed", bad, "--out", tmp_path / "e.fits")
    assert res.exit_code == 1 and "cannot find a RA column" in res.output and "has columns: x" in res.output


def test_embed_catalog_with_an_in_memory_encoder_keeps_it_usable(field):
    catalog, mosaic = field
    encoder = Encoder("resnet18", in_chans=3, image_size=32, seed=0)
    table = embed_catalog(Table.read(catalog)[:3], model=encoder, survey="local",
                          survey_options={"path": str(mosaic)})
    assert table["embedding"].shape == (3, 512) and table.meta["MODEL"] == "in-memory resnet18"


def test_store_index_resolves_rows_like_the_cutout_store(tmp_path):
    from galzoo_fm.cutout import Cutout, Status
    from galzoo_fm.store.index import StoreIndex
    from galzoo_fm.store.writer import StoreWriter, ensure_manifest

    ensure_manifest(tmp_path, {"shape": [2, 3, 3], "bands": ["g", "r"], "extras": [], "dtype": "float32", "size": 3,
                               "survey": "t", "layer": None, "pixscale": 1.0, "catalog_fingerprint": "x"})
    pix = [np.full((2, 3, 3), v, np.float32) for v in range(6)]
    with StoreWriter(tmp_path, "a", chunk_size=2) as w:
        w.add(0, "a", 1, 1, Cutout.failed("timeout"))
        w.add(1, "b", 1, 1, Cutout(Status.OK, pix[1]))
        w.add(3, "d", 1, 1, Cutout(Status.OFF_FOOTPRINT, reason="no data"))
        w.add(4, "e", 1, 1, Cutout(Status.PARTIAL, pix[4], reason="edge"))
    with StoreWriter(tmp_path, "b", chunk_size=10) as w:
        w.add(0, "a", 1, 1, Cutout(Status.OK, pix[0]))  # a later success replaces the failure
        w.add(1, "b", 1, 1, Cutout.failed("timeout"))  # a later failure does not replace a success
        w.add(5, "f", 1, 1, Cutout(Status.INVALID, reason="bad"))
    index, store = StoreIndex(tmp_path, 6), CutoutStore(tmp_path)
    status, reason = index.status(0, 6)
    assert status.tolist() == ["ok", "ok", "failed", "off_footprint", "partial", "invalid"]
    assert reason.tolist() == ["", "", "not fetched (run the command again to retry)", "no data", "edge", "bad"]
    recorded = dict(zip(np.asarray(store.table["row"]).tolist(), store.status.tolist(), strict=True))
    assert all(recorded[r] == s for r, s in enumerate(status.tolist()) if r in recorded)
    assert index.counts() == store.counts()
    assert np.flatnonzero(index.done()).tolist() == sorted(store.rows_done().tolist())
    assert np.flatnonzero(index.recorded()).tolist() == sorted(np.asarray(store.table["row"]).tolist())
    offsets = index.offsets(0, 6)
    pixels = index.take(offsets)
    assert offsets.tolist() == [0, 1, 4]
    np.testing.assert_array_equal(pixels, np.stack([pix[0], pix[1], pix[4]]))
    np.testing.assert_array_equal(index.take(np.array([4, 2, 0])), np.stack([pix[4], 0 * pix[0], pix[0]]))


def test_failed_rows_keep_progress_and_a_rerun_recomputes_only_their_block(server, tmp_path):
    from galzoo_fm.embedding import run_embedding

    cat = Table({"id": np.arange(6), "ra": 10 + np.arange(6) * 0.01, "dec": np.ones(6)})
    server.inject(lambda r: abs(float(r.q("ra")) - 10.04) < 1e-6, *["500"] * 4)  # row 4 fails all 4 attempts of run 1
    kwargs = dict(model=tiny_encoder(image_size=16), **_legacy(server), out=tmp_path / "e.fits", block_rows=2,
                  batch_size=2)
    first = run_embedding(cat, **kwargs)
    assert first.counts == {"ok": 5, "failed": 1} and "1 failed rows: run again with --overwrite" in str(first)
    assert (tmp_path / "e.fits.partial").is_dir()  # kept for the retry
    second = run_embedding(cat, **kwargs, overwrite=True)
    assert second.counts == {"ok": 6} and second.blocks_skipped == 2 and second.blocks_done == 1
    table = read_embeddings(tmp_path / "e.fits")
    assert np.isfinite(np.asarray(table["embedding"])).all() and not (tmp_path / "e.fits.partial").exists()


@pytest.fixture(scope="module")
def bad_store(tmp_path_factory):
    from _embed_helpers import bad_input_store

    return bad_input_store(tmp_path_factory.mktemp("bad") / "store")


def test_runner_device_path_equals_encoder_embed_of_the_preprocessed_cutouts(bad_store, tmp_path):
    """The tensor path (raw batches preprocessed where the model runs, forced here on the CPU) and the reader
    threads' path give the vectors of ``Encoder.embed(pre(raw).images)``, the preprocessing's flags, and no
    vector only for rows without pixels; NaN, infinite, all-zero, all-NaN and constant-band cutouts included."""
    from _embed_helpers import embed_store

    from galzoo_fm.preprocess import BAD_FLAGS, PreprocessFlag

    encoder = tiny_encoder(image_size=32, pixel_scale=0.262 * 1.25)
    on_device = embed_store(bad_store, encoder, tmp_path / "device", preprocess_on="device")
    threads = embed_store(bad_store, encoder, tmp_path / "threads", preprocess_on="threads", workers=3)
    rows = on_device["rows"]
    have = rows.offsets(0, rows.n_rows)
    raw = rows.take(have)
    assert np.isnan(raw).any() and np.isinf(raw).any()
    expected = encoder.preprocessor(raw, bands=rows.bands, pixel_scale=rows.pixscale)
    vectors = encoder.embed(expected.images, batch_size=4, device="cpu")
    for got in (on_device, threads):
        assert got["status"].tolist() == ["ok"] * 12 + ["partial", "off_footprint", "failed", "ok", "ok", "ok"]
        assert got["reason"][12:15].tolist() == ["edge", "no data", "timeout"]
        np.testing.assert_allclose(got["vectors"][have], vectors, rtol=1e-4, atol=1e-5)
        assert np.isfinite(got["vectors"][have]).all() and np.isnan(got["vectors"][[13, 14]]).all()
        np.testing.assert_array_equal(got["flags"][have], expected.flags)
        assert got["flags"][[13, 14]].tolist() == [0, 0]
        assert got["stats"]["embedded"] == 16 and got["stats"]["without_vector"] == 2
    np.testing.assert_array_equal(on_device["vectors"], threads["vectors"])
    np.testing.assert_array_equal(on_device["flags"], threads["flags"])
    flags = on_device["flags"]
    assert flags[:9].tolist() == [0] * 9 and flags[9] == flags[10] == PreprocessFlag.NONFINITE
    assert flags[11] == PreprocessFlag.EMPTY and flags[12] == PreprocessFlag.CONSTANT
    assert flags[15] & PreprocessFlag.NONFINITE and flags[15] & PreprocessFlag.MOSTLY_MASKED
    assert (flags[11:13] & int(BAD_FLAGS)).all()


def test_runner_rejects_bad_model_options_before_any_download(field, tmp_path):
    catalog, mosaic = field
    for kwargs, error, message in [
        (dict(preprocess_on="gpu"), ValueError, r"preprocess_on must be one of 'device', 'threads' or None"),
        (dict(precision="fp8"), ValueError, "precision must be one of"),
        (dict(compile="yes"), TypeError, "compile must be True or False"),
    ]:
        with pytest.raises(error, match=message):
            embed_catalog(catalog, **local(mosaic), out=tmp_path / "e.fits", image_size=32, **kwargs)
    assert not (tmp_path / "e.fits.cutouts").exists()


def test_preprocess_placement_keeps_photutils_steps_on_the_host():
    import torch

    from galzoo_fm.embedding.runner import preprocess_placement
    from galzoo_fm.preprocess import Preprocessor

    cuda, cpu = torch.device("cuda"), torch.device("cpu")  # a device object needs no GPU
    cheap = Preprocessor(["g", "r", "z"], survey="legacy")
    assert preprocess_placement(cheap, cuda) == "device" and preprocess_placement(cheap, cpu) == "threads"
    assert preprocess_placement(cheap, cpu, "device") == "device"
    for host in (dict(background="background2d"), dict(neighbours="noise"), dict(recentre="com")):
        pre = Preprocessor(["g", "r", "z"], survey="legacy", **host)
        assert preprocess_placement(pre, cuda) == "threads"
        with pytest.raises(ValueError, match="photutils steps run on the host"):
            preprocess_placement(pre, cuda, "device")


def test_output_path_default_is_beside_the_catalogue(tmp_path):
    """The rule behind ``embed --out``'s default: CATALOG without its extension, ``_embeddings.fits``."""
    assert output_path(tmp_path / "cat.csv") == tmp_path / "cat_embeddings.fits"
    assert output_path(str(tmp_path / "sub" / "my.cat.fits")) == tmp_path / "sub" / "my.cat_embeddings.fits"
    assert output_path("cat.ecsv", "vectors.parquet") == type(tmp_path)("vectors.parquet")
    assert output_path("cat.ecsv", "") == type(tmp_path)("cat_embeddings.fits")  # an empty --out: the default
