"""The user's own images feed training as they feed embedding (issue 17): a Parquet file with image bytes and
Galaxy Zoo vote columns goes into a cutout store (``fetch_images``), a hybrid pretraining reads that store and
the votes of the store's ``catalog.fits``, with the ``zoobot`` preset, and the trained encoder embeds the same
Parquet through ``embed --images`` exactly as it embeds the decoded images in memory."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from astropy.table import Table

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

N, SIDE = 12, 40


@pytest.fixture(scope="module")
def parquet_release(tmp_path_factory):
    """A GZ-Evo-like shard: ``id_str``, a Hugging Face ``Image`` struct column, decals_dr5 vote counts."""
    from PIL import Image

    from galzoo_fm.plugins import get_registry

    schema = get_registry("schemas").entry("decals_dr5").factory()
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    images, cells = [], []
    for i in range(N):
        blob = 180 * np.exp(-((yy - SIDE / 2) ** 2 + (xx - SIDE / 2) ** 2) / (2 * (3 + i % 4) ** 2))
        rgb = np.clip(blob[..., None] * [1.0, 0.8, 0.6] + rng.normal(20, 5, (SIDE, SIDE, 3)), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")  # lossless: the decoded pixels are rgb itself
        images.append(np.moveaxis(rgb, -1, 0))
        cells.append({"bytes": buf.getvalue(), "path": f"{i}.png"})
    columns = {"id_str": [f"gz{i}" for i in range(N)], "image": cells, "klass": [i % 2 for i in range(N)]}
    for col in schema.label_cols:
        columns[col] = rng.integers(0, 6, N).tolist()
    path = tmp_path_factory.mktemp("release") / "train-00000.parquet"
    pq.write_table(pa.table(columns), path, row_group_size=5)
    return path, np.stack(images), schema


def test_parquet_votes_pretrain_and_embed(parquet_release, tmp_path):
    from galzoo_fm.embedding import run_embedding
    from galzoo_fm.fetch import fetch_images
    from galzoo_fm.models.encoder import Encoder
    from galzoo_fm.preprocess import Preprocessor
    from galzoo_fm.training import pretrain

    path, images, schema = parquet_release
    store = tmp_path / "store"
    summary = fetch_images(path, column="image", out=store)
    assert summary.counts == {"ok": N}
    copy = Table.read(store / "catalog.fits")
    assert list(copy["id_str"]) == [f"gz{i}" for i in range(N)] and "image" not in copy.colnames
    source = pq.read_table(path, columns=schema.label_cols[:3]).to_pydict()
    for col in schema.label_cols[:3]:
        np.testing.assert_array_equal(copy[col], source[col])  # the votes, in store row order

    cfg = {"model": {"backbone": "resnet18", "seed": 0}, "loss": {"name": "hybrid", "schema": "decals_dr5"},
           "data": {"path": str(store), "catalog": str(store / "catalog.fits")},
           "preprocess": {"preset": "zoobot", "image_size": 32},
           "optim": {"warmup_steps": 1}, "train": {"out": str(tmp_path / "run"), "steps": 2, "batch_size": 4},
           "logging": {"every": 1, "progress": False, "tensorboard": False}}
    result = pretrain(cfg)
    folder = result.checkpoint / "encoder"
    encoder = Encoder.from_pretrained(folder)
    expected = Preprocessor.preset("zoobot", image_size=32)
    assert encoder.preprocessor == expected  # the preset, with the store's bands R, G, B as input

    out = run_embedding(path, images="image", model=folder, out=tmp_path / "vectors.parquet",
                        device="cpu", batch_size=5, workers=1)
    table = Table.read(out.out)
    assert list(table["id"]) == [f"gz{i}" for i in range(N)] and set(table["status"]) == {"ok"}
    direct = encoder.embed(images, preprocess=True, batch_size=5, device="cpu")
    np.testing.assert_allclose(np.asarray(table["embedding"]), direct, rtol=0, atol=1e-5)

    # evaluate reads the same store and the labels of its catalog.fits
    from click.testing import CliRunner

    from galzoo_fm.cli import cli

    result = CliRunner().invoke(cli, ["evaluate", "--model", str(folder), "--data", str(store), "--catalog",
                                      str(store / "catalog.fits"), "--label-col", "klass", "--sizes", "4,all",
                                      "--repeats", "1", "--k", "3", "--device", "cpu", "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert report["n_train"] + report["n_test"] == N and report["label_column"] == "klass"

    # and finetune trains a classifier on it, its predictions made from the decoded images as trained
    from galzoo_fm.training.finetune import finetune, load_finetuned

    tuned = finetune({"model": {"init": str(folder)}, "task": {"kind": "classifier", "label_columns": "klass"},
                      "data": {"path": str(store), "catalog": str(store / "catalog.fits"), "val_fraction": 0.25},
                      "train": {"out": str(tmp_path / "ft"), "steps": 2, "batch_size": 4, "eval_every": 1},
                      "logging": {"progress": False, "tensorboard": False}})
    model, doc = load_finetuned(tuned.model_dir)
    assert [str(c) for c in doc["classes"]] == ["0", "1"]  # the catalog.fits column klass
    probs = model.predict(torch.from_numpy(images[:4]))
    assert probs.shape == (4, 2) and torch.allclose(probs.sum(1), torch.ones(4))
    assert report["preprocessing"]["applied"] and report["preprocessing"]["input_bands"] == ["R", "G", "B"]


def test_unknown_preset_in_config(parquet_release, tmp_path):
    from galzoo_fm.fetch import fetch_images
    from galzoo_fm.training import pretrain

    path, _, _ = parquet_release
    store = tmp_path / "store"
    fetch_images(path, column="image", out=store)
    cfg = {"model": {"backbone": "resnet18"}, "loss": {"name": "byol"}, "data": {"path": str(store)},
           "preprocess": {"preset": "zobot"}, "train": {"out": str(tmp_path / "run"), "steps": 1, "batch_size": 4}}
    with pytest.raises(ValueError, match=r"\[preprocess\] unknown preprocessing preset 'zobot'.*zoobot"):
        pretrain(cfg)


@pytest.mark.gpu
def test_uint8_store_on_cuda_equals_cpu(parquet_release, tmp_path):
    """An 8-bit store travels to the GPU as uint8 (pinned buffers of the store's dtype) and is converted there:
    the vectors equal the CPU run's within bf16 autocast's error."""
    from galzoo_fm.embedding import run_embedding
    from galzoo_fm.models.encoder import Encoder

    path, _, _ = parquet_release
    encoder = Encoder("resnet18", in_chans=3, image_size=224, seed=0, preprocessing="zoobot")
    runs = {}
    for device in ("cpu", "cuda"):
        out = run_embedding(path, images="image", model=encoder, out=tmp_path / f"{device}.fits", device=device,
                            batch_size=4, workers=2, precision="fp32")
        runs[device] = np.ma.filled(Table.read(out.out)["embedding"], np.nan)
    scale = np.linalg.norm(runs["cpu"], axis=1).max()
    assert np.abs(runs["cuda"] - runs["cpu"]).max() / scale < 1e-4
