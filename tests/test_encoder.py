"""The Encoder: embedding, devices and dtypes, save/load, and bad input."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from galzoo_fm import Encoder
from galzoo_fm.models.checkpoint import FORMAT, WEIGHTS_NAME, canonical_header, file_sha256


@pytest.fixture(scope="module")
def encoder():
    return Encoder("resnet18", in_chans=3, image_size=32, seed=0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).normal(size=(11, 3, 32, 32)).astype(np.float32)


def _reference(encoder, x):
    """Independent computation: the backbone's forward in float64."""
    model = encoder.backbone.double().eval()
    try:
        with torch.no_grad():
            return model(torch.as_tensor(x, dtype=torch.float64)).numpy()
    finally:
        encoder.backbone.float()


def test_embed_matches_direct_forward(encoder, images):
    out = encoder.embed(images, batch_size=4, device="cpu")
    assert out.shape == (11, encoder.num_features) == (11, 512)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _reference(encoder, images), rtol=1e-4, atol=1e-5)


def test_embed_is_batch_size_and_input_type_invariant(encoder, images):
    # float32 convolutions sum in a batch-size-dependent order: differences of a few 1e-6 on features ~0.05
    tol = {"rtol": 1e-4, "atol": 1e-5}
    a = encoder.embed(images, batch_size=3)
    np.testing.assert_allclose(encoder.embed(images, batch_size=64), a, **tol)
    np.testing.assert_allclose(encoder.embed(torch.from_numpy(images), batch_size=5), a, **tol)
    # float64, big-endian (as FITS data comes) and float16 inputs convert on the way in
    np.testing.assert_allclose(encoder.embed(images.astype(np.float64)), a, **tol)
    np.testing.assert_allclose(encoder.embed(images.astype(">f4")), a, **tol)
    half = images.astype(np.float16)
    np.testing.assert_allclose(encoder.embed(half), encoder.embed(half.astype(np.float32)), rtol=0, atol=0)


def test_embed_integer_images(encoder):
    img = np.random.default_rng(1).integers(0, 255, size=(2, 3, 32, 32), dtype=np.uint8)
    np.testing.assert_allclose(encoder.embed(img), encoder.embed(img.astype(np.float32)), rtol=1e-6)


def test_embed_resizes_to_image_size(encoder):
    big = np.random.default_rng(2).normal(size=(3, 3, 48, 48)).astype(np.float32)
    resized = F.interpolate(torch.from_numpy(big), size=(32, 32), mode="bilinear", antialias=True,
                            align_corners=False).numpy()
    np.testing.assert_allclose(encoder.embed(big), encoder.embed(resized), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"images are 48x48 pixels but the encoder expects 32x32"):
        encoder.embed(big, resize=False)


def test_embed_restores_training_mode(encoder, images):
    encoder.train()
    encoder.embed(images[:2])
    assert encoder.training
    encoder.eval()


def test_empty_input(encoder):
    assert encoder.embed(np.zeros((0, 3, 32, 32), np.float32)).shape == (0, 512)


def test_save_load_identical(tmp_path, encoder, images):
    encoder.preprocessing.update({"stretch": "asinh", "softening": [0.1, 0.2, 0.3]})
    folder = encoder.save_pretrained(tmp_path / "enc")
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["backbone"] == "resnet18" and cfg["in_chans"] == 3 and cfg["image_size"] == 32
    assert cfg["preprocessing"] == {"stretch": "asinh", "softening": [0.1, 0.2, 0.3]}
    assert not list(folder.glob(".*tmp"))  # no temporary file left behind
    loaded = Encoder.from_pretrained(folder)
    assert loaded.preprocessing == encoder.preprocessing
    assert len(loaded.weights_sha256) == 64
    assert np.array_equal(loaded.embed(images), encoder.embed(images))


def test_saves_of_the_same_weights_are_byte_identical(tmp_path, encoder):
    """safetensors writes its metadata keys in a random order; the checkpoint's bytes must not depend on it."""
    from safetensors import safe_open

    saved = [encoder.save_pretrained(tmp_path / f"enc{i}") for i in range(5)]
    weights = [(folder / WEIGHTS_NAME).read_bytes() for folder in saved]
    assert all(w == weights[0] for w in weights[1:])
    assert len({file_sha256(folder / WEIGHTS_NAME) for folder in saved}) == 1
    assert len({(folder / "config.json").read_bytes() for folder in saved}) == 1
    with safe_open(saved[0] / WEIGHTS_NAME, "pt") as f:
        assert f.metadata() == {"format": "pt", "producer": FORMAT}
        keys = list(f.keys())
        assert keys and torch.equal(f.get_tensor(keys[0]).float(), encoder.state_dict()[keys[0]].float())
    assert np.array_equal(Encoder.from_pretrained(saved[-1]).embed(np.zeros((1, 3, 32, 32), np.float32)),
                          encoder.embed(np.zeros((1, 3, 32, 32), np.float32)))


def test_canonical_header_sorts_the_metadata_and_keeps_the_file_valid(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save

    tensors = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.ones(3, dtype=torch.float16)}
    meta = {f"k{i}": str(i) for i in range(8)}
    seen = set()
    for i in range(5):
        path = tmp_path / f"x{i}.safetensors"
        path.write_bytes(save(tensors, metadata=meta))
        size = path.stat().st_size
        assert canonical_header(path) == path and path.stat().st_size == size
        seen.add(path.read_bytes())
        with safe_open(path, "pt") as f:
            assert f.metadata() == meta
            assert torch.equal(f.get_tensor("w"), tensors["w"]) and torch.equal(f.get_tensor("b"), tensors["b"])
    assert len(seen) == 1
    header = next(iter(seen))[8:].split(b"}}", 1)[0]
    assert header.index(b'"k0"') < header.index(b'"k7"')
    (tmp_path / "bad.safetensors").write_bytes(b"\x04\x00\x00\x00\x00\x00\x00\x00nope")
    with pytest.raises(ValueError, match="not a safetensors file"):
        canonical_header(tmp_path / "bad.safetensors")


def test_bands_and_seed():
    a = Encoder("resnet18", in_chans=3, image_size=32, bands=["g", "r", "z"], seed=3)
    b = Encoder("resnet18", in_chans=3, image_size=32, seed=3)
    c = Encoder("resnet18", in_chans=3, image_size=32, seed=4)
    assert torch.equal(a.backbone.model.conv1.weight, b.backbone.model.conv1.weight)
    assert not torch.equal(a.backbone.model.conv1.weight, c.backbone.model.conv1.weight)
    assert a.config["bands"] == ["g", "r", "z"]
    with pytest.raises(ValueError, match="name 2 bands but in_chans is 3"):
        Encoder("resnet18", in_chans=3, bands=["g", "r"])


def test_plugin_backbone_round_trip(tmp_path):
    enc = Encoder("example_smallcnn", in_chans=5, image_size=32, seed=0, backbone_kwargs={"width": 8})
    assert enc.num_features == 32
    x = np.random.default_rng(0).normal(size=(4, 5, 32, 32)).astype(np.float32)
    loaded = Encoder.from_pretrained(enc.save_pretrained(tmp_path / "small"))
    assert loaded.backbone_kwargs == {"width": 8}
    assert np.array_equal(loaded.embed(x), enc.embed(x))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((3, 32, 32), r"rank 3 with shape \(3, 32, 32\); for one image use images\[None\]"),
        ((2, 1, 3, 32, 32), "rank 5"),
        ((2, 5, 32, 32), r"expects 3 channels \(bands\) but images have 5"),
    ],
)
def test_bad_shapes(encoder, shape, match):
    with pytest.raises(ValueError, match=match):
        encoder.embed(np.zeros(shape, np.float32))


def test_bad_types(encoder):
    with pytest.raises(TypeError, match="numpy.ndarray or torch.Tensor"):
        encoder.embed([[[[0.0]]]])
    with pytest.raises(TypeError, match="real numeric dtype"):
        encoder.embed(np.zeros((1, 3, 32, 32), dtype=bool))
    with pytest.raises(TypeError, match="real numeric dtype"):
        encoder.embed(np.zeros((1, 3, 32, 32), dtype=np.complex64))


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_non_finite_pixels_name_the_images(encoder, images, bad_value, as_tensor):
    x = images.copy()
    x[7, 1, 3, 4] = bad_value
    x[9, 0, 0, 0] = bad_value
    with pytest.raises(ValueError, match=r"NaN or infinite pixels \(image indices 7, 9\)"):
        encoder.embed(torch.from_numpy(x) if as_tensor else x, batch_size=64)


def test_bad_arguments(encoder, images):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        encoder.embed(images, batch_size=0)
    with pytest.raises(ValueError, match="precision must be one of"):
        encoder.embed(images, precision="fp8")
    with pytest.raises(ValueError, match="invalid device"):
        encoder.embed(images, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            encoder.embed(images, device="cuda")
    with pytest.raises(ValueError, match="unknown backbone 'resnet_18'; did you mean 'resnet18'"):
        Encoder("resnet_18")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        Encoder("resnet18", preprocessing={"f": object()})


def test_checkpoint_errors(tmp_path, encoder):
    with pytest.raises(ValueError, match="no such checkpoint folder"):
        Encoder.from_pretrained(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="has no config.json"):
        Encoder.from_pretrained(empty)
    folder = encoder.save_pretrained(tmp_path / "enc")
    with pytest.raises(ValueError, match="is a file"):
        Encoder.from_pretrained(folder / "config.json")
    with pytest.raises(ValueError, match="cannot be changed"):
        Encoder.from_pretrained(folder, in_chans=4)

    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "in_chans": 4}))
    with pytest.raises(ValueError, match=r"shape mismatches: backbone.model.conv1.weight: checkpoint \(64, 3, 7, 7\) "
                                         r"vs model \(64, 4, 7, 7\)"):
        Encoder.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({**cfg, "backbone": "resnet34"}))
    with pytest.raises(ValueError, match="missing tensors: backbone.model.layer1.2"):
        Encoder.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({**cfg, "backbone": "example_smallcnn"}))
    with pytest.raises(ValueError, match="unexpected tensors"):
        Encoder.from_pretrained(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Encoder.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"format": "galzoo_fm.encoder", "backbone": "resnet18"}))
    with pytest.raises(ValueError, match="lacks required keys: in_chans, image_size"):
        Encoder.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="neither a galzoo_fm encoder config"):
        Encoder.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / WEIGHTS_NAME).write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="cannot read"):
        Encoder.from_pretrained(folder)
    (folder / WEIGHTS_NAME).unlink()
    with pytest.raises(ValueError, match=f"but no {WEIGHTS_NAME}"):
        Encoder.from_pretrained(folder)


def test_from_timm_folder(tmp_path):
    import timm
    from timm.models import save_for_hf

    torch.manual_seed(0)
    model = timm.create_model("convnext_atto", num_classes=0)
    save_for_hf(model, tmp_path / "hf", safe_serialization=True)
    enc = Encoder.from_pretrained(tmp_path / "hf", image_size=32)
    assert (enc.backbone_name, enc.in_chans, enc.image_size) == ("convnext_atto", 3, 32)
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(enc.embed(x), expected, rtol=1e-5, atol=1e-5)
    four = Encoder.from_pretrained(tmp_path / "hf", in_chans=4, image_size=32)
    assert four.in_chans == 4


@pytest.mark.gpu
def test_cuda_bf16_embedding_close_to_fp32(encoder, images):
    gpu = encoder.embed(images, device="cuda")
    cpu = encoder.embed(images, device="cpu")
    cos = (gpu * cpu).sum(1) / np.linalg.norm(gpu, axis=1) / np.linalg.norm(cpu, axis=1)
    assert cos.min() > 0.99
    exact = encoder.embed(images, device="cuda", precision="fp32")
    np.testing.assert_allclose(exact, cpu, rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------ D4 symmetry
def test_d4_symmetry_is_the_mean_over_the_eight_transforms_and_exactly_invariant(tmp_path):
    enc = Encoder("resnet18", in_chans=3, image_size=32, seed=0, symmetry="d4",
                  backbone_kwargs={"layers": [1, 1, 1, 1], "channels": [8, 8, 8, 8]})
    x = np.random.default_rng(1).normal(size=(5, 3, 32, 32)).astype(np.float32)
    e = enc.embed(x, device="cpu").astype(np.float64)
    # independent reference: the plain backbone in float64 on each transform, written out with numpy
    orbit = [np.rot90(y, k, axes=(-2, -1)) for y in (x, x[..., ::-1]) for k in range(4)]
    ref = np.mean([_reference(enc, np.ascontiguousarray(v)) for v in orbit], axis=0)
    np.testing.assert_allclose(e, ref, rtol=1e-4, atol=1e-5)
    plain = _reference(enc, x)
    assert np.abs(plain - ref).max() > 1e-3  # the average is not the single pass
    for moved in (np.rot90(x, 1, axes=(-2, -1)), np.rot90(x, 3, axes=(-2, -1)), x[..., ::-1], x[..., ::-1, :]):
        np.testing.assert_allclose(enc.embed(np.ascontiguousarray(moved), device="cpu"), e, rtol=1e-4, atol=1e-5)
    # saved with the checkpoint and reloaded; an encoder without it writes no key
    back = Encoder.from_pretrained(enc.save_pretrained(tmp_path / "d4"))
    assert back.symmetry == "d4" and "symmetry=" in repr(back)
    np.testing.assert_allclose(back.embed(x, device="cpu"), e, rtol=1e-5, atol=1e-6)
    assert "symmetry" not in Encoder("resnet18", in_chans=3, image_size=32, seed=0).config
    back.symmetry = "none"
    np.testing.assert_allclose(back.embed(x, device="cpu"), plain, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="symmetry must be one of 'none', 'd4'; got 'c8'"):
        back.symmetry = "c8"
    # training mode: one pass (the pretraining views are rotated and flipped anyway); BatchNorm then uses
    # batch statistics, so compare with the backbone on the same batch
    enc.train()
    with torch.no_grad():
        torch.testing.assert_close(enc(torch.as_tensor(x)), enc.backbone(torch.as_tensor(x)))
