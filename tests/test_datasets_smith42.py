"""The ``smith42_galaxies`` release (AstroPT's ``Smith42/galaxies``) on small local Parquet stand-ins.

The stand-ins have the release's real shard names and columns (``image`` and ``image_crop`` as Hugging Face
``Image`` structs of ``bytes`` and ``path``, ``dr8_id``, ``galaxy_size``), written with pyarrow in row groups
of 3; the images are PNG (exact) and JPEG (compared with Pillow's own decoding) bytes made with Pillow.
Nothing touches the network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _gz_release_fixtures import decoded_rgb, encode_image, pretrain_two_steps
from astropy.table import Table

import galzoo_fm
from galzoo_fm.datasets.public import DatasetUnavailableError, ReleaseFormatError
from galzoo_fm.datasets.public.builtin import UNLABELLED_RELEASES, register_unlabelled_datasets
from galzoo_fm.datasets.public.describe import describe_dataset, describe_datasets
from galzoo_fm.datasets.public.download import download
from galzoo_fm.datasets.public.gz_evo import ParquetImages
from galzoo_fm.datasets.public.prepare import prepare
from galzoo_fm.datasets.public.smith42 import Smith42Galaxies
from galzoo_fm.store.reader import CutoutStore

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
Image = pytest.importorskip("PIL.Image")

ROWS = (7, 5)  # rows per stand-in shard; row groups of 3
GROUP = 3


def _write_release(folder: Path, *, names=None, drop: str | None = None, seed: int = 0) -> dict:
    """Two stand-in shards in ``folder`` (the first PNG, the second JPEG); returns ids and expected pixels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f.name for f in Smith42Galaxies().files[:2]]
    ids, crops, fulls = [], {}, {}
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    for s, (name, n) in enumerate(zip(names, ROWS, strict=True)):
        fmt = "PNG" if s == 0 else "JPEG"
        cols = {"image": [], "image_crop": [], "dr8_id": [], "galaxy_size": []}
        for i in range(n):
            full = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
            crop = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
            full_bytes, crop_bytes = encode_image(full, fmt), encode_image(crop, fmt)
            ident = f"{9000 + s}_{i:04d}"
            key = f"{name}#{i}"
            ids.append(ident)
            crops[key] = crop if fmt == "PNG" else decoded_rgb(crop_bytes)
            fulls[key] = full if fmt == "PNG" else decoded_rgb(full_bytes)
            cols["image"].append({"bytes": full_bytes, "path": f"{ident}.{fmt.lower()}"})
            cols["image_crop"].append({"bytes": crop_bytes, "path": None})
            cols["dr8_id"].append(ident)
            cols["galaxy_size"].append(None if i == 1 else 40 + i)
        arrays = {"image": pa.array(cols["image"], type=image_type),
                  "image_crop": pa.array(cols["image_crop"], type=image_type),
                  "dr8_id": pa.array(cols["dr8_id"], type=pa.string()),
                  "galaxy_size": pa.array(cols["galaxy_size"], type=pa.int64())}
        if drop:
            arrays.pop(drop)
        pq.write_table(pa.table(arrays), folder / name, row_group_size=GROUP)
    return {"ids": ids, "crops": crops, "fulls": fulls, "names": names}


def _two_shards() -> Smith42Galaxies:
    full = Smith42Galaxies()
    return Smith42Galaxies(files=full.files[:2])


def test_release_metadata_files_and_registration():
    release = Smith42Galaxies()
    assert release.name == "smith42_galaxies" and release.schema == "" and release.image_column == "image_crop"
    assert len(release.files) == 237 and release.files[0].name == "train-00000-of-00237.parquet"
    assert release.files[-1].url == ("https://huggingface.co/datasets/Smith42/galaxies/resolve/main/with_crops/"
                                     "train-00236-of-00237.parquet")
    assert all(f.checksum is None and f.size is None for f in release.files)  # not published here
    assert "arXiv:2405.14930" in release.citation and "Smith" in release.citation
    assert "CC BY-SA 4.0" in release.licence
    seen = {}
    register_unlabelled_datasets(lambda name, factory, **meta: seen.setdefault(name, (factory, meta)))
    assert list(seen) == ["smith42_galaxies"] and UNLABELLED_RELEASES == (Smith42Galaxies,)
    assert "smith42_galaxies" in galzoo_fm.list_datasets()
    assert isinstance(galzoo_fm.get_dataset("smith42_galaxies"), Smith42Galaxies)
    assert Smith42Galaxies(image_column="image").image_column == "image"
    with pytest.raises(ValueError, match="image_column 'img' must be one of image_crop, image"):
        Smith42Galaxies(image_column="img")


def test_info_and_list_state_licence_citation_and_no_schema(tmp_path):
    text = describe_dataset("smith42_galaxies", data=tmp_path)
    assert "schema:   none (unlabelled: no vote columns)" in text
    assert "CC BY-SA 4.0" in text and "arXiv:2405.14930" in text
    assert "--no-download" in text and f"(in {tmp_path / 'smith42_galaxies'})" in text
    assert "train-00236-of-00237.parquet" in text and "with_crops/train-00236-of-00237.parquet" in text
    line = next(x for x in describe_datasets(data=tmp_path).splitlines() if x.startswith("smith42_galaxies"))
    assert line.split()[1] == "-"


def test_offline_download_says_what_to_place_where(tmp_path):
    release = _two_shards()
    with pytest.raises(DatasetUnavailableError) as err:
        download(release, tmp_path / "data", offline=True)
    msg = str(err.value)
    assert "without network" in msg and "no published checksum" in msg
    for f in release.files:
        assert str(tmp_path / "data" / f.name) in msg and f.url in msg
    with pytest.raises(DatasetUnavailableError, match="train-00001-of-00237.parquet"):
        prepare(release, tmp_path / "out", folder=tmp_path / "data", download=False, progress=False)


def test_catalog_rows_and_images_from_the_shards(tmp_path):
    fx = _write_release(tmp_path / "data")
    release = _two_shards()
    table = release.catalog(tmp_path / "data")
    assert list(table["id"]) == fx["ids"] and len(table) == sum(ROWS)
    assert list(table["image"]) == list(fx["crops"]) and set(table["split"]) == {"train"}
    assert np.isnan(table["ra"]).all() and np.isnan(table["dec"]).all()
    assert table["galaxy_size"][1] == -1 and table["galaxy_size"][2] == 42  # null → -1
    assert not [c for c in table.colnames if c not in {"id", "ra", "dec", "image", "galaxy_size", "split"}]
    src = release.open_images(tmp_path / "data")
    try:
        for key in reversed(list(fx["crops"])):  # out of order, across row groups and shards
            assert np.array_equal(src(key), fx["crops"][key]), key
    finally:
        src.close()
    full = Smith42Galaxies(files=release.files, image_column="image").open_images(tmp_path / "data")
    try:
        key = f"{fx['names'][1]}#4"
        assert full(key).shape == (12, 12, 3) and np.array_equal(full(key), fx["fulls"][key])
    finally:
        full.close()


def test_prepare_writes_an_unlabelled_catalogue_and_the_crops(tmp_path):
    fx = _write_release(tmp_path / "data")
    summary = prepare(_two_shards(), tmp_path / "out", folder=tmp_path / "data", download=False, progress=False,
                      workers=2)
    assert summary.counts == {"ok": sum(ROWS)} and summary.schema == ""
    assert "unlabelled" in str(summary) and "no vote columns" in str(summary)
    cat = Table.read(summary.catalog)
    assert list(cat["id"]) == fx["ids"] and list(cat["row"]) == list(range(sum(ROWS)))
    assert set(cat.colnames) == {"id", "ra", "dec", "image", "galaxy_size", "split", "row"}  # no votes
    store = CutoutStore(summary.out)
    assert store.shape == (3, 6, 6)
    ok = store.indices("ok")
    rows = np.asarray(store.table["row"])[ok]
    for r, px in zip(rows, store.read(ok), strict=True):
        ref = fx["crops"][str(cat["image"][r])].transpose(2, 0, 1).astype(np.float32) / 255
        np.testing.assert_array_equal(px, ref)


def test_prepare_reads_row_group_by_row_group_with_bounded_memory(tmp_path, monkeypatch):
    """No whole-file reads; at most two row groups of image bytes held; the catalogue reads no image column."""
    _write_release(tmp_path / "data")
    reads: list[tuple[tuple[str, ...], int]] = []
    real = pq.ParquetFile.read_row_group

    def spy(self, i, columns=None, **kw):
        out = real(self, i, columns=columns, **kw)
        reads.append((tuple(columns or ()), out.num_rows))
        return out

    def whole(*args, **kwargs):
        raise AssertionError("a whole shard was read at once")

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    monkeypatch.setattr(pq.ParquetFile, "read", whole)
    monkeypatch.setattr(pq, "read_table", whole)
    held = []
    call = ParquetImages.__call__

    def counting(self, key):
        out = call(self, key)
        held.append(sum(len(c) for c in self._cache.values()))
        return out

    monkeypatch.setattr(ParquetImages, "__call__", counting)
    summary = prepare(_two_shards(), tmp_path / "out", folder=tmp_path / "data", download=False, progress=False)
    assert summary.counts == {"ok": sum(ROWS)}
    assert reads and all(n <= GROUP for _, n in reads)
    catalog_reads = [c for c, _ in reads if "image_crop" not in c]
    assert catalog_reads and all("image" not in c for c in catalog_reads)
    image_reads = [c for c, _ in reads if "image_crop" in c]
    assert all(c == ("image_crop",) for c in image_reads)
    assert len(image_reads) == 3 + 2  # each row group's images read once (7 rows = 3 groups, 5 rows = 2)
    assert held and max(held) <= 2 * GROUP < sum(ROWS)


def test_a_shard_without_image_crop_names_the_file_and_column(tmp_path):
    fx = _write_release(tmp_path / "data", drop="image_crop")
    with pytest.raises(ReleaseFormatError, match=rf"{fx['names'][0]} lacks 1 column.*image_crop"):
        prepare(_two_shards(), tmp_path / "out", folder=tmp_path / "data", download=False, progress=False)
    table = Smith42Galaxies(files=_two_shards().files, image_column="image").catalog(tmp_path / "data")
    assert len(table) == sum(ROWS)  # the full cutouts are still there
    with pytest.raises(ReleaseFormatError, match=r"lacks 1 column.*dr8_id"):
        _write_release(tmp_path / "nodr8", drop="dr8_id")
        _two_shards().catalog(tmp_path / "nodr8")


def test_missing_shards_are_listed_with_their_urls(tmp_path):
    release = _two_shards()
    with pytest.raises(FileNotFoundError, match=r"(?s)1 file\(s\) missing.*train-00001-of-00237\.parquet"):
        (tmp_path / "data").mkdir()
        pq.write_table(pa.table({"dr8_id": ["a"]}), tmp_path / "data" / release.files[0].name)
        release.catalog(tmp_path / "data")


def _doc_config() -> dict:
    import re
    import tomllib

    text = (Path(__file__).parents[1] / "docs" / "datasets" / "smith42_galaxies.rst").read_text()
    block = re.search(r"\.\. code-block:: toml\n\n((?:    .*\n|\n)+)", text).group(1)
    return tomllib.loads("\n".join(line[4:] for line in block.splitlines()))


def test_docs_byol_config_pretrains_on_a_prepared_store(tmp_path):
    cfg = _doc_config()
    assert cfg["loss"]["name"] == "byol" and "schema" not in cfg["loss"] and "preprocess" not in cfg
    assert cfg["data"]["catalog"] == f"{cfg['data']['path']}/catalog.fits"
    _write_release(tmp_path / "data")
    prepare(_two_shards(), tmp_path / "store", folder=tmp_path / "data", size=16, download=False, progress=False)
    result = pretrain_two_steps(cfg, tmp_path / "store", tmp_path / "run", batch_size=4)
    assert result.step == 2 and (result.checkpoint / "encoder" / "config.json").is_file()


def test_cli_list_info_and_offline_prepare(tmp_path):
    from click.testing import CliRunner

    from galzoo_fm.cli import cli

    data = str(tmp_path / "data")
    runner = CliRunner()
    res = runner.invoke(cli, ["datasets", "list", "smith42*", "--data-dir", data])
    assert res.exit_code == 0 and res.output.split()[:3] == ["smith42_galaxies", "-", "not"]
    res = runner.invoke(cli, ["datasets", "info", "smith42_galaxies", "--data-dir", data])
    assert res.exit_code == 0 and "CC BY-SA 4.0" in res.output and "arXiv:2405.14930" in res.output
    res = runner.invoke(cli, ["datasets", "prepare", "smith42_galaxies", "--out", str(tmp_path / "s"),
                              "--data-dir", data, "--no-download", "--no-progress"])
    assert res.exit_code != 0
    assert "without network" in res.output and "train-00236-of-00237.parquet" in res.output
    assert "https://huggingface.co/datasets/Smith42/galaxies/resolve/main/with_crops/" in res.output
