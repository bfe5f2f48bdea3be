"""The public-release machinery: download / resume / verify against a loopback host, prepare, join, CLI.

A toy release (a vote CSV and a zip of PNG images, like GZ DECaLS DR5) is defined here and served by
:class:`_release_server.ReleaseServer` on its URL paths, so the real HTTP client code runs: Range requests,
200-instead-of-206, dropped connections, corrupt bodies, 404 / 503, a dead host (no network), a full disk.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import importlib
import io
import json
import math
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _release_server import Fault, ReleaseServer, dead_url
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from click.testing import CliRunner
from PIL import Image

import galzoo_fm
from galzoo_fm import hookimpl
from galzoo_fm._utils.http import HTTPFailure, RetryPolicy
from galzoo_fm.cli import cli
from galzoo_fm.datasets.public import (
    ChecksumError,
    DatasetUnavailableError,
    DiskFullError,
    FolderImages,
    JoinWarning,
    Release,
    ReleaseFormatError,
    RemoteFile,
    ZipImages,
    data_dir,
    download,
    join_campaigns,
    open_release,
    prepare,
    require_columns,
    status,
    to_store_pixels,
    verify,
    verify_release,
)
from galzoo_fm.store.reader import CutoutStore

dl = importlib.import_module("galzoo_fm.datasets.public.download")
FAST = RetryPolicy(retries=3, backoff=0.001, max_wait=0.01)
N = 24
RAW_VOTES = {"smooth-or-featured_smooth": "smooth-or-featured-dr5_smooth",
             "smooth-or-featured_featured-or-disk": "smooth-or-featured-dr5_featured-or-disk",
             "has-spiral-arms_yes": "has-spiral-arms-dr5_yes"}
CAT_PATH = "/records/4196267/files/toy_votes.csv"
IMG_PATH = "/records/4196267/files/toy_images.zip"


# ------------------------------------------------------------------------------------------ toy release
def _images(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """(8, 8, 3) uint8 images; galaxy 5 has none in the archive."""
    return {f"J{i:03d}": rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8) for i in range(N) if i != 5}


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _zip(images: dict[str, np.ndarray], broken: str | None = "J007") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key, arr in images.items():
            zf.writestr(f"dr5/{key[:2]}/{key}.png", b"not a png at all" if key == broken else _png(arr))
        zf.writestr("dr5/README.txt", "toy")
        # incompressible padding, so that a dropped connection leaves some whole 64 KiB blocks behind
        zf.writestr("dr5/padding.bin", np.random.default_rng(1).bytes(300_000))
    return buf.getvalue()


def _csv(rng: np.random.Generator) -> tuple[bytes, Table]:
    t = Table()
    t["iauname"] = [f"J{i:03d}" for i in range(N)]
    t["ra"] = np.round(rng.uniform(0, 360, N), 6)
    t["dec"] = np.round(rng.uniform(-20, 60, N), 6)
    t["png_loc"] = [f"J{i:03d}" if i != 9 else "" for i in range(N)]
    for raw in RAW_VOTES:
        t[raw] = rng.integers(0, 30, N)
    buf = io.StringIO()
    t.write(buf, format="ascii.csv")
    return buf.getvalue().encode(), t


class ToyRelease(Release):
    """A GZ-DECaLS-like toy: votes in a CSV (release column names), PNGs in a zip."""

    name = "toy_dr5"
    title = "Toy Galaxy Zoo release"
    description = "A toy release for tests."
    citation = "Nobody et al. (2026), doi:10.0000/toy"
    licence = "CC BY 4.0"
    homepage = "https://example.org/toy"
    size_on_disk = "≈ 300 kB"
    schema = "decals_dr5"
    bands = ("R", "G", "B")
    pixscale = 0.262

    def catalog(self, folder):
        path = Path(folder) / "toy_votes.csv"
        raw = Table.read(path, format="ascii.csv")
        require_columns(raw.colnames, ["iauname", "ra", "dec", "png_loc", *RAW_VOTES], file=path)
        out = Table({"id": raw["iauname"].astype(str), "ra": raw["ra"].astype(float),
                     "dec": raw["dec"].astype(float),
                     "image": [str(v) if v else "" for v in raw["png_loc"].filled("")]})
        for col in galzoo_fm.get_schema(self.schema).label_cols:
            out[col] = np.zeros(len(raw), np.int64)
        for rawname, col in RAW_VOTES.items():
            out[col] = np.asarray(raw[rawname], np.int64)
        return out

    def open_images(self, folder):
        return ZipImages(Path(folder) / "toy_images.zip")


def _remote(name: str, path: str, body: bytes, algo: str = "md5", kind: str = "catalog") -> RemoteFile:
    return RemoteFile(name, f"https://zenodo.org{path}?download=1", f"{algo}:{hashlib.new(algo, body).hexdigest()}",
                      len(body), kind=kind)


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(7)
    images = _images(rng)
    csv, raw = _csv(rng)
    archive = _zip(images)
    files = (_remote("toy_votes.csv", CAT_PATH, csv), _remote("toy_images.zip", IMG_PATH, archive, "sha256", "images"))
    return {"images": images, "raw": raw, "bodies": {CAT_PATH: csv, IMG_PATH: archive},
            "release": ToyRelease(files=files)}


@pytest.fixture
def host(toy):
    with ReleaseServer(toy["bodies"]) as srv:
        srv.release = toy["release"].with_files(mirror=srv.url)
        yield srv


# ---------------------------------------------------------------------------------------- download
def test_download_verifies_stamps_and_skips_verified_files(host, tmp_path, toy):
    folder = download(host.release, tmp_path / "toy", progress=False, retries=FAST)
    assert (folder / "toy_images.zip").read_bytes() == toy["bodies"][IMG_PATH]
    assert (folder / "toy_votes.csv").read_bytes() == toy["bodies"][CAT_PATH]
    assert [s.state for s in status(host.release, folder)] == ["ok", "ok"]
    assert not list(folder.glob("*.part"))
    n = len(host.requests)
    download(host.release, folder, progress=False, retries=FAST)
    assert len(host.requests) == n  # verified files are neither fetched nor re-requested
    os.utime(folder / "toy_votes.csv", ns=(1, 1))  # touched: the stamp no longer vouches for it
    assert [s.state for s in status(host.release, folder)] == ["unverified", "ok"]
    assert verify(host.release, folder) == [] and status(host.release, folder)[0].state == "ok"
    body = bytearray((folder / "toy_votes.csv").read_bytes())
    body[10] ^= 1
    (folder / "toy_votes.csv").write_bytes(bytes(body))
    problems = verify(host.release, folder)
    assert len(problems) == 1 and "toy_votes.csv: md5 checksum" in problems[0]


def test_dropped_connection_resumes_with_range_in_the_same_run(host, tmp_path, toy):
    host.inject(IMG_PATH, Fault("truncate", after=200_000))
    download(host.release, tmp_path, progress=False, retries=FAST)
    assert (tmp_path / "toy_images.zip").read_bytes() == toy["bodies"][IMG_PATH]
    ranges = host.gets(IMG_PATH)
    assert ranges[0] is None and len(ranges) == 2
    assert ranges[1].startswith("bytes=") and 0 < int(ranges[1][6:-1]) <= 200_000  # continued, not restarted


def test_interrupted_download_leaves_a_part_and_a_rerun_resumes(host, tmp_path, toy):
    body = toy["bodies"][IMG_PATH]
    host.inject(IMG_PATH, *[Fault("truncate", after=len(body) // 2)] * 2)
    with pytest.raises(HTTPFailure, match="run again to resume"):
        download(host.release, tmp_path, progress=False, retries=RetryPolicy(retries=1, backoff=0.001))
    assert not (tmp_path / "toy_images.zip").exists()  # nothing half-written under the final name
    part = tmp_path / "toy_images.zip.part"
    assert 0 < part.stat().st_size < len(body) and body.startswith(part.read_bytes())
    state = {s.name: s for s in status(host.release, tmp_path)}
    assert state["toy_images.zip"].state == "partial" and state["toy_images.zip"].nbytes == part.stat().st_size
    have = part.stat().st_size
    download(host.release, tmp_path, progress=False, retries=FAST)
    assert host.gets(IMG_PATH)[-1] == f"bytes={have}-"
    assert (tmp_path / "toy_images.zip").read_bytes() == body and not part.exists()


def test_host_compressing_on_the_fly_still_gives_the_released_bytes(host, tmp_path, toy):
    host.inject(CAT_PATH, Fault("gzip"))
    download(host.release, tmp_path, progress=False, retries=FAST)
    assert (tmp_path / "toy_votes.csv").read_bytes() == toy["bodies"][CAT_PATH] and len(host.gets(CAT_PATH)) == 1


def test_server_ignoring_range_restarts_from_zero(host, tmp_path, toy):
    body = toy["bodies"][IMG_PATH]
    (tmp_path / "toy_images.zip.part").write_bytes(body[:500])
    host.inject(IMG_PATH, Fault("ignore_range"))
    download(host.release, tmp_path, progress=False, retries=FAST)
    assert host.gets(IMG_PATH) == ["bytes=500-"]
    assert (tmp_path / "toy_images.zip").read_bytes() == body  # not the prefix twice


def test_part_with_wrong_bytes_is_detected_and_fetched_again(host, tmp_path, toy):
    body = toy["bodies"][IMG_PATH]
    (tmp_path / "toy_images.zip.part").write_bytes(b"\0" * 500)  # garbage prefix from elsewhere
    with pytest.warns(UserWarning, match="toy_images.zip .* is corrupt"):
        download(host.release, tmp_path, progress=False, retries=FAST)
    assert host.gets(IMG_PATH) == ["bytes=500-", None]
    assert (tmp_path / "toy_images.zip").read_bytes() == body


def test_complete_part_gets_416_and_is_verified_without_refetching(host, tmp_path, toy):
    body = toy["bodies"][IMG_PATH]
    (tmp_path / "toy_images.zip.part").write_bytes(body)  # killed between the last byte and the rename
    download(host.release, tmp_path, progress=False, retries=FAST)
    assert host.gets(IMG_PATH) == [f"bytes={len(body)}-"]
    assert (tmp_path / "toy_images.zip").read_bytes() == body


def test_file_without_published_checksum_is_downloaded_resumed_and_size_checked(host, tmp_path, toy):
    body = toy["bodies"][IMG_PATH]
    loose = host.release.with_files([RemoteFile("toy_images.zip", host.url + IMG_PATH, None, kind="images")])
    host.inject(IMG_PATH, Fault("truncate", after=200_000))
    download(loose, tmp_path, progress=False, retries=FAST)
    assert (tmp_path / "toy_images.zip").read_bytes() == body and len(host.gets(IMG_PATH)) == 2
    assert [s.state for s in status(loose, tmp_path)] == ["ok"] and verify(loose, tmp_path) == []
    sized = loose.with_files([RemoteFile("toy_images.zip", host.url + IMG_PATH, None, len(body) + 1)])
    (tmp_path / "toy_images.zip").unlink()
    with pytest.warns(UserWarning, match="corrupt"), pytest.raises(ChecksumError, match="size .* expected"):
        download(sized, tmp_path, progress=False, retries=FAST)
    with pytest.raises(DatasetUnavailableError, match="no published checksum"):
        download(loose, tmp_path, offline=True)


def test_corrupt_download_is_fetched_again_then_raises(host, tmp_path, toy):
    host.inject(CAT_PATH, Fault("corrupt"))
    with pytest.warns(UserWarning, match="corrupt .*md5 checksum"):
        download(host.release, tmp_path, progress=False, retries=FAST)
    assert (tmp_path / "toy_votes.csv").read_bytes() == toy["bodies"][CAT_PATH]
    host.inject(IMG_PATH, Fault("corrupt"), Fault("corrupt"))
    (tmp_path / "toy_images.zip").unlink()
    with pytest.warns(UserWarning), pytest.raises(ChecksumError) as err:
        download(host.release, tmp_path, progress=False, retries=FAST)
    expected = host.release.file("toy_images.zip").digest
    got = hashlib.sha256(bytes(b ^ 0xFF for b in toy["bodies"][IMG_PATH][:64]) + toy["bodies"][IMG_PATH][64:])
    assert "toy_images.zip" in str(err.value) and expected in str(err.value) and got.hexdigest() in str(err.value)
    assert not (tmp_path / "toy_images.zip").exists() and not (tmp_path / "toy_images.zip.part").exists()


def test_http_errors_retry_503_and_fail_clearly_on_404(host, tmp_path, toy):
    host.inject(CAT_PATH, Fault("status", status=503), Fault("refuse"))
    download(host.release, tmp_path, progress=False, retries=FAST)
    assert len(host.gets(CAT_PATH)) == 3
    gone = host.release.with_files([RemoteFile("x.csv", host.url + "/moved.csv", "md5:" + "0" * 32)])
    with pytest.raises(HTTPFailure, match=r"moved.csv: HTTP 404.*place it at .*x\.csv") as err:
        download(gone, tmp_path / "g", progress=False, retries=FAST)
    assert err.value.status_code == 404 and len(host.gets("/moved.csv")) == 1  # 404 is not retried


def test_no_network_names_every_file_and_where_to_place_it(tmp_path, toy):
    release = toy["release"].with_files(mirror=dead_url())
    folder = tmp_path / "toy"
    with pytest.raises(DatasetUnavailableError) as err:
        download(release, folder, progress=False, retries=FAST)
    msg = str(err.value)
    assert "cannot reach 127.0.0.1" in msg and "run the same command again" in msg
    for f in release.files:
        assert str(folder / f.name) in msg and f.url in msg and f.checksum in msg
    assert "toy_votes.csv" in msg and f"{len(toy['bodies'][CAT_PATH])} B" in msg
    # the user places the files by hand; the loader then works from them, offline
    (folder / "toy_votes.csv").write_bytes(toy["bodies"][CAT_PATH])
    with pytest.raises(DatasetUnavailableError, match="offline mode") as err:
        download(release, folder, offline=True)
    assert "toy_images.zip" in str(err.value) and str(folder / "toy_votes.csv") not in str(err.value)
    (folder / "toy_images.zip").write_bytes(toy["bodies"][IMG_PATH][:-1] + b"!")
    with pytest.raises(ChecksumError, match="toy_images.zip: sha256 checksum"):
        download(release, folder, offline=True)
    (folder / "toy_images.zip").write_bytes(toy["bodies"][IMG_PATH])
    assert download(release, folder, offline=True) == folder
    assert [s.state for s in status(release, folder)] == ["ok", "ok"]


def test_full_disk_keeps_the_part_and_the_rerun_resumes(host, tmp_path, toy, monkeypatch):
    body = toy["bodies"][IMG_PATH]
    limit = len(body) // 3
    real_open = builtins.open

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            room = limit - self.fh.tell()
            if len(data) > room:
                self.fh.write(data[:max(room, 0)])
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def full_open(path, mode="r", *args, **kw):
        fh = real_open(path, mode, *args, **kw)
        return Full(fh) if str(path).endswith(".zip.part") and "b" in mode and "r" not in mode else fh

    monkeypatch.setattr(dl, "open", full_open, raising=False)
    with pytest.raises(DiskFullError) as err:
        download(host.release, tmp_path, progress=False, retries=FAST)
    assert err.value.errno == errno.ENOSPC and str(tmp_path) in str(err.value)
    assert f"{len(body) - limit} more bytes" in str(err.value)
    assert (tmp_path / "toy_images.zip.part").stat().st_size == limit and not (tmp_path / "toy_images.zip").exists()
    monkeypatch.undo()
    download(host.release, tmp_path, progress=False, retries=FAST)
    assert host.gets(IMG_PATH)[-1] == f"bytes={limit}-"
    assert (tmp_path / "toy_images.zip").read_bytes() == body


def test_not_enough_free_space_is_reported_before_downloading(host, tmp_path, monkeypatch):
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(100, 90, 10))
    with pytest.raises(DiskFullError, match=r"not enough space in .*bytes\) needed, 10 B free"):
        download(host.release, tmp_path, progress=False, retries=FAST)
    assert host.requests == []


def test_a_second_download_into_the_same_folder_is_refused(host, tmp_path):
    import fcntl

    tmp_path.mkdir(exist_ok=True)
    with open(tmp_path / ".download.lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RuntimeError, match=f"another process is downloading into {tmp_path}"):
            download(host.release, tmp_path, progress=False, retries=FAST)
    assert host.requests == []
    download(host.release, tmp_path, progress=False, retries=FAST)  # the lock is free again


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("GALZOO_FM_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "galzoo_fm" / "datasets"
    monkeypatch.setenv("GALZOO_FM_DATA_DIR", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "x") == tmp_path / "x"


def test_remote_file_and_release_validation(monkeypatch, toy):
    with pytest.raises(ValueError, match="checksum 'md5:abc' must be"):
        RemoteFile("a.csv", "https://h/a.csv", "md5:abc")
    with pytest.raises(ValueError, match="plain file name"):
        RemoteFile("../a.csv", "https://h/a.csv", "md5:" + "0" * 32)
    with pytest.raises(ValueError, match="must start with http"):
        RemoteFile("a.csv", "ftp://h/a.csv", "md5:" + "0" * 32)
    with pytest.raises(TypeError, match="unknown attribute 'colour'"):
        ToyRelease(colour="red")
    moved = toy["release"].with_files(mirror="http://127.0.0.1:9/")
    assert moved.file("toy_votes.csv").url == f"http://127.0.0.1:9{CAT_PATH}?download=1"
    assert toy["release"].file("toy_votes.csv").url.startswith("https://zenodo.org/")  # the original is unchanged
    monkeypatch.setenv("GALZOO_FM_DATASETS_MIRROR", "http://mirror.example:8000")
    assert ToyRelease(files=toy["release"].files).file("toy_images.zip").url == (
        f"http://mirror.example:8000{IMG_PATH}?download=1")
    with pytest.raises(ReleaseFormatError, match="lacks 2 column.*: b, c .*columns changed"):
        require_columns(["a"], ["a", "b", "c"], file="x.csv")


def test_release_from_callables_and_image_sources(tmp_path, toy):
    seen = []
    release = Release(name="fn_release", schema="gz2", files=toy["release"].files,
                      catalog=lambda folder: seen.append(folder) or Table({"id": ["a"]}),
                      open_images=lambda folder: FolderImages(folder))
    assert release.catalog(str(tmp_path))["id"].tolist() == ["a"] and seen == [tmp_path]
    with pytest.raises(NotImplementedError, match="does not implement catalog"):
        Release(name="bare").catalog(tmp_path)
    with pytest.raises(ValueError, match="needs a name"):
        Release()
    # an archive extracted by the user reads like the zip itself
    with zipfile.ZipFile(io.BytesIO(toy["bodies"][IMG_PATH])) as zf:
        zf.extractall(tmp_path / "extracted")
    folder, archive = release.open_images(tmp_path / "extracted"), ZipImages(_write(tmp_path / "a.zip",
                                                                                   toy["bodies"][IMG_PATH]))
    assert sorted(folder.keys()) == sorted(archive.keys()) == sorted(toy["images"])
    np.testing.assert_array_equal(folder("J003"), toy["images"]["J003"])
    np.testing.assert_array_equal(archive("J003"), toy["images"]["J003"])
    with pytest.raises(KeyError, match="no image 'J005'"):
        folder("J005")
    with pytest.raises(ValueError, match="J007.png.*not a readable image"):
        archive("J007")
    archive.close()
    (tmp_path / "extracted" / "dr5" / "copy").mkdir()
    (tmp_path / "extracted" / "dr5" / "copy" / "J003.png").write_bytes(b"")
    with pytest.raises(ValueError, match="image key 'J003' names two files"):
        FolderImages(tmp_path / "extracted")


def _write(path: Path, body: bytes) -> Path:
    path.write_bytes(body)
    return path


# ------------------------------------------------------------------------------------------- prepare
@pytest.fixture
def prepared(host, tmp_path):
    folder = tmp_path / "data" / "toy_dr5"
    summary = prepare(host.release, tmp_path / "out", folder=folder, progress=False, retries=FAST, chunk_size=5)
    return summary, folder


def test_prepare_writes_catalogue_and_store_with_statuses(prepared, toy):
    summary, _ = prepared
    cat = Table.read(summary.catalog)
    assert len(cat) == N and list(cat["row"]) == list(range(N)) and list(cat["id"]) == list(toy["raw"]["iauname"])
    schema = galzoo_fm.get_schema("decals_dr5")
    assert set(schema.label_cols) <= set(cat.colnames)
    for rawname, col in RAW_VOTES.items():
        np.testing.assert_array_equal(cat[col], toy["raw"][rawname])
    assert int(np.abs(cat["disk-edge-on-dr5_yes"]).sum()) == 0  # not in the release: 0 votes
    store = CutoutStore(summary.out)
    assert store.shape == (3, 8, 8) and store.bands == ("R", "G", "B")
    assert summary.counts == {"ok": N - 3, "failed": 2, "invalid": 1} and summary.skipped == 0
    st = dict(zip(store.table["row"], zip(store.table["status"], store.table["reason"], strict=True), strict=True))
    assert st[5][0] == "failed" and "no image 'J005'" in st[5][1]
    assert st[7][0] == "failed" and "J007.png in" in st[7][1] and "not a readable image" in st[7][1]
    assert st[9] == ("invalid", "no image in the release")
    ok = store.indices("ok")
    rows = np.asarray(store.table["row"])[ok]
    pixels = store.read(ok)
    for r, px in zip(rows, pixels, strict=True):
        ref = toy["images"][f"J{r:03d}"].transpose(2, 0, 1).astype(np.float32) / 255
        np.testing.assert_array_equal(px, ref)
    np.testing.assert_allclose(store.table["ra"][ok], toy["raw"]["ra"][rows])
    prov = store.manifest["provenance"]
    assert prov["release"] == "toy_dr5" and "doi:10.0000/toy" in prov["citation"]
    assert store.manifest["pixscale"] == pytest.approx(0.262)


def test_prepare_with_threads_writes_the_same_store(prepared, host, tmp_path):
    summary, folder = prepared
    threaded = prepare(host.release, tmp_path / "threaded", folder=folder, progress=False, workers=3, chunk_size=5)
    one, many = CutoutStore(summary.out), CutoutStore(threaded.out)
    for col in ("row", "id", "status", "reason"):
        assert list(one.table[col]) == list(many.table[col])
    np.testing.assert_array_equal(one.read(one.indices("ok")), many.read(many.indices("ok")))
    with pytest.raises(ValueError, match="workers must be a positive integer, got 0"):
        prepare(host.release, tmp_path / "x", folder=folder, workers=0)


def test_prepare_resizes_by_area_averaging(host, tmp_path, toy):
    summary = prepare(host.release, tmp_path / "out4", folder=tmp_path / "d", size=4, progress=False, retries=FAST)
    store = CutoutStore(summary.out)
    assert store.shape == (3, 4, 4) and store.manifest["pixscale"] == pytest.approx(0.262 * 2)
    row0 = int(np.flatnonzero(np.asarray(store.table["row"]) == 0)[0])
    img = toy["images"]["J000"].astype(np.float64) / 255
    ref = img.reshape(4, 2, 4, 2, 3).mean(axis=(1, 3)).transpose(2, 0, 1)
    np.testing.assert_allclose(store.read([row0])[0], ref, atol=1e-6)
    grey = np.arange(16, dtype=np.uint8).reshape(4, 4)
    np.testing.assert_array_equal(to_store_pixels(grey, 3)[2], grey / np.float32(255))
    with pytest.raises(ValueError, match="image has 2 channels, expected 3"):
        to_store_pixels(np.zeros((4, 4, 2), np.uint8), 3)


def test_prepare_resumes_after_interruption(host, tmp_path, toy, monkeypatch):
    folder = tmp_path / "d"
    calls = {"n": 0}
    real = ZipImages.__call__

    def flaky(self, key):
        calls["n"] += 1
        if calls["n"] == 14:
            raise KeyboardInterrupt
        return real(self, key)

    monkeypatch.setattr(ZipImages, "__call__", flaky)
    with pytest.raises(KeyboardInterrupt):
        prepare(host.release, tmp_path / "out", folder=folder, progress=False, retries=FAST, chunk_size=4)
    monkeypatch.undo()
    assert not (tmp_path / "out" / "prepared.json").exists()  # an interrupted run does not look finished
    first = CutoutStore(tmp_path / "out")
    assert 0 < len(first.table) < N
    final = len(first.rows_done())  # failed rows are retried by the next run, the others kept
    summary = prepare(host.release, tmp_path / "out", folder=folder, progress=False, retries=FAST, chunk_size=4)
    assert summary.skipped == final and sum(summary.counts.values()) == N - final
    store = CutoutStore(tmp_path / "out")
    assert sorted(store.table["row"]) == list(range(N))  # every row once, none lost
    assert store.counts() == {"ok": N - 3, "failed": 2, "invalid": 1}
    done = json.loads((tmp_path / "out" / "prepared.json").read_text())
    assert done["store_counts"] == store.counts() and done["rows"] == N and done["schema"] == "decals_dr5"


def test_prepare_offline_and_changed_columns(host, tmp_path, toy):
    with pytest.raises(DatasetUnavailableError, match="offline mode") as err:
        prepare(host.release, tmp_path / "out", folder=tmp_path / "d", download=False)
    assert str(tmp_path / "d" / "toy_images.zip") in str(err.value) and host.requests == []
    assert not (tmp_path / "out").exists()
    renamed = toy["bodies"][CAT_PATH].replace(b"png_loc", b"file_loc").replace(b"has-spiral-arms_yes", b"spiral")
    host.files[CAT_PATH] = renamed
    files = [_remote("toy_votes.csv", CAT_PATH, renamed), host.release.file("toy_images.zip")]
    changed = host.release.with_files(files, mirror=host.url)
    with pytest.raises(ReleaseFormatError, match=r"toy_votes.csv lacks 2 column.*png_loc, has-spiral-arms_yes"):
        prepare(changed, tmp_path / "out", folder=tmp_path / "d2", progress=False, retries=FAST)
    assert not (tmp_path / "out" / "catalog.fits").exists()


def test_prepared_store_pretrains_with_the_hybrid_loss(prepared, tmp_path):
    from galzoo_fm.training import pretrain

    summary, _ = prepared
    cfg = {
        "model": {"backbone": "example_smallcnn", "backbone_kwargs": {"width": 8, "depth": 2}, "seed": 0},
        "loss": {"name": "hybrid", "schema": summary.schema,
                 "options": {"projection_hidden": 16, "prediction_hidden": 16, "projection_dim": 8}},
        "data": {"path": str(summary.out), "catalog": str(summary.catalog)},
        "augment": {"crop_scale": [0.8, 1.0]},
        "optim": {"lr": 1e-3, "warmup_steps": 1},
        "train": {"out": str(tmp_path / "run"), "batch_size": 8, "steps": 2, "checkpoint_every": 0},
        "logging": {"every": 1, "progress": False, "tensorboard": False},
    }
    result = pretrain(cfg)
    assert result.step == 2 and math.isfinite(result.metrics["loss"])
    # 21 galaxies with pixels, all with votes in the toy release
    assert result.metrics["labelled_fraction"] > 0


# ---------------------------------------------------------------------------------------------- join
def _sky_images():
    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(150, 151, 6), rng.uniform(2, 3, 6)
    return Table({"id": [f"g{i}" for i in range(6)], "ra": ra, "dec": dec, "z": np.arange(6) / 10})


def test_join_by_id_fills_each_campaign_and_zero_elsewhere():
    images = _sky_images()
    dr5 = Table({"id": ["g1", "g4", "nope"], "smooth-or-featured-dr5_smooth": [5, 6, 7],
                 "smooth-or-featured-dr5_featured-or-disk": [1, 2, 3]})
    gz2 = Table({"id": ["g0", "g4"], "smooth-or-featured-gz2_smooth": [8, 9]})
    with pytest.warns(JoinWarning, match="'decals_dr5': 1 of 3 vote rows matched no image"):
        t, unmatched = join_campaigns(images, {"decals_dr5": dr5, "gz2": (gz2, "gz2")}, return_unmatched=True)
    assert list(t["id"]) == list(images["id"]) and list(t["z"]) == list(images["z"])
    assert list(t["smooth-or-featured-dr5_smooth"]) == [0, 5, 0, 0, 6, 0]
    assert list(t["smooth-or-featured-dr5_featured-or-disk"]) == [0, 1, 0, 0, 2, 0]
    assert list(t["smooth-or-featured-gz2_smooth"]) == [8, 0, 0, 0, 9, 0]
    assert list(t["decals_dr5_matched"]) == [False, True, False, False, True, False]
    assert list(t["gz2_row"]) == [0, -1, -1, -1, 1, -1]
    assert list(unmatched["decals_dr5"]["id"]) == ["nope"] and len(unmatched["gz2"]) == 0
    assert t.meta["join_report"]["decals_dr5"] == {"rows": 3, "matched": 2, "unmatched": 1, "ambiguous": 0,
                                                   "lost_to_nearer": 0}
    schema = galzoo_fm.get_schema("decals_dr5")
    votes = schema.votes_from_table(t)
    assert votes.shape == (6, schema.n_answers) and votes[1, 0] == 5
    evo = join_campaigns(images, {"decals_dr5": dr5[:2], "gz2": gz2}, schema="gz_evo")
    assert set(galzoo_fm.get_schema("gz_evo").label_cols) <= set(evo.colnames)
    assert int(evo["smooth-or-featured-dr12_smooth"].sum()) == 0
    with pytest.raises(ValueError, match="ids appear on more than one vote row, e.g. g1"):
        join_campaigns(images, {"decals_dr5": Table({"id": ["g1", "g1"], "smooth-or-featured-dr5_smooth": [1, 2]})})
    with pytest.raises(ValueError, match="none of schema 'gz2'"):
        join_campaigns(images, {"gz2": dr5})


def test_join_by_sky_uses_tolerance_nearest_and_reports_conflicts():
    images = _sky_images()
    c = SkyCoord(images["ra"] * u.deg, images["dec"] * u.deg)
    off = c.directional_offset_by(0 * u.deg, [0.4, 0.8, 3.0, 0.2, 0.5, 0.0] * u.arcsec)
    dr5 = Table({"ra": off.ra.deg, "dec": off.dec.deg, "smooth-or-featured-dr5_smooth": np.arange(1, 7)})
    dr5.add_row({"ra": off[3].ra.deg, "dec": off[3].dec.deg + 0.6 / 3600, "smooth-or-featured-dr5_smooth": 70})
    dr5.add_row({"ra": np.nan, "dec": 0.0, "smooth-or-featured-dr5_smooth": 80})
    with pytest.warns(JoinWarning, match="3 of 8 vote rows"):
        t = join_campaigns(images, {"decals_dr5": dr5}, on="sky", tolerance=1 * u.arcsec)
    # row 2 is 3" away (beyond 1"); row 6 loses g3 to row 3 (0.2" < 0.8"); row 7 has no position
    assert list(t["smooth-or-featured-dr5_smooth"]) == [1, 2, 0, 4, 5, 6]
    np.testing.assert_allclose(t["decals_dr5_sep"][[0, 1, 3, 4, 5]], [0.4, 0.8, 0.2, 0.5, 0.0], atol=1e-6)
    assert np.isnan(t["decals_dr5_sep"][2])
    rep = t.meta["join_report"]["decals_dr5"]
    assert rep["matched"] == 5 and rep["unmatched"] == 3 and rep["lost_to_nearer"] == 1
    # a looser tolerance takes row 2, and a second image within it makes a match ambiguous
    crowded = images.copy()
    crowded.add_row({"id": "g0b", "ra": off[0].ra.deg, "dec": off[0].dec.deg + 1.5 / 3600, "z": 0.0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JoinWarning)
        t = join_campaigns(crowded, {"decals_dr5": dr5}, on="sky", tolerance=4.0)
    assert t["smooth-or-featured-dr5_smooth"][2] == 3 and t["smooth-or-featured-dr5_smooth"][0] == 1
    assert t.meta["join_report"]["decals_dr5"]["ambiguous"] >= 1


def test_cli_join_writes_the_table_and_reports(tmp_path):
    images = _sky_images()
    images.write(tmp_path / "images.fits")
    Table({"id": ["g2", "zz"], "smooth-or-featured-dr5_smooth": [4, 1]}).write(tmp_path / "dr5.csv", format="ascii.csv")
    Table({"id": ["g0"], "smooth-or-featured-gz2_smooth": [9]}).write(tmp_path / "gz2.ecsv")
    args = ["datasets", "join", str(tmp_path / "images.fits"), "--votes", f"decals_dr5={tmp_path / 'dr5.csv'}",
            "--votes", f"gz2={tmp_path / 'gz2.ecsv'}", "--out", str(tmp_path / "joined.fits"), "--schema", "gz_evo"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "decals_dr5: 1 of 2 vote rows matched, 1 unmatched" in res.output
    t = Table.read(tmp_path / "joined.fits")
    assert t["smooth-or-featured-dr5_smooth"].tolist() == [0, 0, 4, 0, 0, 0]
    assert t["smooth-or-featured-gz2_smooth"].tolist() == [9, 0, 0, 0, 0, 0]
    assert json.loads(t.meta["JOINREP"])["gz2"]["matched"] == 1
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "exists; pass --overwrite to replace it" in res.output
    res = CliRunner().invoke(cli, [*args[:4], "decals_dr5", "--out", str(tmp_path / "x.fits")])
    assert res.exit_code == 1 and "--votes takes SCHEMA=FILE, got 'decals_dr5'" in res.output


# ----------------------------------------------------------------------------------------- CLI, hook
@pytest.fixture
def toy_plugin(host, fresh_plugins):
    release = host.release

    class Plugin:
        @staticmethod
        @hookimpl
        def register_datasets(register):
            register("toy_dr5", lambda: ToyRelease(files=release.files), description="toy release")

    name = fresh_plugins.register_plugin(Plugin(), name="toy-datasets")
    yield name


def test_cli_datasets_list_info_download_prepare(toy_plugin, host, tmp_path):
    assert "toy_dr5" in galzoo_fm.list_datasets() and isinstance(galzoo_fm.get_dataset("toy_dr5"), ToyRelease)
    runner = CliRunner()
    data = str(tmp_path / "data")
    res = runner.invoke(cli, ["datasets", "list", "toy*", "--data-dir", data, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == [{"name": "toy_dr5", "title": "Toy Galaxy Zoo release", "schema": "decals_dr5",
                                       "size": "≈ 300 kB", "state": "not downloaded",
                                       "folder": str(tmp_path / "data" / "toy_dr5")}]
    res = runner.invoke(cli, ["datasets", "info", "toy_dr5", "--data-dir", data])
    assert res.exit_code == 0 and "doi:10.0000/toy" in res.output
    assert str(tmp_path / "data" / "toy_dr5") in res.output and "[missing]" in res.output
    res = runner.invoke(cli, ["datasets", "download", "toy_dr5", "--data-dir", data, "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "all files verified" in res.output
    res = runner.invoke(cli, ["datasets", "list", "toy_*", "--data-dir", data])
    assert res.output.split()[:3] == ["toy_dr5", "decals_dr5", "downloaded"]
    res = runner.invoke(cli, ["datasets", "prepare", "toy_dr5", "--out", str(tmp_path / "s"), "--data-dir", data,
                              "--no-download", "--limit", "10", "--size", "4", "--no-progress", "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "schema = \"decals_dr5\"" in res.output and len(Table.read(tmp_path / "s" / "catalog.fits")) == 10
    assert CutoutStore(tmp_path / "s").shape == (3, 4, 4)
    res = runner.invoke(cli, ["datasets", "verify", "toy_dr5", "--data-dir", data])
    assert res.exit_code == 0 and "2 files verified" in res.output
    res = runner.invoke(cli, ["datasets", "download", "toy_dr5", "--data-dir", str(tmp_path / "x"), "--mirror",
                              dead_url(), "--retries", "0", "--no-progress"])
    assert res.exit_code == 1 and "cannot reach" in res.output and "toy_images.zip" in res.output
    res = runner.invoke(cli, ["plugins", "--json"])
    info = {p["name"]: p for p in json.loads(res.output)}
    assert info["toy-datasets"]["registered"] == {"datasets": ["toy_dr5"]}
    res = runner.invoke(cli, ["datasets", "info", "toy_dr6"])
    assert res.exit_code == 1 and "toy_dr5" in res.output  # suggests the close name


def test_release_functions_take_a_registered_name_and_the_data_folder(toy_plugin, host, tmp_path):
    """What ``datasets download/verify/prepare/info`` rely on: a name and --data-dir/--mirror, no look-up of theirs."""
    from galzoo_fm.datasets.public.describe import describe_dataset

    data = tmp_path / "data"
    assert isinstance(open_release("toy_dr5"), ToyRelease) and open_release(host.release) is host.release
    with pytest.raises(ValueError, match="--mirror 'ftp://x' must start with http:// or https://"):
        open_release("toy_dr5", mirror="ftp://x")
    folder = download("toy_dr5", data=data, progress=False, retries=FAST)
    assert folder == data / "toy_dr5" and [s.state for s in status("toy_dr5", data=data)] == ["ok", "ok"]
    assert verify("toy_dr5", data=data) == []
    report = verify_release("toy_dr5", data=data)
    assert report.ok and report.folder == folder and report.files == 2 and str(report) == "toy_dr5: 2 files verified"
    assert str(data / "toy_dr5") in describe_dataset("toy_dr5", data=data)
    summary = prepare("toy_dr5", tmp_path / "s", data=data, download=False, limit=5, size=4, progress=False)
    assert summary.release == "toy_dr5" and summary.rows == 5 and CutoutStore(tmp_path / "s").shape == (3, 4, 4)
    (folder / "toy_votes.csv").write_bytes(b"changed")
    bad = verify_release("toy_dr5", data=data)
    assert not bad.ok and len(bad.problems) == 1 and str(bad) == bad.problems[0] and "toy_votes.csv" in str(bad)
    with pytest.raises(DatasetUnavailableError, match="cannot reach"):
        download("toy_dr5", data=tmp_path / "x", mirror=dead_url(), retries=0, progress=False)
    with pytest.raises(ValueError, match="toy_dr5"):  # an unknown name suggests the close one
        verify_release("toy_dr6", data=data)


@pytest.mark.remote_data
def test_live_release_files_are_reachable():
    """Each registered release's first file answers a ranged GET at its real host."""
    import requests

    for name in galzoo_fm.list_datasets():
        f = galzoo_fm.get_dataset(name).files[0]
        r = requests.get(f.url, headers={"Range": "bytes=0-0"}, timeout=60, stream=True)
        assert r.status_code in (200, 206), (name, f.url, r.status_code)
        r.close()
