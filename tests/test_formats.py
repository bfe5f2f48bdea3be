"""The file formats are contracts: the names written into checkpoints, stores and training state do not
follow the module layout (a module may move; a file written by an earlier version must still read)."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest
from safetensors import safe_open

from galzoo_fm import Encoder
from galzoo_fm.models import checkpoint
from galzoo_fm.preprocess import pipeline
from galzoo_fm.store import layout
from galzoo_fm.training import augment, state

#: the format names as galzoo_fm 0.1 wrote them (``format`` keys of the JSON files, the weights' producer)
WRITTEN_BY_0_1 = [
    (checkpoint, "galzoo_fm.encoder"),
    (augment, "galzoo_fm.augment"),
    (pipeline, "galzoo_fm.preprocess"),
    (layout, "galzoo_fm.cutouts"),
    (state, "galzoo_fm.training_state"),
]


@pytest.mark.parametrize(("module", "name"), WRITTEN_BY_0_1, ids=[n for _, n in WRITTEN_BY_0_1])
def test_format_names_are_those_earlier_versions_wrote(module, name):
    assert (module.FORMAT, module.FORMAT_VERSION) == (name, 1)


def test_the_shipped_encoder_written_before_the_layout_change_loads_and_saves_the_same_format(tmp_path):
    folder = resources.files("galzoo_fm") / "data" / "demo_encoder"
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == "galzoo_fm.encoder"
    encoder = Encoder.from_pretrained(str(folder))
    encoder.save_pretrained(tmp_path / "again")
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert again["format"] == config["format"] and again["preprocessing"] == config["preprocessing"]
    with safe_open(str(tmp_path / "again" / "model.safetensors"), "pt") as fh:
        assert fh.metadata()["producer"] == "galzoo_fm.encoder"
    x = np.random.default_rng(0).normal(size=(2, encoder.in_chans, encoder.image_size, encoder.image_size))
    np.testing.assert_array_equal(encoder.embed(x.astype(np.float32)),
                                  Encoder.from_pretrained(tmp_path / "again").embed(x.astype(np.float32)))


def test_preprocessing_settings_newer_than_version_1_are_written_only_when_set():
    """A pipeline that does not use them saves exactly the keys version 1 wrote (older readers read it)."""
    from galzoo_fm.preprocess import Preprocessor

    plain = Preprocessor(["g", "r", "z"], survey="legacy").to_dict()
    assert "input_scale" not in plain and "crop_fraction" not in plain
    zoobot = Preprocessor.preset("zoobot").to_dict()
    assert zoobot["input_scale"] == 1 / 255 and zoobot["crop_fraction"] != 1.0
    assert Preprocessor.from_dict(zoobot) == Preprocessor.preset("zoobot")
