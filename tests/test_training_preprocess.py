"""Training runs the inference preprocessing: a model trains on exactly the tensors `embed` gives it.

A view is ``pre.finish(r, augment(r.images))`` with ``r = pre.flux(raw)``; with
augmentation off it is ``pre(raw).images``. The store is made offline with the ``synthetic`` survey.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import galzoo_fm
from galzoo_fm.embedding import embed_catalog
from galzoo_fm.training import finetune, load_finetuned, prepare_pretraining
from galzoo_fm.training.augment import estimate_noise
from galzoo_fm.training.views import PreprocessViews

SURVEY = {"seed": 5, "n": 12, "bands": "griz"}
#: Model bands g, r, z of a g, r, i, z store; 48 survey pixels of 0.262" resampled to 32 pixels of 0.393".
PREPROCESS = {"bands": ["g", "r", "z"], "survey": "legacy", "image_size": 32, "pixel_scale": 0.393}
#: An augmentation that only mirrors every image left-right.
ONLY_HFLIP = {"rotation": 0.0, "hflip": 1.0, "vflip": 0.0, "crop_scale": [1.0, 1.0], "translate": 0.0,
              "blur_prob": 0.0, "noise": [0.0, 0.0], "flux_scale": [1.0, 1.0], "band_scale": [1.0, 1.0]}


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    """``(catalogue, store)``: 12 simulated galaxies fetched as 48-pixel g, r, i, z cutouts."""
    from galzoo_fm.datasets.sim.catalogue import simulate_catalog
    from galzoo_fm.fetch import fetch_catalog

    root = tmp_path_factory.mktemp("sky")
    simulate_catalog(SURVEY["n"], seed=SURVEY["seed"]).write(root / "cat.ecsv")
    fetch_catalog(root / "cat.ecsv", "synthetic", size=48, out=root / "store", workers=1, survey_options=SURVEY)
    return root / "cat.ecsv", root / "store"


def pretrain_config(store, out, *, preprocess=None, augment=None, steps=2, batch_size=6):
    return {
        "model": {"backbone": "example_smallcnn", "backbone_kwargs": {"width": 8, "depth": 2}, "seed": 1},
        "loss": {"name": "spectral", "options": {"projection_hidden": 16, "projection_dim": 8}},
        "data": {"path": str(store)},
        "augment": {"enabled": False} if augment is None else augment,
        "preprocess": dict(PREPROCESS if preprocess is None else preprocess),
        "optim": {"lr": 1e-3, "weight_decay": 0.0},
        "train": {"out": str(out), "steps": steps, "batch_size": batch_size, "seed": 0, "device": "cpu",
                  "precision": "fp32"},
        "logging": {"every": 1, "progress": False, "tensorboard": False},
    }


def raw_batch(store, n=4):
    from galzoo_fm.store.reader import CutoutStore

    s = CutoutStore(store)
    return torch.from_numpy(s.read(s.indices("ok")[:n]))


def record_inputs(module, into):
    """Append every batch ``module`` is called on to ``into`` (a forward pre-hook)."""
    return module.register_forward_pre_hook(lambda m, args: into.append(args[0].detach().float().cpu().clone()))


@pytest.fixture(scope="module")
def pretrained(sky, tmp_path_factory):
    """A tiny encoder pretrained 2 steps (one epoch) without augmentation, and every tensor it was given."""
    _, store = sky
    out = tmp_path_factory.mktemp("pretrain")
    job = prepare_pretraining(pretrain_config(store, out))
    seen: list[torch.Tensor] = []
    handle = record_inputs(job.objective.encoder, seen)
    result = job.trainer().fit()
    handle.remove()
    return job, result.checkpoint / "encoder", torch.cat(seen)


def test_training_inputs_equal_what_embedding_gives_the_model(sky, pretrained, tmp_path):
    """THE identity: the tensors a model trained on are the tensors `embed_catalog` feeds it."""
    catalog, store = sky
    job, folder, trained_on = pretrained
    assert trained_on.shape[1:] == (3, 32, 32) and len(trained_on) == 2 * 12  # 2 views of each galaxy
    encoder = galzoo_fm.Encoder.from_pretrained(folder)
    pre = job.views_fn.pre
    assert encoder.preprocessing == pre.to_dict()  # what the views ran, input bands and pixel scale included
    assert encoder.preprocessing["input_bands"] == ["g", "r", "i", "z"]
    assert encoder.preprocessing["input_pixel_scale"] == pytest.approx(0.262)
    embedded: list[torch.Tensor] = []
    record_inputs(encoder, embedded)
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    table = embed_catalog(catalog, model=encoder, survey="synthetic", survey_options=SURVEY,
                          store=copy, out=tmp_path / "emb.ecsv", batch_size=5, device="cpu", workers=1)
    assert table["status"].tolist() == ["ok"] * 12 and np.isfinite(np.asarray(table["embedding"])).all()
    given = torch.cat(embedded)
    assert given.shape == (12, 3, 32, 32)
    # each training tensor is one of the embedding's tensors, to 1e-6, and every galaxy was trained on
    dist = (trained_on[:, None] - given[None]).abs().flatten(2).amax(2)  # (24, 12)
    best = dist.min(1)
    assert float(best.values.max()) < 1e-6, best.values
    assert sorted(set(best.indices.tolist())) == list(range(12))
    assert float(dist.topk(2, dim=1, largest=False).values[:, 1].min()) > 1e-3  # galaxies are distinct


def test_views_without_augmentation_are_the_inference_tensor(sky, tmp_path):
    _, store = sky
    for soft in (None, "noise"):  # softening = "noise": each image's measured sky noise, now allowed
        settings = dict(PREPROCESS) if soft is None else {**PREPROCESS, "softening": soft}
        job = prepare_pretraining(pretrain_config(store, tmp_path, preprocess=settings))
        raw = raw_batch(store)
        views = job.views_fn(raw, 2, torch.Generator().manual_seed(0))
        expected = job.views_fn.pre(raw.numpy(), bands=["g", "r", "i", "z"], pixel_scale=0.262).images
        assert len(views) == 2 and views[0] is views[1]
        np.testing.assert_allclose(views[0].numpy(), expected, atol=1e-6, rtol=0)


def test_augmented_views_are_augmentations_of_the_fluxes(sky, tmp_path):
    _, store = sky
    raw = raw_batch(store)
    job = prepare_pretraining(pretrain_config(store, tmp_path, augment=dict(ONLY_HFLIP)))
    assert isinstance(job.views_fn, PreprocessViews) and job.views_fn.augment is not None
    views = job.views_fn(raw, 2, torch.Generator().manual_seed(0))
    inference = job.views_fn.pre(raw).images
    for v in views:
        torch.testing.assert_close(v, inference.flip(-1), atol=1e-6, rtol=0)
    # the added noise is in units of the fluxes' robust noise (per output pixel, per image and band)
    flat = {**PREPROCESS, "stretch": "none"}
    noisy = {**ONLY_HFLIP, "hflip": 0.0, "noise": [1.0, 1.0]}
    job = prepare_pretraining(pretrain_config(store, tmp_path, preprocess=flat, augment=noisy))
    r = job.views_fn.flux(raw)
    (view,) = job.views_fn(raw, 1, torch.Generator().manual_seed(0))
    ratio = (view - r.images).std(dim=(2, 3)) / estimate_noise(r.images)
    torch.testing.assert_close(ratio, torch.ones_like(ratio), atol=0.1, rtol=0)


def test_mask_channel_without_augmentation_and_refusals(sky, tmp_path):
    _, store = sky
    job = prepare_pretraining(pretrain_config(store, tmp_path, preprocess={**PREPROCESS, "mask_channel": True}))
    assert job.objective.encoder.in_chans == 4  # g, r, z + the filled-pixel fraction
    raw = raw_batch(store, 2)
    np.testing.assert_allclose(job.views_fn(raw, 1, None)[0].numpy(), job.views_fn.pre(raw).images.numpy())
    with pytest.raises(ValueError, match=r"mask_channel = true cannot be combined with augmentation"):
        prepare_pretraining(pretrain_config(store, tmp_path, preprocess={**PREPROCESS, "mask_channel": True},
                                            augment={}))
    with pytest.raises(ValueError, match=r"\[augment\] size = 48 differs from \[preprocess\] image_size = 32"):
        prepare_pretraining(pretrain_config(store, tmp_path, augment={"size": 48}))
    with pytest.raises(ValueError, match=r"input_bands = \['g', 'r', 'z'\] but the cutout store .* holds bands"):
        prepare_pretraining(pretrain_config(store, tmp_path, preprocess={**PREPROCESS, "input_bands": ["g", "r", "z"]}))
    with pytest.raises(ValueError, match=r"input_pixel_scale = 0.5 but the cutout store .* records 0.262"):
        prepare_pretraining(pretrain_config(store, tmp_path, preprocess={**PREPROCESS, "input_pixel_scale": 0.5}))


def test_npy_input_bands_and_pixel_scale(tmp_path):
    images = np.random.default_rng(0).normal(0.0, 0.01, size=(8, 4, 24, 24)).astype("float32")
    np.save(tmp_path / "x.npy", images)
    base = {"bands": ["g", "r", "z"], "survey": "legacy", "image_size": 16}
    with pytest.raises(ValueError, match=r"band names of data.path's 4-channel images are unknown .* input_bands"):
        prepare_pretraining(pretrain_config(tmp_path / "x.npy", tmp_path, preprocess=base, batch_size=4))
    with pytest.raises(ValueError, match=r"input_bands = \['g', 'r', 'z'\] names 3 bands but .* 4 channels"):
        prepare_pretraining(pretrain_config(tmp_path / "x.npy", tmp_path, batch_size=4,
                                            preprocess={**base, "input_bands": ["g", "r", "z"]}))
    given = {**base, "input_bands": ["g", "r", "i", "z"], "pixel_scale": 0.3}
    job = prepare_pretraining(pretrain_config(tmp_path / "x.npy", tmp_path, preprocess=given, batch_size=4))
    assert job.views_fn.pre.settings["input_pixel_scale"] == 0.262  # the survey's default
    assert job.objective.encoder.preprocessing["input_bands"] == ["g", "r", "i", "z"]
    x = torch.from_numpy(images[:2])
    np.testing.assert_allclose(job.views_fn(x, 1, None)[0].numpy(), job.views_fn.pre(images[:2]).images, atol=1e-6)
    with pytest.raises(ValueError, match=r"pixel scale of data.path is unknown .* input_pixel_scale or survey"):
        prepare_pretraining(pretrain_config(tmp_path / "x.npy", tmp_path, batch_size=4,
                                            preprocess={**given, "survey": None, "softening": [0.01] * 3}))


def test_finetune_validates_and_predicts_through_the_whole_pipeline(sky, pretrained, tmp_path):
    """Finetuning from a model.init with recorded preprocessing (no [preprocess]) runs that preprocessing;
    the validation loss is the loss on ``pre(raw)``; ``predict`` takes raw cutouts."""
    from galzoo_fm.training.data import open_dataset

    catalog, store = sky
    _, init, _ = pretrained
    cfg = {
        "model": {"init": str(init)},
        "task": {"kind": "regressor", "label_columns": "mag_r"},
        "data": {"path": str(store), "catalog": str(catalog), "val_fraction": 0.25},
        "augment": dict(ONLY_HFLIP),
        "optim": {"lr": 1e-3},
        "train": {"out": str(tmp_path / "ft"), "steps": 2, "batch_size": 4, "eval_every": 2, "seed": 2,
                  "device": "cpu", "precision": "fp32"},
        "logging": {"progress": False, "tensorboard": False},
    }
    result = finetune(cfg)
    model, _ = load_finetuned(result.model_dir)
    start = galzoo_fm.Encoder.from_pretrained(init)
    assert model.encoder.preprocessing == start.preprocessing  # the init's, which the run applied
    dataset, _ = open_dataset(store, catalog=catalog, label_columns="mag_r", task="regression")
    order = np.random.default_rng(2).permutation(np.arange(len(dataset)))
    val = np.sort(order[:3])  # finetune's split: round(0.25 * 12) galaxies, from train.seed
    batch = dataset[val]
    pre = model.encoder.preprocessor
    images = torch.from_numpy(pre(batch["images"].numpy()).images)
    with torch.no_grad():
        by_hand = float(model([images], batch["labels"]).loss)
        assert result.best_val_loss == pytest.approx(by_hand, rel=1e-5)
        torch.testing.assert_close(model.predict(batch["images"]), model.predict(images, preprocess=False))
