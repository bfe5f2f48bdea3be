"""The installation instructions (README set-up, docs/install.rst) say what pyproject.toml and the
libraries actually do."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CPU_TORCH = "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu"


def test_install_page_shows_every_extra_from_pyproject():
    """The extras are a literalinclude of pyproject.toml's table, not a hand-written (and shortened) list."""
    text = (ROOT / "docs" / "install.rst").read_text()
    block = re.search(r"\.\. literalinclude:: \.\./pyproject\.toml\n((?:   :.*\n)+)", text)
    assert block, "install.rst includes pyproject.toml"
    options = dict(re.findall(r"   :([\w-]+): ?(.*)", block[1]))
    source = (ROOT / "pyproject.toml").read_text()
    start, end = source.index(options["start-at"]), source.index(options["end-before"])
    shown = tomllib.loads(source[start:end])["project"]["optional-dependencies"]
    declared = tomllib.loads(source)["project"]["optional-dependencies"]
    assert shown == declared and len(declared["test"]) == 9
    assert {"pyarrow", "pandas"} <= {re.split(r"[<>=!~ ]", p)[0] for p in declared["parquet"]}


def test_reading_parquet_needs_pandas_as_the_install_page_says(tmp_path, monkeypatch):
    """Writing a .parquet embeddings table needs only pyarrow; reading it back goes through astropy's reader,
    which refuses without pandas (checked here with astropy's own pandas flag turned off)."""
    pytest.importorskip("pyarrow")
    import astropy.io.misc.parquet as astropy_parquet
    from astropy.table import Table

    from galzoo_fm.explore import read_embeddings

    monkeypatch.setattr(astropy_parquet, "HAS_PANDAS", False)
    path = tmp_path / "emb.parquet"
    Table({"id": ["a", "b"], "embedding": np.ones((2, 4), "float32")}).write(path)  # pyarrow alone
    with pytest.raises(ValueError, match="pandas is required to read parquet files"):
        read_embeddings(path)
    text = " ".join((ROOT / "docs" / "install.rst").read_text().split())
    assert "``pandas is required to read parquet files``" in text


def test_readme_set_up_keeps_two_commands_after_one_cpu_torch_line():
    text = (ROOT / "README.md").read_text()
    setup = text[text.index("## Set up"):text.index("## Use")]
    commands = re.findall(r"```bash\n(.*?)\n```", setup, flags=re.S)
    assert commands == [
        "pip install . && galzoo-fm embed examples/data/sim_catalog.fits --survey synthetic --survey-opt seed=0 "
        "--survey-opt n=64 --model galzoo_fm/data/demo_encoder --out demo_embeddings.fits --overwrite",
        'pip install -e ".[test]" ./examples/plugins/galzoo-fm-example && pytest',
    ]
    before = setup[:setup.index("```bash")]
    assert before.count(CPU_TORCH) == 1
    assert CPU_TORCH in (ROOT / "docs" / "install.rst").read_text()
