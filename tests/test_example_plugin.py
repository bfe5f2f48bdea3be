"""The example third-party plugin (examples/plugins/galzoo-fm-example), installed as a real distribution.

CI and the README's test command pip-install it; these tests prove it is found through the ``galzoo_fm``
entry point (not registered by hand) and usable everywhere a built-in backbone is.
"""

import importlib.metadata

import numpy as np
import pytest

import galzoo_fm
from galzoo_fm import plugins


@pytest.fixture(scope="module")
def example_entry_point():
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="galzoo_fm")}
    if "example" not in eps:
        pytest.fail("the example plugin is not installed: pip install ./examples/plugins/galzoo-fm-example")
    return eps["example"]


def test_discovered_through_the_entry_point(example_entry_point, fresh_plugins):
    assert example_entry_point.value == "galzoo_fm_example.plugin"
    assert example_entry_point.dist.name == "galzoo-fm-example"
    info = {i.name: i for i in plugins.plugin_info()}["example"]
    assert info.source == "entry point"
    assert (info.distribution, info.version) == ("galzoo-fm-example", "0.1.0")
    assert info.error is None
    assert info.registered == {"backbones": ["example_smallcnn"], "losses": ["example_vic"]}
    assert galzoo_fm.plugins.get_registry("backbones").entry("example_smallcnn").plugin == "example"


def test_disabled_by_environment(example_entry_point, fresh_plugins, monkeypatch):
    monkeypatch.setenv("GALZOO_FM_LOAD_PLUGINS", "some-other-plugin")
    plugins.reset()
    assert "example_smallcnn" not in galzoo_fm.list_backbones()
    with pytest.raises(ValueError, match="unknown backbone 'example_smallcnn'"):
        galzoo_fm.get_backbone("example_smallcnn")


def test_usable_as_an_encoder_backbone(example_entry_point):
    encoder = galzoo_fm.Encoder("example_smallcnn", in_chans=4, image_size=32, seed=0)
    out = encoder.embed(np.ones((3, 4, 32, 32), np.float32))
    assert out.shape == (3, 64)
    assert np.allclose(out, out[0])  # identical images give identical vectors


def test_plugin_guide_includes_the_real_example_files():
    """docs/plugins.rst shows the example plugin by literalinclude of its files, so it cannot drift from them."""
    import re
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs"
    text = (docs / "plugins.rst").read_text()
    included = re.findall(r"^\.\. literalinclude:: (\S+)$", text, flags=re.M)
    assert all((docs / p).is_file() for p in included), included
    package = docs.parent / "examples" / "plugins" / "galzoo-fm-example"
    every_file = {package / "pyproject.toml", *(package / "galzoo_fm_example").glob("*.py")}
    every_file -= {package / "galzoo_fm_example" / "__init__.py"}
    assert {(docs / p).resolve() for p in included} == {f.resolve() for f in every_file}
    assert "class SmallCNN" not in text and "def register_backbones" not in text  # nothing pasted by hand
