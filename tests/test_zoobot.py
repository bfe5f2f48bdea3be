"""Zoobot compatibility: the ``"zoobot"`` preprocessing preset and a Zoobot-style timm ``save_for_hf`` folder
give the vectors a reference computed directly with timm + torchvision gives (issue 17).

The folder is written here with ``timm.models.save_for_hf`` from a randomly initialised tiny architecture:
nothing is downloaded. The one test that loads the published Zoobot encoder is ``remote_data``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
from torchvision.transforms.v2 import functional as tvf

from galzoo_fm.models.encoder import Encoder
from galzoo_fm.preprocess import PREPROCESS_PRESETS, Preprocessor

ARCH = "resnet18"


def zoobot_reference_images(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Zoobot's inference input, by torchvision alone: uint8 -> float [0, 1] (``ToDtype(scale=True)``),
    centre crop of ``int(side / 1.2)`` pixels, antialiased bilinear ``resize`` to 224."""
    x = torch.as_tensor(images)
    x = tvf.to_dtype(x, torch.float32, scale=True)
    side = min(x.shape[-2:])
    x = tvf.center_crop(x, [int(side / 1.2)])
    return tvf.resize(x, [224, 224], interpolation=tvf.InterpolationMode.BILINEAR, antialias=True)


@pytest.fixture(scope="module")
def zoobot_folder(tmp_path_factory):
    """A timm ``save_for_hf`` folder, as Zoobot publishes its encoders (config.json + model.safetensors)."""
    torch.manual_seed(0)
    model = timm.create_model(ARCH, pretrained=False, num_classes=0)
    folder = tmp_path_factory.mktemp("zoobot_encoder")
    timm.models.save_for_hf(model, str(folder), safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def galaxy_jpg_like():
    """Four 424x424 RGB uint8 images: a smooth 'galaxy' plus noise, as decoded Galaxy Zoo JPGs."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:424, :424]
    blob = 200 * np.exp(-((yy - 212) ** 2 + (xx - 212) ** 2) / (2 * 40.0**2))
    imgs = blob[None, None] * rng.uniform(0.5, 1.0, (4, 3, 1, 1)) + rng.normal(20, 8, (4, 3, 424, 424))
    return np.clip(imgs, 0, 255).astype(np.uint8)


def test_preset_matches_torchvision(galaxy_jpg_like):
    pre = Preprocessor.preset("zoobot")
    assert pre == Preprocessor.from_dict(pre.to_dict())
    assert pre.bands == ["R", "G", "B"] and pre.image_size == 224 and pre.n_channels == 3
    ref = zoobot_reference_images(galaxy_jpg_like).numpy()
    for images in (galaxy_jpg_like, torch.from_numpy(galaxy_jpg_like), galaxy_jpg_like.astype(np.float32)):
        out = pre(images)
        got = out.images.numpy() if isinstance(out.images, torch.Tensor) else out.images
        assert got.shape == (4, 3, 224, 224)
        # torch's float32 antialiased interpolate is itself ~1e-5 from its float64 result; the pipeline's
        # resampling is within ~2e-7 of that float64 result
        assert np.abs(got - ref).max() < 5e-5
        assert (np.asarray(out.flags) == 0).all()
    ref64 = tvf.resize(tvf.center_crop(torch.from_numpy(galaxy_jpg_like).double() / 255, [353]), [224, 224],
                       antialias=True).numpy()
    assert np.abs(pre(galaxy_jpg_like).images - ref64).max() < 1e-6


def test_preset_errors_and_overrides():
    with pytest.raises(ValueError, match="unknown preprocessing preset 'zobot'.*zoobot"):
        Preprocessor.preset("zobot")
    assert Preprocessor.preset("zoobot", image_size=300).image_size == 300
    assert "zoobot" in PREPROCESS_PRESETS
    with pytest.raises(ValueError, match="crop_fraction.*pixel_scale=None"):
        Preprocessor(["g"], crop_fraction=0.5, pixel_scale=0.262, input_pixel_scale=0.262, stretch="none")
    with pytest.raises(ValueError, match="crop_fraction"):
        Preprocessor(["g"], crop_fraction=1.5, stretch="none")


def _timm_reference(folder, images: np.ndarray) -> torch.Tensor:
    """The folder's vectors computed with timm directly (weights from the file, ``num_classes=0``)."""
    model = timm.create_model(ARCH, pretrained=True, num_classes=0,
                              pretrained_cfg_overlay=dict(file=str(folder / "model.safetensors")))
    model.eval()
    with torch.no_grad():
        return model(zoobot_reference_images(images))


@pytest.mark.parametrize("how", ["load", "init"])
def test_zoobot_folder_same_vectors(zoobot_folder, galaxy_jpg_like, how):
    cfg = json.loads((zoobot_folder / "config.json").read_text())
    assert cfg["architecture"] == ARCH and "format" not in cfg  # a pure timm folder, no galzoo_fm config
    if how == "load":
        encoder = Encoder.from_pretrained(zoobot_folder, preprocessing="zoobot")
    else:
        encoder = Encoder(ARCH, in_chans=3, image_size=224, pretrained=str(zoobot_folder), preprocessing="zoobot")
    assert encoder.preprocessor == Preprocessor.preset("zoobot")
    ref = _timm_reference(zoobot_folder, galaxy_jpg_like).numpy()
    vectors = encoder.embed(galaxy_jpg_like, preprocess=True, batch_size=2, device="cpu")
    assert vectors.shape == ref.shape == (4, encoder.num_features)
    rel = np.abs(vectors - ref).max(axis=1) / np.linalg.norm(ref, axis=1)
    assert rel.max() < 1e-5, rel
    # the same through a saved galzoo_fm checkpoint, which records the preset
    again = Encoder.from_pretrained(encoder.save_pretrained(zoobot_folder.parent / f"saved_{how}"))
    assert again.preprocessing == Preprocessor.preset("zoobot").to_dict()
    np.testing.assert_array_equal(again.embed(galaxy_jpg_like, preprocess=True, batch_size=2, device="cpu"),
                                  vectors)


def test_zoobot_folder_without_preset_refuses_raw(zoobot_folder, galaxy_jpg_like):
    encoder = Encoder.from_pretrained(zoobot_folder)
    with pytest.raises(ValueError, match="recorded no preprocessing"):
        encoder.embed(galaxy_jpg_like, preprocess=True)
    with pytest.raises(ValueError, match="unknown preprocessing preset"):
        Encoder.from_pretrained(zoobot_folder, preprocessing="zobot")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_preset_on_cuda(galaxy_jpg_like):
    pre = Preprocessor.preset("zoobot")
    cpu = pre(torch.from_numpy(galaxy_jpg_like)).images
    gpu = pre(torch.from_numpy(galaxy_jpg_like).cuda()).images
    assert gpu.device.type == "cuda"
    assert (gpu.cpu() - cpu).abs().max() < 1e-5


@pytest.mark.remote_data
def test_hub_zoobot_convnext_nano(galaxy_jpg_like):
    encoder = Encoder.from_pretrained("hf_hub:mwalmsley/zoobot-encoder-convnext_nano", preprocessing="zoobot")
    vectors = encoder.embed(galaxy_jpg_like, preprocess=True, batch_size=2, device="cpu")
    assert vectors.shape == (4, encoder.num_features) and np.isfinite(vectors).all()


def test_zoobot_jpg_catalogue_end_to_end(zoobot_folder, galaxy_jpg_like, tmp_path):
    """A Zoobot-style catalogue (``id_str``, ``file_loc`` of 424x424 JPGs, relative paths) embedded with the
    Zoobot folder and ``preset="zoobot"`` through the whole pipeline (JPGs -> uint8 store -> preprocessing ->
    model) gives timm + torchvision's vectors of the decoded JPGs, row for row."""
    from astropy.table import Table
    from PIL import Image

    from galzoo_fm.embedding import run_embedding

    folder = tmp_path / "gz" / "images"
    folder.mkdir(parents=True)
    decoded = []
    for i, img in enumerate(galaxy_jpg_like):
        path = folder / f"J{i:03d}.jpg"
        Image.fromarray(np.moveaxis(img, 0, -1)).save(path, quality=90)
        decoded.append(np.moveaxis(np.asarray(Image.open(path).convert("RGB")), -1, 0))
    locs = [f"images/J{i:03d}.jpg" for i in range(len(decoded))] + ["images/missing.jpg"]
    catalog = tmp_path / "gz" / "catalog.csv"
    Table({"id_str": [f"gz{i}" for i in range(len(locs))], "file_loc": locs}).write(catalog)
    summary = run_embedding(catalog, images="file_loc", model=zoobot_folder, preset="zoobot",
                            out=tmp_path / "vectors.fits", device="cpu", batch_size=2, workers=2)
    table = Table.read(summary.out)
    assert list(table["id"]) == [f"gz{i}" for i in range(len(locs))]
    assert list(table["status"]) == ["ok"] * len(decoded) + ["failed"]
    assert "missing.jpg: no such file" in table["reason"][-1]
    assert np.isnan(np.ma.filled(table["embedding"][-1], np.nan)).all()
    assert table.meta["PRESRC"] == "preset zoobot" and table.meta["SURVEY"] == "images"
    ref = _timm_reference(zoobot_folder, np.stack(decoded)).numpy()
    got = np.ma.filled(table["embedding"][: len(decoded)], np.nan)
    rel = np.abs(got - ref).max(axis=1) / np.linalg.norm(ref, axis=1)
    assert rel.max() < 1e-5, rel
