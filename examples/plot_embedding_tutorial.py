"""
Embedding a catalogue: neighbours and a map
===========================================

Make the pictures of ``docs/embedding.rst``: run the tutorial on the bundled sky and save the figures.

Embeds ``examples/data/demo_catalog.ecsv`` from ``demo_mosaic.fits`` (the ``local`` survey) with a
random-init ResNet-18 (seeded) — vectors that reflect image statistics, not learnt morphology — then draws
the nearest neighbours of one galaxy and a PCA map with thumbnails::

    python examples/make_embed_demo.py          # once, if examples/data is missing
    python examples/plot_embedding_tutorial.py  # writes docs/images/embedding_*.png
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from galzoo_fm.embedding import embed_catalog
from galzoo_fm.explore import map_figure, neighbours_figure
from galzoo_fm.explore.plots import save_figure

# the repository: sphinx-gallery runs the examples from examples/ without a __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent
DATA = ROOT / "examples" / "data"
# the docs build (sphinx-gallery) names a temporary folder; run by hand, the figures go to docs/images
IMAGES = Path(os.environ.get("GALZOO_FM_FIGURES", ROOT / "docs" / "images"))


def main() -> None:
    out = Path(tempfile.mkdtemp()) / "demo_embeddings.parquet"
    table = embed_catalog(DATA / "demo_catalog.ecsv", survey="local",
                          survey_options={"path": str(DATA / "demo_mosaic.fits")}, out=out, anomaly_k=5)
    print(table["id", "status", "reason"])
    fig = neighbours_figure(out, id="demo-007", k=5, ncols=6,
                            title="random-init ResNet-18: nearest neighbours of demo-007 (cosine)")
    print("wrote", save_figure(fig, IMAGES / "embedding_neighbours.png", dpi=75))
    fig = map_figure(out, n_thumbnails=20, colour="anomaly_score", thumbnail_zoom=0.5,
                     title="random-init ResNet-18: PCA map of 36 demo galaxies")
    print("wrote", save_figure(fig, IMAGES / "embedding_map.png", dpi=80))


if __name__ == "__main__":
    main()
