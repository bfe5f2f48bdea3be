"""The docs build runs the gallery scripts of ``examples/`` (sphinx-gallery) and shows the PNG files they write.

The scripts save their figures as files (they also make the static pictures of the user guide). In the
docs build they write into a temporary folder named by ``$GALZOO_FM_FIGURES``, never into the source tree,
and :func:`png_scraper` puts each new file under the code block that wrote it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

FIGURES = Path(tempfile.mkdtemp(prefix="galzoo-fm-gallery-"))
os.environ["GALZOO_FM_FIGURES"] = str(FIGURES)
_shown: set[Path] = set()


def png_scraper(block, block_vars, gallery_conf):
    """The PNG files written into :data:`FIGURES` since the last call, as sphinx-gallery image RST."""
    from sphinx_gallery.scrapers import figure_rst

    new = sorted((p for p in FIGURES.glob("*.png") if p not in _shown), key=lambda p: p.stat().st_mtime)
    paths = []
    for png, target in zip(new, block_vars["image_path_iterator"], strict=False):
        shutil.copyfile(png, target)
        _shown.add(png)
        paths.append(target)
    return figure_rst(paths, gallery_conf["src_dir"])
