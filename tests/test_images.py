"""The user's own images as a cutout source (issue 17): decoding, catalogue / folder / Parquet sources, the
store they fill, resume, and the ``fetch`` / ``embed`` commands. Offline; tiny images written under tmp_path."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import Table
from click.testing import CliRunner
from PIL import Image

from galzoo_fm.cli import cli
from galzoo_fm.fetch import fetch_images
from galzoo_fm.images import ImageFileError, decode_image_bytes, decode_image_file, open_images
from galzoo_fm.store.reader import CutoutStore

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")  # torchvision 0.29
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

RNG = np.random.default_rng(17)


def rgb(h: int = 32, w: int = 32, c: int = 3) -> np.ndarray:
    """A random ``(H, W, C)`` uint8 image (smooth enough that JPEG keeps it recognisable)."""
    base = RNG.integers(0, 256, (h // 4 + 1, w // 4 + 1, c)).astype(np.uint8)
    arr = base.repeat(4, axis=0).repeat(4, axis=1)[:h, :w]
    return arr if c > 1 else arr[:, :, 0]


def save(path: Path, arr: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def pillow(source: Path | bytes) -> np.ndarray:
    """Pillow's own RGB decode, ``(3, H, W)``."""
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
        return np.moveaxis(np.asarray(im.convert("RGB")), -1, 0)


def csv(path: Path, locs: list[str], **extra: list) -> Path:
    """A catalogue with ``id`` and ``file_loc`` (empty strings stay empty cells)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = {"id": [f"g{i}" for i in range(len(locs))], "file_loc": locs, **extra}
    lines = [",".join(cols)] + [",".join(str(cols[k][i]) for k in cols) for i in range(len(locs))]
    path.write_text("\n".join(lines) + "\n")
    return path


def store(out: Path) -> tuple[CutoutStore, np.ndarray]:
    s = CutoutStore(out)
    return s, s.read(np.arange(len(s)))


def column(s: CutoutStore, name: str) -> list[str]:
    return [str(v) for v in s.table[name]]


def fits_file(path: Path, *hdus) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(list(hdus)).writeto(path)
    return path


def resized(arr_chw: np.ndarray, size: int) -> np.ndarray:
    """Independent reference: torch's antialiased bilinear resize of the float image, rounded."""
    x = torch.from_numpy(arr_chw.astype(np.float32))[None]
    y = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return np.clip(np.round(y[0].numpy()), 0, 255)


# ---------------------------------------------------------------- decoding


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_jpeg_and_png_decode_as_pillow(tmp_path, suffix):
    path = save(tmp_path / f"a{suffix}", rgb(40, 48))
    out = decode_image_file(path)
    assert out.dtype == np.uint8 and out.shape == (3, 40, 48)
    np.testing.assert_array_equal(out, pillow(path))


def test_16bit_png_keeps_values_and_palette_png_gives_colours(tmp_path):
    data = RNG.integers(256, 65536, (32, 40)).astype(np.uint16)
    im = Image.fromarray(data)
    assert im.mode == "I;16"
    out = decode_image_file(save(tmp_path / "u16.png", data))
    assert out.dtype == np.uint16 and out.shape == (1, 32, 40)
    np.testing.assert_array_equal(out[0], data)

    pal = Image.fromarray(rgb()).convert("P", palette=Image.ADAPTIVE, colors=8)
    pal.save(tmp_path / "p.png")
    out = decode_image_file(tmp_path / "p.png")
    assert out.shape == (3, 32, 32)
    np.testing.assert_array_equal(out, np.moveaxis(np.asarray(pal.convert("RGB")), -1, 0))


def test_fits_hdus(tmp_path):
    img = RNG.normal(size=(16, 20)).astype(np.float32)
    cube = RNG.normal(size=(3, 16, 16)).astype(">f4")
    np.testing.assert_array_equal(decode_image_file(fits_file(tmp_path / "p.fits", fits.PrimaryHDU(img)))[0], img)
    ext = fits_file(tmp_path / "e.fits", fits.PrimaryHDU(), fits.ImageHDU(img, name="SCI"))
    np.testing.assert_array_equal(decode_image_file(ext), img[None])
    out = decode_image_file(fits_file(tmp_path / "c.fits", fits.PrimaryHDU(cube)))
    assert out.shape == (3, 16, 16) and out.dtype.isnative
    np.testing.assert_array_equal(out, cube)
    two = fits_file(tmp_path / "two.fits", fits.PrimaryHDU(img), fits.ImageHDU(2 * img, name="WHT"))
    np.testing.assert_array_equal(decode_image_file(two, hdu="WHT")[0], 2 * img)
    np.testing.assert_array_equal(decode_image_file(two)[0], img)
    with pytest.raises(ImageFileError, match="has no HDU 'NOPE'"):
        decode_image_file(two, hdu="NOPE")
    table = fits_file(tmp_path / "t.fits", fits.PrimaryHDU(), fits.BinTableHDU(Table({"a": [1, 2]})))
    with pytest.raises(ImageFileError, match="no HDU holds") as err:
        decode_image_file(table)
    assert str(table) in str(err.value)


def test_bad_bytes_give_clear_errors(tmp_path):
    data = (save(tmp_path / "a.jpg", rgb(64, 64), quality=95)).read_bytes()
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageFileError, match="empty") as err:
        decode_image_file(tmp_path / "empty.png")
    assert "empty.png" in str(err.value)
    with pytest.raises(ImageFileError, match="truncated"):
        decode_image_bytes(data[: len(data) // 2], "half.jpg")
    with pytest.raises(ImageFileError, match="junk.jpg: not an image file"):
        decode_image_bytes(b"this is not an image at all", "junk.jpg")
    with pytest.raises(ImageFileError, match="no such file"):
        decode_image_file(tmp_path / "absent.jpg")


# ---------------------------------------------------------------- catalogue of paths


def test_catalogue_paths_relative_to_its_folder(tmp_path, monkeypatch):
    arrs = [rgb() for _ in range(5)]
    for i, a in enumerate(arrs):
        save(tmp_path / "data" / "img" / f"{i}.jpg", a)
    cat = csv(tmp_path / "data" / "cat.csv", [f"img/{i}.jpg" for i in range(5)], votes=[3, 1, 4, 1, 5])
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    summary = fetch_images(cat, out=tmp_path / "st", column="file_loc", workers=2)
    assert summary.counts == {"ok": 5} and summary.skipped == 0
    s, px = store(tmp_path / "st")
    assert s.manifest["dtype"] == "uint8" and s.shape == (3, 32, 32) and px.dtype == np.float32
    assert column(s, "id") == [f"g{i}" for i in range(5)] and column(s, "status") == ["ok"] * 5
    for i in range(5):
        np.testing.assert_array_equal(px[i], pillow(tmp_path / "data" / "img" / f"{i}.jpg"))
    copy = Table.read(tmp_path / "st" / "catalog.fits")
    assert list(copy["votes"]) == [3, 1, 4, 1, 5] and list(copy["id"]) == [f"g{i}" for i in range(5)]


def test_bad_rows_status_and_reason(tmp_path):
    root = tmp_path / "root"
    save(root / "good.jpg", rgb())
    save(tmp_path / "outside.jpg", rgb())
    jpg = (root / "good.jpg").read_bytes()
    (root / "corrupt.jpg").write_bytes(jpg[:20] + bytes(200))
    locs = ["good.jpg", "missing.jpg", "", "corrupt.jpg", "../outside.jpg", str(tmp_path / "outside.jpg")]
    cat = csv(tmp_path / "cats" / "cat.csv", locs)
    fetch_images(cat, out=tmp_path / "st", column="file_loc", root=root)
    s, _ = store(tmp_path / "st")
    assert column(s, "status") == ["ok", "failed", "invalid", "failed", "invalid", "invalid"]
    reason = column(s, "reason")
    assert "missing.jpg" in reason[1] and "no such file" in reason[1]
    assert "row 2" in reason[2] and "no image path" in reason[2]
    assert "corrupt.jpg" in reason[3]
    assert "../outside.jpg" in reason[4] and "outside the image root" in reason[4]
    assert "outside.jpg" in reason[5] and "outside the image root" in reason[5]
    # without a root the same paths are fine: relative to the catalogue's folder, or absolute
    locs = ["../good.jpg", "../../outside.jpg", str(tmp_path / "outside.jpg")]
    cat2 = csv(tmp_path / "root" / "sub" / "cat.csv", locs)
    fetch_images(cat2, out=tmp_path / "st2", column="file_loc")
    assert column(CutoutStore(tmp_path / "st2"), "status") == ["ok"] * 3


def test_other_sizes_channels_and_depths_are_conformed(tmp_path):
    first, big = rgb(32, 32), rgb(40, 48)
    grey, rgba = rgb(32, 32, 1), rgb(32, 32, 4)
    deep = RNG.integers(256, 65536, (32, 32)).astype(np.uint16)
    paths = [save(tmp_path / "a.jpg", first), save(tmp_path / "big.jpg", big), save(tmp_path / "grey.png", grey),
             save(tmp_path / "rgba.png", rgba), save(tmp_path / "deep.png", deep)]
    cat = csv(tmp_path / "cat.csv", [p.name for p in paths])
    fetch_images(cat, out=tmp_path / "st", column="file_loc")
    s, px = store(tmp_path / "st")
    assert s.manifest["dtype"] == "uint8" and column(s, "status") == ["ok"] * 5
    reason = column(s, "reason")
    assert reason[0] == ""
    assert "resized from 48x40 to 32x32" in reason[1]
    np.testing.assert_array_equal(px[1], resized(pillow(paths[1]).astype(np.float32), 32))
    assert "grey replicated" in reason[2]
    np.testing.assert_array_equal(px[2], np.repeat(grey[None], 3, axis=0))
    assert "alpha plane dropped" in reason[3]
    np.testing.assert_array_equal(px[3], np.moveaxis(rgba[..., :3], -1, 0))
    assert "16-bit scaled to 8-bit" in reason[4] and "grey replicated" in reason[4]
    np.testing.assert_array_equal(px[4], np.repeat(np.round(deep / 257.0)[None], 3, axis=0))


def test_16bit_first_store_is_uint16(tmp_path):
    deep = RNG.integers(256, 65536, (32, 32)).astype(np.uint16)
    save(tmp_path / "deep.png", deep)
    save(tmp_path / "b.png", rgb(32, 32, 1))
    fetch_images(csv(tmp_path / "cat.csv", ["deep.png", "b.png"]), out=tmp_path / "st", column="file_loc")
    s, px = store(tmp_path / "st")
    assert s.manifest["dtype"] == "uint16" and s.shape == (1, 32, 32)
    np.testing.assert_array_equal(px[0, 0], deep)
    assert "8-bit scaled to 16-bit" in column(s, "reason")[1]
    np.testing.assert_array_equal(px[1, 0], np.asarray(Image.open(tmp_path / "b.png"), np.float32) * 257)


# ---------------------------------------------------------------- folders


def test_folder_source_sorted_nested_stems(tmp_path):
    names = ["b/z.jpg", "a/y.png", "a/deeper/x.jpeg", "c.jpg"]
    for n in names:
        save(tmp_path / "imgs" / n, rgb())
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    fetch_images(tmp_path / "imgs", out=tmp_path / "st")
    s, px = store(tmp_path / "st")
    order = sorted(names)
    assert column(s, "id") == [Path(n).stem for n in order]
    for i, n in enumerate(order):
        np.testing.assert_array_equal(px[i], pillow(tmp_path / "imgs" / n))
    for n in ("one/gal.jpg", "two/gal.jpg", "two/other.png"):
        save(tmp_path / "dups" / n, rgb())
    assert list(open_images(tmp_path / "dups").catalog.ids) == ["one/gal", "two/gal", "two/other"]


# ---------------------------------------------------------------- Parquet


def _parquet_rows(n: int) -> tuple[list[bytes], dict]:
    blobs = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rgb()).save(buf, format="JPEG")
        blobs.append(buf.getvalue())
    struct = pa.array([{"bytes": b, "path": f"{i}.jpg"} for i, b in enumerate(blobs)],
                      type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    return blobs, {"id": [f"p{i}" for i in range(n)], "image": pa.array(blobs, pa.binary()), "hf": struct,
                   "smooth": pa.array(np.arange(n) * 2, pa.int64()), "featured": pa.array(np.arange(n), pa.int32())}


@pytest.mark.parametrize("col", ["image", "hf"])
def test_parquet_bytes_row_groups_and_catalog(tmp_path, col):
    blobs, cols = _parquet_rows(5)
    pq.write_table(pa.table(cols), tmp_path / "one.parquet", row_group_size=2)
    assert pq.ParquetFile(tmp_path / "one.parquet").num_row_groups == 3
    fetch_images(tmp_path / "one.parquet", out=tmp_path / "st", column=col)
    s, px = store(tmp_path / "st")
    assert column(s, "status") == ["ok"] * 5 and column(s, "id") == [f"p{i}" for i in range(5)]
    for i, b in enumerate(blobs):
        np.testing.assert_array_equal(px[i], pillow(b))
    copy = Table.read(tmp_path / "st" / "catalog.fits")
    assert set(copy.colnames) >= {"id", "smooth", "featured"} and not {"image", "hf"} & set(copy.colnames)
    assert list(copy["smooth"]) == [0, 2, 4, 6, 8] and list(copy["id"]) == [f"p{i}" for i in range(5)]


def test_parquet_folder_of_shards_and_missing_cells(tmp_path):
    blobs, cols = _parquet_rows(6)
    table = pa.table(cols)
    image = table.column("image").to_pylist()
    image[4] = None
    table = table.set_column(table.schema.get_field_index("image"), "image", pa.array(image, pa.binary()))
    (tmp_path / "shards").mkdir()
    pq.write_table(table.slice(0, 3), tmp_path / "shards" / "train-0.parquet", row_group_size=2)
    pq.write_table(table.slice(3), tmp_path / "shards" / "train-1.parquet", row_group_size=2)
    fetch_images(tmp_path / "shards", out=tmp_path / "st", column="image")
    s, px = store(tmp_path / "st")
    assert column(s, "id") == [f"p{i}" for i in range(6)]
    assert column(s, "status") == ["ok"] * 4 + ["invalid", "ok"]
    assert "train-1.parquet" in column(s, "reason")[4] and "no image" in column(s, "reason")[4]
    for i in (0, 2, 3, 5):
        np.testing.assert_array_equal(px[i], pillow(blobs[i]))
    assert list(Table.read(tmp_path / "st" / "catalog.fits")["smooth"]) == [0, 2, 4, 6, 8, 10]
    with pytest.raises(ValueError, match=r"no column 'imag'.*did you mean 'image'.*columns are: id, image, hf"):
        open_images(tmp_path / "shards", column="imag")


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("col, message", [
    ("file_lo", r"has no column 'file_lo' \(did you mean 'file_loc'\?\); its columns are: id, file_loc, blank, n"),
    ("blank", "'blank' of .* is empty: no row names an image file"),
    ("n", "'n' of .* holds int64 values, not image file paths"),
])
def test_catalogue_column_errors(tmp_path, col, message):
    save(tmp_path / "a.jpg", rgb())
    cat = csv(tmp_path / "cat.csv", ["a.jpg", "a.jpg"], blank=["", ""], n=[1, 2])
    with pytest.raises(ValueError, match=message):
        open_images(cat, column=col)


def test_cli_catalogue_without_images_or_survey(tmp_path):
    cat = csv(tmp_path / "cat.csv", ["a.jpg"])
    result = CliRunner().invoke(cli, ["fetch", str(cat), "--out", str(tmp_path / "st")])
    assert result.exit_code != 0
    assert "--images" in result.output and "--survey" in result.output


# ---------------------------------------------------------------- FITS source


def test_fits_source_float_store_nan_and_plane_count(tmp_path):
    cube = RNG.normal(10, 1, size=(3, 32, 32)).astype(np.float32)
    holey = cube.copy()
    holey[:, :8] = np.nan  # a quarter of every band missing: more than classify_coverage's 2 %
    fits_file(tmp_path / "a.fits", fits.PrimaryHDU(cube))
    fits_file(tmp_path / "b.fits", fits.PrimaryHDU(holey))
    fits_file(tmp_path / "c.fits", fits.PrimaryHDU(cube[:2]))
    fetch_images(csv(tmp_path / "cat.csv", ["a.fits", "b.fits", "c.fits"]), out=tmp_path / "st", column="file_loc")
    s, px = store(tmp_path / "st")
    assert s.manifest["dtype"] == "float32" and s.shape == (3, 32, 32)
    assert column(s, "status") == ["ok", "partial", "failed"]
    np.testing.assert_array_equal(px[0], cube)
    assert "missing pixels" in column(s, "reason")[1] and "25%" in column(s, "reason")[1]
    np.testing.assert_array_equal(px[1], np.nan_to_num(holey, nan=0.0))  # missing pixels stored as 0
    assert "c.fits" in column(s, "reason")[2] and "2 image planes" in column(s, "reason")[2]


# ---------------------------------------------------------------- resume


def test_resume_redoes_only_failed_rows_and_refuses_other_paths(tmp_path):
    arrs = [rgb() for _ in range(4)]
    for i in (0, 1, 3):
        save(tmp_path / f"{i}.jpg", arrs[i])
    cat = csv(tmp_path / "cat.csv", [f"{i}.jpg" for i in range(4)])
    first = fetch_images(cat, out=tmp_path / "st", column="file_loc")
    assert first.counts == {"ok": 3, "failed": 1} and first.skipped == 0
    save(tmp_path / "2.jpg", arrs[2])
    again = fetch_images(cat, out=tmp_path / "st", column="file_loc")
    assert again.counts == {"ok": 1} and again.skipped == 3 and again.store_counts == {"ok": 4}
    s, px = store(tmp_path / "st")
    assert column(s, "status") == ["ok"] * 4
    np.testing.assert_array_equal(px[2], pillow(tmp_path / "2.jpg"))
    done = fetch_images(cat, out=tmp_path / "st", column="file_loc")
    assert done.counts == {} and done.skipped == 4
    other = csv(tmp_path / "other.csv", ["3.jpg", "2.jpg", "1.jpg", "0.jpg"])
    with pytest.raises(ValueError, match="different settings"):
        fetch_images(other, out=tmp_path / "st", column="file_loc")


# ---------------------------------------------------------------- command line


def _cli_catalogue(tmp_path: Path) -> Path:
    for i in range(3):
        save(tmp_path / "img" / f"{i}.jpg", rgb())
    return csv(tmp_path / "cat.csv", ["img/0.jpg", "img/missing.jpg", "img/1.jpg", "", "img/2.jpg"])


def test_cli_fetch(tmp_path):
    cat = _cli_catalogue(tmp_path)
    result = CliRunner().invoke(cli, ["fetch", str(cat), "--images", "file_loc", "--out", str(tmp_path / "st")])
    assert result.exit_code == 0, result.output
    assert "5 rows recorded" in result.output and "failed 1, invalid 1, ok 3" in result.output
    assert column(CutoutStore(tmp_path / "st"), "status") == ["ok", "failed", "ok", "invalid", "ok"]


def test_cli_embed(tmp_path):
    cat = _cli_catalogue(tmp_path)
    out = tmp_path / "out.fits"
    args = ["embed", str(cat), "--images", "file_loc", "--image-size", "32", "-o", str(out), "--device", "cpu",
            "--workers", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    table = Table.read(out)
    assert list(table["id"]) == [f"g{i}" for i in range(5)]
    assert list(table["status"]) == ["ok", "failed", "ok", "invalid", "ok"]
    emb = np.asarray(table["embedding"])
    assert emb.shape[0] == 5 and np.isfinite(emb[[0, 2, 4]]).all() and np.isnan(emb[[1, 3]]).all()
    assert "missing.jpg" in str(table["reason"][1])
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "already complete" in again.output
