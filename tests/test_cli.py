"""The command line, through click's runner (the same code path as the console script)."""

import json

import numpy as np
import pytest
from astropy.table import Table
from click.testing import CliRunner

import galzoo_fm
from galzoo_fm.cli import cli
from galzoo_fm.imagesets import read_image_set


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version_and_help():
    assert run("--version").output.strip() == f"galzoo-fm, version {galzoo_fm.__version__}"
    out = run("--help").output
    for command in ("plugins", "backbones", "embed-images"):
        assert command in out


def test_plugins_lists_builtin_and_example_plugin():
    out = run("plugins").output
    assert "galzoo_fm.backbones.timm_backbones  [builtin" in out
    assert "example  [entry point; galzoo-fm-example 0.1.0; galzoo_fm_example.plugin]" in out
    assert "backbones (1): example_smallcnn" in out
    data = json.loads(run("plugins", "--json").output)
    example = next(p for p in data if p["name"] == "example")
    assert example["registered"] == {"backbones": ["example_smallcnn"], "losses": ["example_vic"]}
    assert example["error"] is None


def test_example_plugin_command():
    assert run("example-hello", "--name", "M31").output.strip() == "hello, M31, from galzoo-fm-example"


def test_backbones_pattern():
    lines = run("backbones", "convnext_a*").output.splitlines()
    assert [line.split()[0] for line in lines] == galzoo_fm.list_backbones("convnext_a*")
    assert run("backbones", "nomatch*").output.strip() == "no backbones matching 'nomatch*'"
    data = json.loads(run("backbones", "example_*", "--json").output)
    description = "small CNN from the example plugin"
    assert data == [{"name": "example_smallcnn", "plugin": "example", "description": description}]


def test_embed_images_demo_matches_python_api(tmp_path):
    out = tmp_path / "demo.ecsv"
    result = run("embed-images", "-o", str(out), "--batch-size", "7")
    assert result.exit_code == 0
    assert "embedded 24 images into 512-dimensional vectors" in result.output
    table = Table.read(out)
    assert table.colnames == ["id", "ra", "dec", "embedding"]
    assert table["embedding"].shape == (24, 512)
    assert table.meta["BACKBONE"] == "resnet18" and table.meta["BANDS"] == "g,r,z"
    iset = read_image_set()
    expected = galzoo_fm.Encoder("resnet18", in_chans=3, image_size=64, seed=0).embed(iset.images)
    np.testing.assert_allclose(np.asarray(table["embedding"]), expected, rtol=1e-6, atol=1e-7)
    assert list(table["id"]) == list(iset.objects["id"])


def test_embed_images_with_saved_model(tmp_path):
    images = np.random.default_rng(0).normal(size=(5, 2, 32, 32)).astype(np.float32)
    np.save(tmp_path / "cube.npy", images)
    enc = galzoo_fm.Encoder("example_smallcnn", in_chans=2, image_size=32, seed=1)
    enc.save_pretrained(tmp_path / "model")
    out = tmp_path / "emb.fits"
    result = run("embed-images", str(tmp_path / "cube.npy"), "--model", str(tmp_path / "model"), "-o", str(out))
    assert result.exit_code == 0, result.output
    table = Table.read(out)
    assert list(table["id"]) == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(np.asarray(table["embedding"]), enc.embed(images), rtol=1e-6)
    assert table.meta["MODELSHA"] != "none"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "out.txt"], "cannot tell the table format of 'out.txt'"),
        (["missing.fits"], "image file missing.fits does not exist"),
        (["--backbone", "resnet_18"], "unknown backbone 'resnet_18'"),
        (["--model", "no_such_folder"], "no such checkpoint folder no_such_folder"),
    ],
)
def test_embed_images_errors(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["embed-images", *args])
    assert result.exit_code == 1
    assert message in result.output


def test_embed_images_refuses_to_overwrite(tmp_path):
    out = tmp_path / "e.ecsv"
    out.write_text("precious")
    result = CliRunner().invoke(cli, ["embed-images", "-o", str(out)])
    assert result.exit_code == 1 and "exists; pass --overwrite to replace it" in result.output
    assert "overwrite=True" not in result.output
    assert out.read_text() == "precious"
    assert run("embed-images", "-o", str(out), "--overwrite").exit_code == 0
    assert len(Table.read(out)) == 24


def test_embed_images_runs_the_recorded_preprocessing(tmp_path):
    """An encoder with recorded preprocessing gets the raw FITS cube preprocessed (bands and pixel scale from
    the cube's header), exactly as the documented two-step Python path does."""
    from galzoo_fm.preprocess import Preprocessor

    iset = read_image_set()
    pre = Preprocessor(["g", "r", "z"], survey="legacy", image_size=32, pixel_scale=0.4)
    enc = galzoo_fm.Encoder("example_smallcnn", in_chans=3, image_size=32, seed=2, preprocessing=pre)
    enc.save_pretrained(tmp_path / "model")
    out = tmp_path / "emb.fits"
    result = run("embed-images", "--model", str(tmp_path / "model"), "-o", str(out))
    assert result.exit_code == 0, result.output
    table = Table.read(out)
    by_hand = enc.embed(pre(iset.images, bands=iset.bands, pixel_scale=0.262).images)
    np.testing.assert_allclose(np.asarray(table["embedding"]), by_hand, rtol=1e-5, atol=1e-6)
    assert table.meta["PREPROC"] == "checkpoint" and (np.asarray(table["flags"]) == 0).all()
    raw = run("embed-images", "--model", str(tmp_path / "model"), "--no-preprocess", "-o", str(out), "--overwrite")
    assert raw.exit_code == 0, raw.output
    assert "flags" not in Table.read(out).colnames
