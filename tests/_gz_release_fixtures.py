"""Small stand-ins for the public Galaxy Zoo releases, with their real file names, columns and formats.

Each ``write_*`` function writes a few hundred galaxies into a folder and returns a :class:`Fixture`: the
paths, each file's MD5 (``"md5:<hex>"``, what :class:`~galzoo_fm.datasets.public.RemoteFile` takes), the
images written (``{key: (H, W, 3) uint8}``) and the vote counts written (``{release column: array}``,
row-aligned with ``ids``), so tests compare the loaders' output with what was written.

Formats (sources in the loaders' module docstrings):

* GZ DECaLS — ``gz_decals_volunteers_5.csv`` (``iauname, ra, dec``, NSA columns, per question
  ``{question}_total-votes`` and per answer ``{question}_{answer}``, ``_fraction``, ``_debiased``) and
  ``gz_decals_dr5_png_part{1..4}.zip`` holding ``J<hhh>/<iauname>.png``;
* GZ2 — ``gz2_hart16.csv.gz`` (Hart et al. 2016 Table 1: ``dr7objid, ra, dec, rastring, decstring, sample,
  gz2_class, total_classifications, total_votes`` and six columns per answer), ``gz2_filename_mapping.csv``
  (``objid, sample, asset_id``) and ``images_gz2.zip`` holding ``images_gz2/images/<asset_id>.jpg``;
* GZ-Evo — Hugging Face Parquet shards: ``image`` (struct of ``bytes``, ``path``), ``id_str``,
  ``dataset_name``, ``ra``, ``dec`` and ``{question}-{campaign}_{answer}`` int32 counts (null where the
  galaxy's campaign did not ask), ``_fraction`` and ``{question}-{campaign}_total-votes``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Fixture", "decoded_rgb", "encode_image", "md5", "pretrain_two_steps", "write_gz2", "write_gz_decals",
           "write_gz_evo"]


@dataclass
class Fixture:
    """What a ``write_*`` function wrote."""

    folder: Path
    paths: dict[str, Path] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    votes: dict[str, np.ndarray] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)

    def add(self, path: Path) -> None:
        self.paths[path.name] = path
        self.checksums[path.name] = "md5:" + md5(path.read_bytes())


def md5(data: bytes) -> str:
    """Hex MD5 of ``data``."""
    return hashlib.md5(data).hexdigest()


def _image(rng: np.random.Generator, size: int = 8) -> np.ndarray:
    return rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def encode_image(arr: np.ndarray, fmt: str) -> bytes:
    """``arr`` ``(H, W, 3)`` uint8 as PNG or JPEG bytes (Pillow)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def decoded_rgb(data: bytes) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 RGB pixels Pillow decodes from ``data`` (the reference for lossy JPEG)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _iauname(ra: float, dec: float) -> str:
    h = ra / 15.0
    hh, mm = int(h), int((h % 1) * 60)
    ss = ((h * 60) % 1) * 60
    sign = "+" if dec >= 0 else "-"
    d = abs(dec)
    dd, dm = int(d), int((d % 1) * 60)
    ds = ((d * 60) % 1) * 60
    return f"J{hh:02d}{mm:02d}{ss:05.2f}{sign}{dd:02d}{dm:02d}{ds:04.1f}"


# GZD-5 questions and answers as in the release (third-party TensorFlow-Datasets builder galaxy_zoo_decals)
DECALS5_QUESTIONS = {
    "smooth-or-featured": ["smooth", "featured-or-disk", "artifact"],
    "disk-edge-on": ["yes", "no"],
    "has-spiral-arms": ["yes", "no"],
    "bar": ["strong", "weak", "no"],
    "bulge-size": ["dominant", "large", "moderate", "small", "none"],
    "how-rounded": ["round", "in-between", "cigar-shaped"],
    "edge-on-bulge": ["boxy", "none", "rounded"],
    "spiral-winding": ["tight", "medium", "loose"],
    "spiral-arm-count": ["1", "2", "3", "4", "more-than-4", "cant-tell"],
    "merging": ["none", "minor-disturbance", "major-disturbance", "merger"],
}
DECALS_NSA = ["redshift", "elpetro_absmag_r", "sersic_nmgy_r", "petro_th50", "petro_th90", "petro_theta",
              "wrong_size_statistic", "wrong_size_warning"]


def write_gz_decals(folder: Path, n: int = 240, *, seed: int = 0, blank_fraction: float = 0.1) -> Fixture:
    """``gz_decals_volunteers_5.csv`` and the four ``gz_decals_dr5_png_part*.zip`` for ``n`` galaxies.

    A ``blank_fraction`` of the ``bar`` answers are empty cells (exercising the not-asked → 0 path).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    fx = Fixture(folder)
    ra = rng.uniform(0, 360, n)
    dec = rng.uniform(-10, 40, n)
    names = []
    for r, d in zip(ra, dec, strict=True):
        name = _iauname(r, d)
        while name in names:  # keep iaunames unique like the release
            d += 1e-3
            name = _iauname(r, d)
        names.append(name)
    fx.ids = names
    header = ["iauname", "ra", "dec", *DECALS_NSA]
    for q, answers in DECALS5_QUESTIONS.items():
        header.append(f"{q}_total-votes")
        for a in answers:
            header += [f"{q}_{a}", f"{q}_{a}_fraction", f"{q}_{a}_debiased"]
    counts = {f"{q}_{a}": rng.integers(0, 40, n) for q, answers in DECALS5_QUESTIONS.items() for a in answers}
    blank = rng.random(n) < blank_fraction
    fx.extra["blank_bar"] = blank
    rows = []
    for i in range(n):
        row = {"iauname": names[i], "ra": f"{ra[i]:.6f}", "dec": f"{dec[i]:.6f}", "redshift": f"{0.02 + i * 1e-4:.5f}",
               "elpetro_absmag_r": "-20.1", "sersic_nmgy_r": "55.3", "petro_th50": "3.1", "petro_th90": "8.2",
               "petro_theta": f"{5 + i % 7}.5", "wrong_size_statistic": "120.0", "wrong_size_warning": "False"}
        for q, answers in DECALS5_QUESTIONS.items():
            total = sum(int(counts[f"{q}_{a}"][i]) for a in answers)
            row[f"{q}_total-votes"] = str(total)
            for a in answers:
                c = int(counts[f"{q}_{a}"][i])
                empty = q == "bar" and blank[i]
                row[f"{q}_{a}"] = "" if empty else str(c)
                row[f"{q}_{a}_fraction"] = "" if empty or not total else f"{c / total:.4f}"
                row[f"{q}_{a}_debiased"] = ""
        rows.append(row)
    fx.votes = {k: np.where(blank, 0, v) if k.startswith("bar_") else v for k, v in counts.items()}
    path = folder / "gz_decals_volunteers_5.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        w.writerows(rows)
    fx.add(path)
    for part in range(1, 5):
        zpath = folder / f"gz_decals_dr5_png_part{part}.zip"
        with zipfile.ZipFile(zpath, "w") as zf:
            for i in range(part - 1, n, 4):
                img = _image(rng)
                zf.writestr(f"{names[i][:4]}/{names[i]}.png", encode_image(img, "PNG"))
                fx.images[names[i]] = img
        fx.add(zpath)
    return fx


# Hart et al. 2016 Table 1 tasks and answers (Willett et al. 2013; SDSS SkyServer GalaxyZoo2Tables.sql)
HART16_TASKS = {
    "t01_smooth_or_features": ["a01_smooth", "a02_features_or_disk", "a03_star_or_artifact"],
    "t02_edgeon": ["a04_yes", "a05_no"],
    "t03_bar": ["a06_bar", "a07_no_bar"],
    "t04_spiral": ["a08_spiral", "a09_no_spiral"],
    "t05_bulge_prominence": ["a10_no_bulge", "a11_just_noticeable", "a12_obvious", "a13_dominant"],
    "t06_odd": ["a14_yes", "a15_no"],
    "t07_rounded": ["a16_completely_round", "a17_in_between", "a18_cigar_shaped"],
    "t08_odd_feature": ["a19_ring", "a20_lens_or_arc", "a21_disturbed", "a22_irregular", "a23_other",
                        "a24_merger", "a38_dust_lane"],
    "t09_bulge_shape": ["a25_rounded", "a26_boxy", "a27_no_bulge"],
    "t10_arms_winding": ["a28_tight", "a29_medium", "a30_loose"],
    "t11_arms_number": ["a31_1", "a32_2", "a33_3", "a34_4", "a36_more_than_4", "a37_cant_tell"],
}
HART16_SUFFIXES = ["count", "weight", "fraction", "weighted_fraction", "debiased", "flag"]


def write_gz2(folder: Path, n: int = 220, *, seed: int = 1, without_image: int = 5) -> Fixture:
    """``gz2_hart16.csv.gz``, ``gz2_filename_mapping.csv`` and ``images_gz2.zip`` for ``n`` galaxies.

    The last ``without_image`` galaxies have no mapping row (the release has a few such); the mapping also
    lists 10 objids absent from the vote table (other samples), as the real one does.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    fx = Fixture(folder)
    # DR7 objids are 18-digit integers: beyond float64 precision, so the loader must keep them as strings
    objids = [str(587722981736120347 + 1_000_003 * i) for i in range(n)]
    fx.ids = objids
    header = ["dr7objid", "ra", "dec", "rastring", "decstring", "sample", "gz2_class", "total_classifications",
              "total_votes"]
    for task, answers in HART16_TASKS.items():
        for a in answers:
            header += [f"{task}_{a}_{s}" for s in HART16_SUFFIXES]
    counts = {f"{t}_{a}_count": rng.integers(0, 30, n) for t, answers in HART16_TASKS.items() for a in answers}
    fx.votes = counts
    ra, dec = rng.uniform(100, 260, n), rng.uniform(-5, 60, n)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for i in range(n):
        row = [objids[i], f"{ra[i]:.6f}", f"{dec[i]:.6f}", "13:01:48.00", "+14:13:48.0", "original", "Sc2t",
               "44", "300"]
        for task, answers in HART16_TASKS.items():
            total = sum(int(counts[f"{task}_{a}_count"][i]) for a in answers) or 1
            for a in answers:
                c = int(counts[f"{task}_{a}_count"][i])
                row += [c, f"{c * 0.9:.3f}", f"{c / total:.3f}", f"{c / total:.3f}", f"{c / total:.3f}", 0]
        w.writerow(row)
    path = folder / "gz2_hart16.csv.gz"
    path.write_bytes(gzip.compress(buf.getvalue().encode()))
    fx.add(path)
    assets = {objids[i]: str(1000 + 3 * i) for i in range(n - without_image)}
    fx.extra["assets"] = assets
    with open(folder / "gz2_filename_mapping.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["objid", "sample", "asset_id"])
        for objid, asset in assets.items():
            w.writerow([objid, "original", asset])
        for j in range(10):
            w.writerow([str(588000000000000000 + j), "stripe82", str(90000 + j)])
    fx.add(folder / "gz2_filename_mapping.csv")
    zpath = folder / "images_gz2.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for asset in assets.values():
            data = encode_image(_image(rng), "JPEG")
            zf.writestr(f"images_gz2/images/{asset}.jpg", data)
            fx.images[asset] = decoded_rgb(data)  # JPEG is lossy: compare with what the file decodes to
        for j in range(10):
            zf.writestr(f"images_gz2/images/{90000 + j}.jpg", encode_image(_image(rng), "JPEG"))
    fx.add(zpath)
    return fx


def write_gz_evo(folder: Path, label_cols: list[str], names: tuple[str, ...] = (
        "train-00000-of-00001.parquet", "test-00000-of-00001.parquet"), n: int = 120, *, seed: int = 2,
        row_group_size: int = 16) -> Fixture:
    """Hugging Face style Parquet shards of ``n`` galaxies each, with PNG bytes in the ``image`` column.

    Each galaxy belongs to one campaign (suffix of its label columns); the other campaigns' counts are null.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    fx = Fixture(folder)
    campaigns = sorted({c.split("_", 1)[0].rsplit("-", 1)[1] for c in label_cols})
    fx.extra["campaigns"] = campaigns
    questions = sorted({c.split("_", 1)[0] for c in label_cols})
    votes: dict[str, list] = {c: [] for c in label_cols}
    for name in names:
        ids, images, tags = [], [], []
        cols: dict[str, list] = {c: [] for c in label_cols}
        for i in range(n):
            camp = campaigns[i % len(campaigns)]
            ident = f"{name.split('-')[0]}_{camp}_{i}"
            img = _image(rng)
            key = f"{name}#{i}"
            fx.images[key] = img
            images.append({"bytes": encode_image(img, "PNG"), "path": f"{ident}.png"})
            ids.append(ident)
            tags.append({"dr5": "gz_desi", "dr8": "gz_desi", "dr12": "gz_desi"}.get(camp, f"gz_{camp}"))
            for c in label_cols:
                mine = c.split("_", 1)[0].endswith(f"-{camp}")
                value = int(rng.integers(0, 25)) if mine else None
                cols[c].append(value)
                votes[c].append(0 if value is None else value)
        fx.ids += ids
        arrays = {
            "image": pa.array(images, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            "id_str": pa.array(ids, pa.string()),
            "dataset_name": pa.array(tags, pa.string()),
            "ra": pa.array(rng.uniform(0, 360, n)),
            "dec": pa.array(rng.uniform(-30, 60, n)),
        }
        for q in questions:
            answers = [c for c in label_cols if c.split("_", 1)[0] == q]
            totals = [None if all(cols[a][i] is None for a in answers) else sum(cols[a][i] or 0 for a in answers)
                      for i in range(n)]
            for a in answers:
                arrays[a] = pa.array(cols[a], pa.int32())
                arrays[f"{a}_fraction"] = pa.array(
                    [None if t is None or not t else v / t for v, t in zip(cols[a], totals, strict=True)],
                    pa.float32())
            arrays[f"{q}_total-votes"] = pa.array(totals, pa.int32())
        path = folder / name
        pq.write_table(pa.table(arrays), path, row_group_size=row_group_size)
        fx.add(path)
    fx.votes = {c: np.asarray(v, dtype=np.int64) for c, v in votes.items()}
    return fx


def pretrain_two_steps(cfg: dict, store: Path, out: Path, *, batch_size: int):
    """Run a documentation page's pretraining ``cfg`` for two steps of a tiny backbone on a prepared store;
    returns the :class:`~galzoo_fm.training.TrainResult`."""
    from galzoo_fm.training import pretrain

    cfg["model"] = {"backbone": "example_smallcnn", "backbone_kwargs": {"width": 8, "depth": 2}, "seed": 1}
    cfg["data"] = {"path": str(store), "catalog": str(store / "catalog.fits")}
    cfg["optim"]["warmup_steps"] = 1
    cfg["train"].update(out=str(out), steps=2, batch_size=batch_size)
    cfg["logging"] = {"every": 1, "progress": False, "tensorboard": False}
    return pretrain(cfg)
