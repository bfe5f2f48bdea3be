"""Linear probe and kNN against scikit-learn, the low-label curve, evaluate() and finetuning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from astropy.table import Table

import galzoo_fm
from galzoo_fm.testing import TinyEncoder
from galzoo_fm.training import evaluate as evaluate_embeddings
from galzoo_fm.training import (
    extract_features,
    finetune,
    knn_classify,
    linear_probe,
    load_finetuned,
    low_label_curve,
    plot_low_label_curve,
)

sklearn = pytest.importorskip("sklearn")


def blobs(n=400, d=6, k=3, seed=0, spread=1.6):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 1.5
    y = rng.integers(0, k, n)
    return centres[y] + spread * rng.normal(size=(n, d)) + np.linspace(0, 5, d), y


def test_linear_probe_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    names = np.array(["bar", "disk", "elliptical"])  # any label values
    x, y = blobs()
    xt, yt = blobs(seed=1)
    for C in (0.05, 1.0):
        ours = linear_probe(x, names[y], xt, C=C)
        ref = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000, tol=1e-10)).fit(x, names[y])
        assert np.mean(ours == ref.predict(xt)) >= 0.99
        assert abs(np.mean(ours == names[yt]) - ref.score(xt, names[yt])) <= 0.01


def test_knn_matches_scikit_learn_exactly():
    from sklearn.neighbors import KNeighborsClassifier

    x, y = blobs()
    xt, _ = blobs(seed=2)
    for metric in ("cosine", "euclidean"):
        for k in (1, 5, 20):
            ref = KNeighborsClassifier(n_neighbors=k, metric=metric, algorithm="brute").fit(x, y)
            np.testing.assert_array_equal(knn_classify(x, y, xt, k=k, metric=metric), ref.predict(xt))
    with pytest.raises(ValueError, match="k must be between 1 and the 400"):
        knn_classify(x, y, xt, k=401)


def test_extract_features_puts_batchnorm_in_eval_mode():
    enc = TinyEncoder()
    enc.train()
    x = torch.randn(6, 3, 8, 8)
    from galzoo_fm.datasets import ArrayDataset

    feats = extract_features(enc, ArrayDataset(x.numpy()), batch_size=4)
    assert enc.training  # mode restored
    enc.eval()
    with torch.no_grad():
        np.testing.assert_allclose(feats[:1], enc(x[:1]).numpy(), rtol=1e-5, atol=1e-6)  # batch-independent


def test_low_label_curve_table_and_plot(tmp_path):
    x, y = blobs(n=600)
    xt, yt = blobs(n=300, seed=5)
    table = low_label_curve(x, y, xt, yt, sizes=(10, 50, 250, 1000, "all"), repeats=4, seed=0)
    assert table["n_labels"].tolist() == [10, 50, 250, 600]  # 1000 > pool: skipped
    assert table["repeats"].tolist() == [4, 4, 4, 1]
    assert table["accuracy_mean"][-1] > table["accuracy_mean"][0]
    assert table["accuracy_std"][-1] == 0
    png = plot_low_label_curve(table, tmp_path / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 300_000
    knn = low_label_curve(x, y, xt, yt, sizes=(50,), repeats=2, method="knn", k=5)
    assert 0 < knn["accuracy_mean"][0] <= 1


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Images whose class is the size of a central blob, an encoder folder, a catalogue of labels and votes."""
    root = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(0)
    n = 96
    cls = rng.integers(0, 2, n)
    yy, xx = np.mgrid[:16, :16] - 7.5
    width = np.where(cls == 1, 4.0, 1.5)[:, None, None]
    images = np.exp(-(xx**2 + yy**2)[None] / (2 * width**2))[:, None].repeat(3, 1)
    images = (images + 0.05 * rng.normal(size=images.shape)).astype("float32")
    np.save(root / "images.npy", images)
    schema = galzoo_fm.get_schema("decals_dr5")
    cat = Table({"morph": np.array(["compact", "extended"])[cls], "size": width[:, 0, 0] + 0.1 * rng.normal(size=n)})
    cat[schema.label_cols[0]] = 8 * cls + 1
    cat[schema.label_cols[1]] = 8 * (1 - cls) + 1
    cat["morph"][3] = ""  # an unlabelled row
    cat.write(root / "cat.ecsv")
    enc = galzoo_fm.Encoder("example_smallcnn", in_chans=3, image_size=16, seed=0,
                            backbone_kwargs={"width": 8, "depth": 2})
    enc.save_pretrained(root / "encoder")
    return root


def test_evaluate_writes_table_plot_and_summary(labelled, tmp_path):
    result = evaluate_embeddings(labelled / "encoder", labelled / "images.npy", labelled / "cat.ecsv", "morph",
                                 out=tmp_path, sizes=(10, 30, "all"), repeats=3, k=5)
    assert result.n_train + result.n_test == 95
    assert result.linear_accuracy > 0.8 and result.knn_accuracy > 0.8  # blob size is easy even at random init
    summary = json.loads((tmp_path / "evaluation.json").read_text())
    assert summary["classes"] == ["compact", "extended"] and summary["curve"]["n_labels"][-1] == result.n_train
    assert (tmp_path / "low_label.png").is_file() and (tmp_path / "low_label.ecsv").is_file()


def ft_config(labelled, out, kind, **task):
    return {
        "model": {"init": str(labelled / "encoder")},
        "task": {"kind": kind, **task},
        "data": {"path": str(labelled / "images.npy"), "catalog": str(labelled / "cat.ecsv"), "val_fraction": 0.25},
        "optim": {"lr": 3e-3},
        "train": {"out": str(out), "steps": 24, "batch_size": 16, "eval_every": 4, "patience": 2, "seed": 0},
        "logging": {"progress": False, "tensorboard": False},
    }


@pytest.mark.parametrize("freeze", [False, True])
def test_finetune_classifier_full_and_head_only(labelled, tmp_path, freeze):
    start = galzoo_fm.Encoder.from_pretrained(labelled / "encoder").state_dict()
    result = finetune(ft_config(labelled, tmp_path, "classifier", label_columns="morph", freeze_encoder=freeze))
    model, doc = load_finetuned(result.model_dir)
    assert doc["classes"] == ["compact", "extended"] and result.best_step is not None
    images = torch.from_numpy(np.load(labelled / "images.npy")[:8])
    probs = model.predict(images)
    assert probs.shape == (8, 2) and torch.allclose(probs.sum(1), torch.ones(8))
    after = model.encoder.state_dict()
    same = all(torch.equal(start[k], after[k]) for k in start)
    assert same == freeze  # head-only leaves the encoder (and its BatchNorm statistics) untouched


def test_finetune_regressor_dirichlet_and_early_stopping(labelled, tmp_path):
    reg = finetune(ft_config(labelled, tmp_path / "reg", "regressor", label_columns=["size"], head="mlp"))
    assert reg.best_val_loss is not None and np.isfinite(reg.best_val_loss)
    cfg = ft_config(labelled, tmp_path / "dir", "dirichlet", schema="decals_dr5", freeze_encoder=True)
    cfg["optim"]["lr"] = 0.0  # nothing improves: early stopping after `patience` validations
    res = finetune(cfg)
    assert res.train.stopped_early and res.train.step == 12 and res.best_step == 4
    model, doc = load_finetuned(res.model_dir)
    assert doc["kind"] == "dirichlet" and model.predict(torch.zeros(2, 3, 16, 16)).shape == (2, 34)
    with pytest.raises(ValueError, match=r"task\.kind = 'classifier' needs task\.label_columns"):
        finetune(ft_config(labelled, tmp_path / "bad", "classifier"))
