"""Batch datasets: arrays and memory-mapped .npy files, the cutout-store adapter, the resumable sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from astropy.table import Table

import galzoo_fm
from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.store.writer import StoreWriter, ensure_manifest
from galzoo_fm.training.data import ArrayDataset, BatchSubset, CutoutStoreDataset, open_dataset
from galzoo_fm.training.sampling import ResumableBatchSampler

SHAPE = (3, 16, 16)


def make_store(root, n=12):
    """Rows 0..n-1 of a catalogue; every third row off the footprint (no pixels); row r's pixels equal r."""
    ensure_manifest(root, {"shape": list(SHAPE), "dtype": "float32", "bands": ["g", "r", "z"], "extras": [],
                           "size": 16, "survey": "mock", "layer": None, "pixscale": 0.262,
                           "catalog_fingerprint": "x"})
    with StoreWriter(root, chunk_size=5) as w:
        for row in [*range(1, n), 0]:  # out of order, as concurrent fetches commit
            status = Status.OFF_FOOTPRINT if row % 3 == 2 else Status.OK
            data = np.full(SHAPE, row, np.float32) if status is Status.OK else None
            w.add(row, f"g{row}", 10.0 + row, 1.0, Cutout(status, data))
    return root


def test_array_dataset_batches_and_memmap(tmp_path):
    images = np.arange(6 * 2 * 4 * 4, dtype=np.float64).reshape(6, 2, 4, 4)
    np.save(tmp_path / "x.npy", images)
    ds = ArrayDataset(tmp_path / "x.npy", votes=np.ones((6, 3)), labels=np.array([0, 1, 0, 1, 2, 2]))
    assert isinstance(ds.images, np.memmap) and ds.image_shape == (2, 4, 4)
    batch = ds[[4, 1, 2]]
    assert batch["images"].dtype == torch.float32
    np.testing.assert_array_equal(batch["images"].numpy(), images[[4, 1, 2]])
    assert batch["labels"].tolist() == [2, 1, 0] and batch["votes"].shape == (3, 3)
    assert ds[3]["images"].shape == (2, 4, 4) and ds[-1]["index"] == 5
    sub = BatchSubset(ds, np.array([5, 0]))
    assert sub[[1]]["index"].tolist() == [0] and sub.labels.tolist() == [2, 0]
    with pytest.raises(ValueError, match=r"votes must have shape \(6, A\)"):
        ArrayDataset(images, votes=np.ones((5, 3)))
    with pytest.raises(ValueError, match="must be an existing .npy file"):
        ArrayDataset(tmp_path / "missing.npy")
    with pytest.raises(IndexError, match="out of range"):
        ds[[6]]


def test_cutout_store_dataset_aligns_votes_by_catalogue_row(tmp_path):
    store = make_store(tmp_path / "store")
    schema = galzoo_fm.get_schema("decals_dr5")
    cat = Table({schema.label_cols[0]: np.arange(12) * 10, "label": np.arange(12) % 2})
    cat[schema.label_cols[0]][5] = 0  # an unlabelled galaxy
    votes = schema.votes_from_table(cat)
    ds = CutoutStoreDataset(store, catalog_votes=votes, catalog_labels=np.asarray(cat["label"]))
    assert len(ds) == 8 and ds.bands == ["g", "r", "z"]  # rows 2, 5, 8, 11 are off the footprint
    rows = ds.catalog_rows
    assert rows.tolist() == [0, 1, 3, 4, 6, 7, 9, 10]
    batch = ds[np.arange(8)]
    np.testing.assert_array_equal(batch["images"][:, 0, 0, 0].numpy(), rows)  # pixels belong to their row
    np.testing.assert_array_equal(batch["votes"][:, 0].numpy(), rows * 10)
    assert batch["labels"].tolist() == (rows % 2).tolist()
    assert ds.n_labelled == 7  # row 0 has no votes
    with pytest.raises(ValueError, match="has only 4 rows"):
        CutoutStoreDataset(store, catalog_votes=votes[:4])


def test_open_dataset_from_store_and_catalogue(tmp_path):
    store = make_store(tmp_path / "store")
    schema = galzoo_fm.get_schema("decals_dr5")
    Table({schema.label_cols[1]: np.arange(12)}).write(tmp_path / "cat.ecsv")
    ds, info = open_dataset(store, catalog=tmp_path / "cat.ecsv", schema=schema)
    assert isinstance(ds, CutoutStoreDataset) and info["bands"] == ["g", "r", "z"]
    assert info["n_labelled"] == 7
    with pytest.raises(ValueError, match="one catalogue row per image"):
        np.save(tmp_path / "x.npy", np.zeros((3, 3, 4, 4), np.float32))
        open_dataset(tmp_path / "x.npy", catalog=tmp_path / "cat.ecsv", schema=schema)
    with pytest.raises(ValueError, match="not a cutout store"):
        (tmp_path / "empty").mkdir()
        open_dataset(tmp_path / "empty")


def test_pretrain_from_a_cutout_store(tmp_path):
    from galzoo_fm.training import pretrain

    store = make_store(tmp_path / "store", n=24)
    schema = galzoo_fm.get_schema("decals_dr5")
    Table({schema.label_cols[0]: np.arange(24) % 4, schema.label_cols[1]: np.arange(24) % 3}).write(
        tmp_path / "cat.fits")
    result = pretrain({
        "model": {"backbone": "example_smallcnn", "backbone_kwargs": {"width": 8, "depth": 2}},
        "loss": {"name": "dirichlet", "schema": "decals_dr5"},
        "data": {"path": str(store), "catalog": str(tmp_path / "cat.fits")},
        "train": {"out": str(tmp_path / "run"), "steps": 3, "batch_size": 4},
        "logging": {"progress": False, "tensorboard": False},
    })
    assert result.step == 3 and (result.checkpoint / "encoder" / "config.json").is_file()


def test_sampler_resumes_mid_epoch_and_splits_ranks():
    full = ResumableBatchSampler(20, 4, seed=1)
    full.set_position(2)
    batches = list(full)
    assert len(batches) == 5 and sorted(i for b in batches for i in b) == list(range(20))
    part = ResumableBatchSampler(20, 4, seed=1)
    part.set_position(2, 3)
    assert list(part) == batches[3:]
    assert list(part) == batches  # the skip applies once
    r0 = ResumableBatchSampler(20, 4, rank=0, world_size=2, seed=1)
    r1 = ResumableBatchSampler(20, 4, rank=1, world_size=2, seed=1)
    first = next(iter(r0)) + next(iter(r1))
    assert len(set(first)) == 8
    with pytest.raises(ValueError, match="fewer than one global batch"):
        ResumableBatchSampler(6, 4, world_size=2)
