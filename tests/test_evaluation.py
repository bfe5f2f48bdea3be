"""Linear probe and kNN against scikit-learn, the low-label curve, evaluate() and finetuning."""

from __future__ import annotations

import json
from importlib import resources

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
    from galzoo_fm.training.data import ArrayDataset

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
    assert set(reg.best_metrics) == {"val_loss", "val_mae"} and reg.best_metrics["val_loss"] == reg.best_val_loss
    # the same command again: the early-stopped run is complete, it does not train on towards train.steps
    again = finetune(cfg)
    assert again.already_complete and again.train.step == 12 and again.best_step == 4
    assert "already complete (12 steps)" in again.summary()
    model, doc = load_finetuned(res.model_dir)
    assert doc["kind"] == "dirichlet" and model.predict(torch.zeros(2, 3, 16, 16)).shape == (2, 34)
    with pytest.raises(ValueError, match=r"task\.kind = 'classifier' needs task\.label_columns"):
        finetune(ft_config(labelled, tmp_path / "bad", "classifier"))


def test_finetune_reports_validation_metrics_and_a_rerun_is_complete(labelled, tmp_path, capsys):
    cfg = ft_config(labelled, tmp_path, "classifier", label_columns="morph", freeze_encoder=True)
    cfg["train"].update(steps=8, eval_every=4, patience=0)
    cfg["logging"]["progress"] = True
    result = finetune(cfg)
    bar = capsys.readouterr().err
    assert "val_accuracy=" in bar and "val_loss=" in bar  # the selection metric, in the progress output
    assert set(result.best_metrics) == {"val_loss", "val_accuracy"}
    assert 0.0 <= result.best_metrics["val_accuracy"] <= 1.0
    line = result.summary()
    assert f"best validation at step {result.best_step}: loss " in line and "accuracy" in line
    doc = json.loads((result.model_dir / "task.json").read_text())
    assert doc["best_val_metrics"] == result.best_metrics
    with open(tmp_path / "validation.csv") as fh:
        rows = fh.read().splitlines()
    assert rows[0] == "step,val_loss,val_accuracy" and [r.split(",")[0] for r in rows[1:]] == ["4", "8"]
    log = (tmp_path / "validation.csv").read_text(), (tmp_path / "metrics.csv").read_text()
    again = finetune(cfg)
    assert again.already_complete and again.train.step == 8 and again.best_metrics == result.best_metrics
    assert again.summary().startswith(f"{tmp_path} is already complete (8 steps); nothing to train.")
    assert ((tmp_path / "validation.csv").read_text(), (tmp_path / "metrics.csv").read_text()) == log


def test_predict_takes_numpy_raw_cutouts_and_runs_the_saved_preprocessing(tmp_path):
    """predict on a NumPy array = predict on the preprocessed tensor (the Encoder.embed pipeline)."""
    from galzoo_fm.training.finetune import FinetuneModel

    encoder = galzoo_fm.Encoder.from_pretrained(resources.files("galzoo_fm") / "data" / "demo_encoder")
    model = FinetuneModel(encoder, "classifier", 3).eval()
    raw = np.random.default_rng(0).normal(0.0, 0.01, size=(3, 3, 64, 64)).astype("float32")
    raw[:, :, 28:36, 28:36] += 0.5
    probs = model.predict(raw)
    assert isinstance(probs, torch.Tensor) and probs.shape == (3, 3) and not probs.requires_grad
    ready = torch.from_numpy(encoder.preprocessor(raw).images)
    torch.testing.assert_close(probs, model.predict(ready, preprocess=False))
    assert not torch.allclose(probs, model.predict(torch.from_numpy(raw), preprocess=False))  # it did preprocess
    with pytest.raises(TypeError, match="real numeric dtype, got bool"):
        model.predict(raw > 0)
    with pytest.raises(TypeError, match="torch.Tensor or numpy.ndarray"):
        model.predict(raw.tolist())
    with pytest.raises(ValueError, match=r"expects 3 channels .* images have 4"):
        model.predict(np.zeros((2, 4, 64, 64), "float32"), preprocess=False)


def _docs_block(page, after):
    """The indented literal block that follows the paragraph ending in ``after`` in docs/<page>."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / page).read_text()
    lines = text[text.index(after) + len(after):].splitlines()[1:]
    block = []
    for line in lines:
        if line and not line.startswith(" "):
            break
        block.append(line[4:])
    return "\n".join(block).strip() + "\n"


def test_evaluation_docs_predict_example_runs(labelled, tmp_path, capsys):
    cfg = ft_config(labelled, tmp_path / "ft", "classifier", label_columns="morph", freeze_encoder=True)
    cfg["train"].update(steps=4, eval_every=4)
    result = finetune(cfg)
    code = _docs_block("evaluation.rst", "``preprocess=False`` for images you preprocessed yourself)::")
    assert 'load_finetuned("runs/finetune/model")' in code and 'np.load("cutouts.npy")' in code
    code = code.replace("runs/finetune/model", str(result.model_dir)).replace("cutouts.npy",
                                                                              str(labelled / "images.npy"))
    namespace = {}
    exec(compile(code, "docs/evaluation.rst", "exec"), namespace)  # the documented example
    assert namespace["probabilities"].shape == (96, 2)
    assert "['compact', 'extended']" in capsys.readouterr().out
