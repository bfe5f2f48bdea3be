"""The built-in Galaxy Zoo releases (GZ DECaLS GZD-5, GZ2, GZ-Evo) end to end on small stand-in files.

The stand-ins (``_gz_release_fixtures``) have the releases' real file names, columns and formats; a
loopback HTTP server serves them on the releases' real URL paths, and the releases are pointed at it with
``Release.with_files(..., mirror=...)`` and the stand-ins' MD5s. Live checks against the real hosts carry
``remote_data``.
"""

from __future__ import annotations

import gzip
import io
import shutil
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from _gz_release_fixtures import pretrain_two_steps, write_gz2, write_gz_decals, write_gz_evo
from _release_server import ReleaseServer
from astropy.table import Table

import galzoo_fm
from galzoo_fm.datasets.public import ReleaseFormatError, RemoteFile
from galzoo_fm.datasets.public.builtin import BUILTIN_RELEASES, register_datasets
from galzoo_fm.datasets.public.download import download, verify
from galzoo_fm.datasets.public.gz2 import GZ2, HART16_COLUMNS
from galzoo_fm.datasets.public.gz_decals import GZDecalsDR5
from galzoo_fm.datasets.public.gz_evo import GZEvo, GZEvoTiny
from galzoo_fm.datasets.public.prepare import prepare


@pytest.fixture
def server():
    """A loopback HTTP file server (Range requests, HEAD) standing in for Zenodo, S3 and the HF hub."""
    with ReleaseServer() as srv:
        yield srv


def _serve(release, fixture, server):
    """The release with every file served by ``server`` (real URL paths) with the fixture's MD5."""
    files = []
    for f in release.files:
        server.files[urlsplit(f.url).path] = fixture.paths[f.name].read_bytes()
        files.append(RemoteFile(f.name, f.url, fixture.checksums[f.name], None, f.kind))
    return release.with_files(files, mirror=server.url)


def _fetch(release, fixture, server, folder):
    served = _serve(release, fixture, server)
    download(served, folder, progress=False)
    assert verify(served, folder) == []
    got = {path for method, path, _ in server.requests if method == "GET"}
    assert got == {urlsplit(f.url).path for f in release.files}
    return served


def test_release_urls_and_checksums_are_the_published_ones():
    dec, gz2, evo = GZDecalsDR5(), GZ2(), GZEvo()
    assert dec.file("gz_decals_volunteers_5.csv").url == (
        "https://zenodo.org/records/4573248/files/gz_decals_volunteers_5.csv")
    assert dec.file("gz_decals_volunteers_5.csv").checksum == "md5:b12e3767b3968f9767d4f4115cc69d4d"
    zips = [f for f in dec.files if f.kind == "images"]
    assert [f.name for f in zips] == [f"gz_decals_dr5_png_part{i}.zip" for i in range(1, 5)]
    assert all(f.checksum is None for f in zips)  # published by Zenodo, but not recorded here
    assert gz2.file("images_gz2.zip").url == "https://zenodo.org/records/3565489/files/images_gz2.zip"
    assert gz2.file("images_gz2.zip").checksum == "md5:bc647032d31e50c798770cf4430525c7"
    hart = gz2.file("gz2_hart16.csv.gz")
    assert hart.url == "https://gz2hart.s3.amazonaws.com/gz2_hart16.csv.gz" and hart.checksum is None
    names = [f.name for f in evo.files]
    assert len(names) == 37 and names[0] == "train-00000-of-00030.parquet"
    assert names[-1] == "test-00006-of-00007.parquet"
    assert evo.files[0].url == ("https://huggingface.co/datasets/mwalmsley/gz_evo/resolve/main/data/"
                                "train-00000-of-00030.parquet")
    assert GZEvoTiny().files[1].url.endswith("/tiny/test-00000-of-00001.parquet")


def test_register_datasets_hook_registers_the_four_releases():
    seen = {}
    register_datasets(lambda name, factory, **meta: seen.setdefault(name, (factory, meta)))
    assert list(seen) == ["gz_decals_dr5", "gz2", "gz_evo", "gz_evo_tiny"]
    for cls, (factory, meta) in zip(BUILTIN_RELEASES, seen.values(), strict=True):
        release = factory()
        assert isinstance(release, cls) and release.name in seen and meta["description"]
        assert set(galzoo_fm.get_schema(release.schema).label_cols)  # the schema exists


def test_gz_decals_download_catalog_images_prepare(tmp_path, server):
    fx = write_gz_decals(tmp_path / "src")
    served = _fetch(GZDecalsDR5(), fx, server, tmp_path / "data")
    table = served.catalog(tmp_path / "data")
    label_cols = galzoo_fm.get_schema("decals_dr5").label_cols
    assert len(table) == len(fx.ids) and list(table["id"]) == fx.ids and list(table["image"]) == fx.ids
    for col in label_cols:  # every GZD-5 answer lands in its -dr5 column, row by row
        expected = fx.votes[col.replace("-dr5_", "_")]
        assert table[col].dtype == np.int64 and np.array_equal(table[col], expected), col
    blank = fx.extra["blank_bar"]
    assert blank.any() and (table["bar-dr5_strong"][blank] == 0).all()  # empty cells: not asked -> 0
    assert np.isclose(table["redshift"][3], 0.02 + 3e-4) and table["campaign"][0] == "gzd5"
    src = served.open_images(tmp_path / "data")
    try:
        for key in (fx.ids[0], fx.ids[101], fx.ids[-1]):  # one from each of three different zips
            assert np.array_equal(src(key), fx.images[key])
        with pytest.raises(KeyError, match="J999"):
            src("J999999.99+999999.9")
    finally:
        src.close()
    summary = prepare(served, tmp_path / "out", folder=tmp_path / "data", size=8, progress=False)
    assert summary.counts == {"ok": len(fx.ids)} and summary.schema == "decals_dr5"
    written = Table.read(tmp_path / "out" / "catalog.fits")
    assert np.array_equal(written["merging-dr5_merger"], fx.votes["merging_merger"])


def test_gz2_download_catalog_images_prepare(tmp_path, server):
    fx = write_gz2(tmp_path / "src", without_image=5)
    served = _fetch(GZ2(), fx, server, tmp_path / "data")
    with pytest.warns(UserWarning, match="5 of 220 galaxies"):
        table = served.catalog(tmp_path / "data")
    assert table.meta["n_without_image"] == 5 and len(table) == 215
    assert list(table["id"]) == fx.ids[:215]  # 18-digit DR7 objids kept exactly (no float rounding)
    assets = fx.extra["assets"]
    assert list(table["image"]) == [assets[i] for i in fx.ids[:215]]
    for col in galzoo_fm.get_schema("gz2").label_cols:
        assert np.array_equal(table[col], fx.votes[HART16_COLUMNS[col]][:215]), col
    # spot check against the raw table, independently of the mapping dict
    i = 17
    assert table["how-rounded-gz2_cigar"][i] == fx.votes["t07_rounded_a18_cigar_shaped_count"][i]
    assert table["spiral-arm-count-gz2_more-than-4"][i] == fx.votes["t11_arms_number_a36_more_than_4_count"][i]
    assert table["bar-gz2_no"][i] == fx.votes["t03_bar_a07_no_bar_count"][i]
    assert table["bulge-size-gz2_no"][i] == fx.votes["t05_bulge_prominence_a10_no_bulge_count"][i]
    artifact = fx.votes["t01_smooth_or_features_a03_star_or_artifact_count"]
    assert table["smooth-or-featured-gz2_artifact"][i] == artifact[i]
    src = served.open_images(tmp_path / "data")
    try:
        key = table["image"][9]
        assert np.array_equal(src(key), fx.images[key])
    finally:
        src.close()
    with pytest.warns(UserWarning):
        summary = prepare(served, tmp_path / "out", folder=tmp_path / "data", progress=False)
    assert summary.counts == {"ok": 215} and summary.schema == "gz2"


def test_gz2_images_from_the_extracted_folder(tmp_path):
    fx = write_gz2(tmp_path, n=30, without_image=0)
    with zipfile.ZipFile(tmp_path / "images_gz2.zip") as zf:
        zf.extractall(tmp_path / "images_gz2")  # the zip holds images_gz2/images/<asset>.jpg
    (tmp_path / "images_gz2.zip").unlink()
    src = GZ2().open_images(tmp_path)
    key = fx.extra["assets"][fx.ids[4]]
    assert np.array_equal(src(key), fx.images[key])
    src.close()


def test_gz_evo_download_catalog_images_prepare(tmp_path, server):
    label_cols = list(galzoo_fm.get_schema("gz_evo").label_cols)
    fx = write_gz_evo(tmp_path / "src", label_cols, n=60)
    served = _fetch(GZEvoTiny(), fx, server, tmp_path / "data")
    table = served.catalog(tmp_path / "data")
    assert list(table["id"]) == fx.ids and len(table) == 120
    for col in label_cols:
        assert table[col].dtype == np.int64 and np.array_equal(table[col], fx.votes[col]), col
    # a GZ2 galaxy has votes only in -gz2 columns: every other campaign's columns are 0
    row = next(i for i, ident in enumerate(fx.ids) if "_gz2_" in ident)
    others = [c for c in label_cols if "-gz2_" not in c.split("_", 1)[0] + "_"]
    assert all(table[c][row] == 0 for c in others)
    assert sum(table[c][row] for c in label_cols if c.split("_", 1)[0].endswith("-gz2")) > 0
    assert set(table["split"]) == {"train", "test"} and table["campaign"][row] == "gz_gz2"
    src = served.open_images(tmp_path / "data")
    try:
        for key in ("test-00000-of-00001.parquet#59", "train-00000-of-00001.parquet#3",
                    "train-00000-of-00001.parquet#40"):  # out of order, across row groups of 16
            assert np.array_equal(src(key), fx.images[key])
        with pytest.raises(KeyError, match="has 60 rows"):
            src("train-00000-of-00001.parquet#60")
    finally:
        src.close()
    summary = prepare(served, tmp_path / "out", folder=tmp_path / "data", limit=20, progress=False)
    assert summary.counts == {"ok": 20} and summary.schema == "gz_evo"


def _rename_csv(path: Path, old: str, new: str) -> None:
    compressed = path.suffix == ".gz"
    text = (gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()).decode()
    header, rest = text.split("\n", 1)
    header = ",".join(new if c == old else c for c in header.split(","))
    data = (header + "\n" + rest).encode()
    path.write_bytes(gzip.compress(data) if compressed else data)


def test_renamed_columns_raise_release_format_error_naming_them(tmp_path):
    write_gz_decals(tmp_path / "dec", n=12)
    _rename_csv(tmp_path / "dec" / "gz_decals_volunteers_5.csv", "bar_weak", "bar_weak-ish")
    _rename_csv(tmp_path / "dec" / "gz_decals_volunteers_5.csv", "iauname", "name")
    with pytest.raises(ReleaseFormatError, match=r"gz_decals_volunteers_5\.csv lacks 2 column.*iauname.*bar_weak"):
        GZDecalsDR5().catalog(tmp_path / "dec")

    write_gz2(tmp_path / "gz2", n=12, without_image=0)
    _rename_csv(tmp_path / "gz2" / "gz2_hart16.csv.gz", "t03_bar_a06_bar_count", "t03_bar_a06_bar_cnt")
    with pytest.raises(ReleaseFormatError, match=r"gz2_hart16\.csv\.gz lacks 1 column.*t03_bar_a06_bar_count"):
        GZ2().catalog(tmp_path / "gz2")

    import pyarrow.parquet as pq

    label_cols = list(galzoo_fm.get_schema("gz_evo").label_cols)
    write_gz_evo(tmp_path / "evo", label_cols, n=8)
    path = tmp_path / "evo" / "test-00000-of-00001.parquet"
    arrow = pq.read_table(path)
    pq.write_table(arrow.rename_columns(["identifier" if c == "id_str" else c for c in arrow.column_names]), path)
    with pytest.raises(ReleaseFormatError, match=r"test-00000-of-00001\.parquet lacks 1 column.*id_str"):
        GZEvoTiny().catalog(tmp_path / "evo")


def test_missing_files_are_listed_with_their_urls(tmp_path):
    write_gz2(tmp_path, n=10, without_image=0)
    (tmp_path / "gz2_hart16.csv.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"gz2_hart16\.csv\.gz\n.*from https://gz2hart\.s3\.amazonaws\.com"):
        GZ2().catalog(tmp_path)
    with pytest.raises(FileNotFoundError, match="gz_decals_dr5_png_part1.zip"):
        GZDecalsDR5().open_images(tmp_path)


def test_negative_vote_counts_are_rejected(tmp_path):
    fx = write_gz_decals(tmp_path, n=6)
    path = fx.paths["gz_decals_volunteers_5.csv"]
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")
    cells[header.index("merging_merger")] = "-3"
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"'merging_merger'.*-3.*row 1"):
        GZDecalsDR5().catalog(tmp_path)


# --------------------------------------------------------------------------- live checks of the real hosts


def _head_bytes(url: str, n: int = 1 << 16) -> bytes:
    import requests

    r = requests.get(url, headers={"Range": f"bytes=0-{n - 1}"}, timeout=60)
    r.raise_for_status()
    return r.content[:n]


@pytest.mark.remote_data
def test_live_gz_decals_header_has_every_column_the_loader_reads():
    url = GZDecalsDR5().file("gz_decals_volunteers_5.csv").url
    header = _head_bytes(url).decode().splitlines()[0].split(",")
    wanted = ["iauname", "ra", "dec"] + [c.replace("-dr5_", "_") for c in galzoo_fm.get_schema("decals_dr5").label_cols]
    assert [c for c in wanted if c not in header] == []


@pytest.mark.remote_data
def test_live_gz2_mapping_download_and_hart16_header(tmp_path):
    release = GZ2()
    mapping = release.with_files([release.file("gz2_filename_mapping.csv")])
    download(mapping, tmp_path, progress=False)  # verifies the recorded MD5
    assert (tmp_path / "gz2_filename_mapping.csv").read_text().splitlines()[0] == "objid,sample,asset_id"
    raw = _head_bytes(release.file("gz2_hart16.csv.gz").url)
    text = gzip.GzipFile(fileobj=io.BytesIO(raw)).read1(1 << 16).decode(errors="replace")
    header = text.splitlines()[0].split(",")
    assert [c for c in ["dr7objid", "ra", "dec", *HART16_COLUMNS.values()] if c not in header] == []


@pytest.mark.remote_data
def test_live_gz_evo_tiny_test_shard(tmp_path):
    import requests

    release = GZEvoTiny()
    f = release.files[1]
    with requests.get(f.url, stream=True, timeout=120) as r, open(tmp_path / f.name, "wb") as out:
        r.raise_for_status()
        shutil.copyfileobj(r.raw, out)
    only_test = release.with_files([f])
    table = only_test.catalog(tmp_path)
    assert len(table) > 100
    src = only_test.open_images(tmp_path)
    assert src(table["image"][0]).ndim == 3
    src.close()


def _doc_config(page: str) -> dict:
    import re
    import tomllib

    text = (Path(__file__).parents[1] / "docs" / "datasets" / f"{page}.rst").read_text()
    block = re.search(r"\.\. code-block:: toml\n\n((?:    .*\n|\n)+)", text).group(1)
    return tomllib.loads("\n".join(line[4:] for line in block.splitlines()))


@pytest.mark.parametrize(("page", "release"), [("gz_decals_dr5", GZDecalsDR5), ("gz2", GZ2), ("gz_evo", GZEvo)])
def test_docs_pretraining_configs_are_valid_for_the_release(page, release):
    from galzoo_fm.training.config import load_config

    config = load_config(_doc_config(page))
    assert config["loss"]["name"] == "hybrid" and config["loss"]["schema"] == release.schema
    assert config["data"]["catalog"] == f"{config['data']['path']}/catalog.fits"
    assert "preprocess" not in _doc_config(page)  # display-stretched colour images: trained as they are


def test_docs_gz_evo_config_pretrains_on_a_prepared_store(tmp_path):
    label_cols = list(galzoo_fm.get_schema("gz_evo").label_cols)
    write_gz_evo(tmp_path / "data", label_cols, n=12)
    prepare(GZEvoTiny(), tmp_path / "store", folder=tmp_path / "data", download=False, progress=False)
    result = pretrain_two_steps(_doc_config("gz_evo"), tmp_path / "store", tmp_path / "run", batch_size=8)
    assert result.step == 2 and (result.checkpoint / "encoder" / "config.json").is_file()
