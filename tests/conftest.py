"""Shared fixtures: plugin-state isolation, throwaway plugins, fake installed distributions."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import torch

from galzoo_fm import plugins


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Plugins rediscovered from scratch for this test, and again after it."""
    plugins.reset()
    yield plugins
    plugins.reset()


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch, fresh_plugins):
    """Install a fake distribution on ``sys.path`` with a ``galzoo_fm`` entry point and plugin source.

    Call ``fake_distribution(dist_name, ep_name, module_source)``; returns the module name. The plugin is
    found by real entry-point discovery (``importlib.metadata``), exactly as an installed package would be.
    """

    def make(dist: str, ep_name: str, source: str) -> str:
        module = f"fakeplugin_{uuid.uuid4().hex[:8]}"
        root = tmp_path / f"site_{module}"
        root.mkdir()
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(f"[galzoo_fm]\n{ep_name} = {module}\n")
        monkeypatch.syspath_prepend(str(root))
        plugins.reset()
        return module

    yield make
    for name in [m for m in sys.modules if m.startswith("fakeplugin_")]:
        del sys.modules[name]


@pytest.fixture
def demo_images() -> Path:
    from galzoo_fm.embedding.images import _demo_path

    return _demo_path()
