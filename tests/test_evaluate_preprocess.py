"""Raw survey cutouts through the encoder's recorded preprocessing: Encoder.embed(preprocess=True),
extract_features / evaluate on .npy files and cutout stores, and the CLI, against the documented two-step
path (``encoder.preprocessor(raw).images`` then ``encoder.embed``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from astropy.table import Table

from galzoo_fm import Encoder
from galzoo_fm.preprocess import BAD_FLAGS, PreprocessFlag, Preprocessor
from galzoo_fm.training import evaluate, extract_features, knn_classify, linear_probe
from galzoo_fm.training.data import open_dataset
from galzoo_fm.training.evaluate import input_preprocessing

TINY = {"layers": [1, 1, 1, 1], "channels": [8, 8, 8, 8]}
GRIZ = ["g", "r", "i", "z"]
N = 40


def tiny_encoder(preprocessing=None, bands=("g", "r", "z")):
    return Encoder("resnet18", in_chans=3, image_size=32, seed=0, bands=list(bands), backbone_kwargs=TINY,
                   preprocessing=preprocessing)


def legacy_pre(**settings):
    return Preprocessor(["g", "r", "z"], survey="legacy", image_size=32, pixel_scale=0.262, **settings)


def raw_cutouts(n=N, seed=0, size=40):
    """Raw g, r, i, z "nanomaggies": a sky offset, sky noise and a central blob, small or large by class."""
    rng = np.random.default_rng(seed)
    cls = np.arange(n) % 2
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    width = np.where(cls == 1, 5.0, 1.5)[:, None, None, None]
    blob = np.exp(-(xx**2 + yy**2)[None, None] / (2 * width**2))
    flux = np.array([0.3, 0.5, 0.6, 0.8])[None, :, None, None]
    sky = rng.uniform(-0.01, 0.02, size=(n, 4, 1, 1))
    images = sky + flux * blob + 0.01 * rng.normal(size=(n, 4, size, size))
    return images.astype(np.float32), cls


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder(legacy_pre())


@pytest.fixture(scope="module")
def raw():
    images, _ = raw_cutouts(9)
    images[1, 0, 3:6, 4] = np.nan  # some NaN pixels
    images[2] = 0.0  # an empty cutout (off the footprint)
    images[4, 3] = 0.25  # a constant z band (a model band)
    images[5, 1, 7, 7] = np.inf
    return images


# ------------------------------------------------------------------ Encoder.embed
def test_embed_preprocess_equals_the_two_step_path(encoder, raw):
    result = encoder.preprocessor(raw, bands=GRIZ, pixel_scale=0.262)
    expected = encoder.embed(result.images, device="cpu")
    vectors, flags = encoder.embed(raw, preprocess=True, bands=GRIZ, pixel_scale=0.262, return_flags=True,
                                   batch_size=4, device="cpu")
    np.testing.assert_allclose(vectors, expected, rtol=1e-5, atol=1e-5)
    assert flags.dtype == np.int32 and flags.shape == (len(raw),)
    np.testing.assert_array_equal(flags, result.flags)
    assert flags[1] & PreprocessFlag.NONFINITE and flags[5] & PreprocessFlag.NONFINITE
    assert flags[2] & PreprocessFlag.EMPTY and flags[4] & PreprocessFlag.CONSTANT
    assert np.flatnonzero(flags & int(BAD_FLAGS)).tolist() == [2, 4]
    assert np.isfinite(vectors).all()
    # defaults: the recorded input bands and pixel scale (legacy: g, r, i, z at 0.262), tensors alike
    np.testing.assert_allclose(encoder.embed(torch.from_numpy(raw), preprocess=True, device="cpu"), expected,
                               rtol=1e-5, atol=1e-5)


def test_embed_preprocess_reorders_bands_and_resamples(encoder, raw):
    order = [3, 1, 0, 2]  # z, r, g, i
    shuffled = np.ascontiguousarray(raw[:, order])
    names = [GRIZ[i] for i in order]
    a = encoder.embed(shuffled, preprocess=True, bands=names, pixel_scale=0.262, device="cpu")
    np.testing.assert_allclose(a, encoder.embed(raw, preprocess=True, device="cpu"), rtol=1e-5, atol=1e-5)
    pre = encoder.preprocessor(raw, bands=GRIZ, pixel_scale=0.131)  # a finer input grid: resampled
    np.testing.assert_allclose(encoder.embed(raw, preprocess=True, pixel_scale=0.131, device="cpu"),
                               encoder.embed(pre.images, device="cpu"), rtol=1e-5, atol=1e-5)


def test_embed_default_is_unchanged(encoder, raw):
    ready = encoder.preprocessor(raw).images
    assert np.array_equal(encoder.embed(ready, device="cpu"), encoder.embed(ready, preprocess=False, device="cpu"))
    with pytest.raises(ValueError, match="NaN or infinite pixels"):  # raw input without preprocess=True
        encoder.embed(raw[:, :3])
    with pytest.raises(ValueError, match="return_flags only apply to raw images: pass preprocess=True"):
        encoder.embed(ready, return_flags=True)
    with pytest.raises(ValueError, match="bands, pixel_scale only apply to raw images"):
        encoder.embed(ready, bands=GRIZ, pixel_scale=0.262)


def test_embed_preprocess_errors(encoder, raw):
    with pytest.raises(ValueError, match="recorded no preprocessing"):
        tiny_encoder().embed(raw, preprocess=True, bands=GRIZ)
    odd = tiny_encoder({"stretch": "asinh"})  # a dict that is not a pipeline's settings
    with pytest.raises(ValueError, match="recorded preprocessing is not a galzoo_fm.preprocess.Preprocessor's"):
        odd.embed(raw, preprocess=True)
    with pytest.raises(ValueError, match=r"the raw images have 4 channels but 3 band names are given"):
        encoder.embed(raw, preprocess=True, bands=["g", "r", "z"])
    with pytest.raises(ValueError, match=r"have 5 channels but 4 band names are recorded in the preprocessing"):
        encoder.embed(np.zeros((2, 5, 40, 40), np.float32), preprocess=True)
    with pytest.raises(ValueError, match=r"model band\(s\) 'z' not among the input bands"):
        encoder.embed(raw, preprocess=True, bands=["g", "r", "i", "y"])
    with pytest.raises(ValueError, match="pixel_scale must be a positive number"):
        encoder.embed(raw, preprocess=True, pixel_scale=-1.0)
    with pytest.raises(TypeError, match="preprocess must be True or False"):
        encoder.embed(raw, preprocess="yes")
    no_scale = tiny_encoder(Preprocessor(["g", "r", "z"], image_size=32, pixel_scale=0.262,
                                         softening=[0.01, 0.01, 0.01]))
    with pytest.raises(ValueError, match="band names are unknown: pass bands="):
        no_scale.embed(raw, preprocess=True)
    with pytest.raises(ValueError, match="pixel scale is unknown: pass pixel_scale="):
        no_scale.embed(raw, preprocess=True, bands=GRIZ)
    assert np.isfinite(no_scale.embed(raw, preprocess=True, bands=GRIZ, pixel_scale=0.262)).all()


# ------------------------------------------------------------------ evaluate on raw cutouts
@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Raw cutouts as a .npy file and as a cutout store (bands z, r, g at 0.131"), a catalogue, an encoder."""
    from galzoo_fm.cutout import Cutout, Status
    from galzoo_fm.store.writer import StoreWriter, ensure_manifest

    root = tmp_path_factory.mktemp("raw_labelled")
    images, cls = raw_cutouts(N, seed=1)
    images[5, 0, :4, :4] = np.nan
    images[6] = 0.0
    np.save(root / "images.npy", images)
    cat = Table({"morph": np.array(["compact", "extended"])[cls]})
    cat["morph"][3] = ""  # an unlabelled row
    cat.write(root / "cat.ecsv")
    store_bands = ["z", "r", "g"]
    store_pixels = np.ascontiguousarray(images[:, [3, 1, 0]])
    ensure_manifest(root / "store", {"shape": list(store_pixels.shape[1:]), "dtype": "float32",
                                     "bands": store_bands, "extras": [], "size": 40, "survey": "mock",
                                     "layer": None, "pixscale": 0.131, "catalog_fingerprint": "x"})
    with StoreWriter(root / "store", chunk_size=16) as w:
        for row in range(N):
            w.add(row, f"g{row}", 10.0 + row, 1.0, Cutout(Status.OK, store_pixels[row]))
    tiny_encoder(legacy_pre()).save_pretrained(root / "encoder")
    return root


def documented_path(encoder, raw_images, bands, pixel_scale, labels, seed=0, test_fraction=0.3, k=5):
    """The docs' Python path: preprocess by hand, Encoder.embed, the same split and probes as evaluate."""
    feats = encoder.embed(encoder.preprocessor(raw_images, bands=bands, pixel_scale=pixel_scale).images,
                          device="cpu")
    keep = np.flatnonzero(labels >= 0)
    feats, y = feats[keep], labels[keep]
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = max(1, round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    lin = float(np.mean(linear_probe(feats[train], y[train], feats[test]) == y[test]))
    knn = float(np.mean(knn_classify(feats[train], y[train], feats[test], k=k) == y[test]))
    return feats, lin, knn


@pytest.mark.parametrize("source", ["npy", "store"])
def test_evaluate_raw_cutouts_equals_the_documented_path(labelled, tmp_path, source):
    encoder = Encoder.from_pretrained(labelled / "encoder")
    data = labelled / ("images.npy" if source == "npy" else "store")
    dataset, _ = open_dataset(data, catalog=labelled / "cat.ecsv", label_columns="morph")
    raw_images = dataset[np.arange(len(dataset))]["images"].numpy()
    # a .npy: 4 channels = the recorded input bands (legacy g, r, i, z) at the recorded 0.262"/pixel;
    # a store: its own bands and pixel scale
    bands, scale = (GRIZ, 0.262) if source == "npy" else (["z", "r", "g"], 0.131)
    assert input_preprocessing(encoder, dataset)[1:] == (bands, scale)
    feats, lin, knn = documented_path(encoder, raw_images, bands, scale, dataset.labels)

    ours, flags = extract_features(encoder, dataset, batch_size=16, device="cpu", return_flags=True)
    keep = np.flatnonzero(dataset.labels >= 0)
    np.testing.assert_allclose(ours[keep], feats, rtol=1e-5, atol=1e-5)
    assert flags[5] & PreprocessFlag.NONFINITE and flags[6] & PreprocessFlag.EMPTY

    result = evaluate(labelled / "encoder", data, labelled / "cat.ecsv", "morph", out=tmp_path, sizes=(10, "all"),
                      repeats=2, k=5, batch_size=16, device="cpu")
    assert (result.linear_accuracy, result.knn_accuracy) == (lin, knn)
    assert result.n_train + result.n_test == N - 1
    prep = result.preprocessing
    # the store's 40 pixels of 0.131" are less than the model's field (32 x 0.262"): every cutout is TRUNCATED
    assert np.count_nonzero(flags[keep]) == (2 if source == "npy" else N - 1)
    assert prep == {"applied": True, "input_bands": bands, "input_pixel_scale": scale,
                    "n_flagged": int(np.count_nonzero(flags[keep])), "n_bad": 1}
    assert json.loads((tmp_path / "evaluation.json").read_text())["preprocessing"] == prep


def test_evaluate_input_choices_and_errors(labelled, tmp_path):
    encoder = Encoder.from_pretrained(labelled / "encoder")
    images = np.load(labelled / "images.npy")
    three = tmp_path / "three.npy"  # the model's own bands (g, r, z)
    np.save(three, np.ascontiguousarray(images[:, [0, 1, 3]]))
    ds3, _ = open_dataset(three)
    assert input_preprocessing(encoder, ds3)[1] == ["g", "r", "z"]
    zrg = tiny_encoder(legacy_pre(input_bands=["z", "r", "g"]))  # pretrained on z, r, g images: as recorded
    assert input_preprocessing(zrg, ds3)[1] == ["z", "r", "g"]
    five = tmp_path / "five.npy"
    np.save(five, np.concatenate([images, images[:, :1]], 1))
    ds5, _ = open_dataset(five)
    with pytest.raises(ValueError, match=r"5 channels, neither the model's 3 bands .* nor the 4 input_bands"):
        input_preprocessing(encoder, ds5)
    plan = input_preprocessing(encoder, ds5, bands="g, r,i z,y", pixel_scale=0.3)
    assert plan[1:] == (["g", "r", "i", "z", "y"], 0.3)
    assert input_preprocessing(encoder, ds5, preprocess=False) is None
    with pytest.raises(ValueError, match="recorded no preprocessing"):
        input_preprocessing(tiny_encoder(), ds5, preprocess=True)
    assert input_preprocessing(tiny_encoder(), ds5) is None  # nothing recorded: images used as they are
    # model-ready images: --no-preprocess
    ready = tmp_path / "ready.npy"
    np.save(ready, encoder.preprocessor(images).images)
    plain = evaluate(encoder, ready, labelled / "cat.ecsv", "morph", sizes=("all",), repeats=1, k=5,
                     device="cpu", preprocess=False)
    raw = evaluate(encoder, labelled / "images.npy", labelled / "cat.ecsv", "morph", sizes=("all",), repeats=1,
                   k=5, device="cpu")
    assert plain.preprocessing == {"applied": False}
    assert (plain.linear_accuracy, plain.knn_accuracy) == (raw.linear_accuracy, raw.knn_accuracy)


def test_cli_evaluate_preprocesses_raw_cutouts(labelled, tmp_path):
    from click.testing import CliRunner

    from galzoo_fm.cli import cli

    args = ["evaluate", "--model", str(labelled / "encoder"), "--data", str(labelled / "images.npy"), "--catalog",
            str(labelled / "cat.ecsv"), "--label-col", "morph", "--sizes", "all", "--repeats", "1", "--k", "5",
            "--device", "cpu", "--out", str(tmp_path)]
    res = CliRunner().invoke(cli, [*args, "--bands", "g,r,i,z", "--pixel-scale", "0.262"])
    assert res.exit_code == 0, res.output
    assert "preprocessed as recorded in the encoder (bands g,r,i,z, 0.262 arcsec/pixel): 2 flagged, 1 bad" in res.output
    res = CliRunner().invoke(cli, [*args, "--bands", "g,r,z"])
    assert res.exit_code != 0 and "the raw images have 4 channels but 3 band names are given" in res.output
