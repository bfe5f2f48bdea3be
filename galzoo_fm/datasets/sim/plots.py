"""Pictures of simulated galaxies by class, for the documentation and for checking the simulation by eye."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CLASSES", "morphology_class", "plot_classes"]

#: Picture classes, each a test on a truth table returning a boolean mask ``(N,)``.
CLASSES: dict[str, Any] = {
    "smooth round": lambda t: (t["kind"] == "elliptical") & (t["q"] > 0.8) & (t["merger"] == 0),
    "smooth elongated": lambda t: (t["kind"] == "elliptical") & (t["q"] < 0.55) & (t["merger"] == 0),
    "edge-on disc": lambda t: t["edge_on"] & (t["merger"] == 0),
    "tight spiral": lambda t: (t["winding"] == 0) & (t["bar"] == 0) & ~t["ring"],
    "loose spiral": lambda t: (t["winding"] == 2) & (t["bar"] == 0) & ~t["ring"],
    "many arms": lambda t: (t["n_arms"] >= 4) & ~t["ring"],
    "strong bar": lambda t: t["bar"] == 2,
    "ring": lambda t: t["ring"] & (t["bar"] == 0),
    "clumpy": lambda t: t["n_clumps"] > 0,
    "merger": lambda t: t["merger"] == 3,
    "star": lambda t: t["kind"] == "star",
    "artefact": lambda t: t["kind"] == "artifact",
}


def morphology_class(truth: Any) -> np.ndarray:
    """The first matching name of ``CLASSES`` for every row of a truth table (``"other"`` if none).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` strings.
    """
    out = np.full(len(truth), "other", dtype=object)
    for name in reversed(list(CLASSES)):
        out[np.asarray(CLASSES[name](truth), dtype=bool)] = name
    return out.astype(str)


def plot_classes(images: np.ndarray, truth: Any, path: str | Path, *, bands: Sequence[str] = ("g", "r", "z"),
                 per_class: int = 6, classes: Sequence[str] | None = None) -> Path:
    """Save a PNG grid of simulated galaxies, one row per class of ``CLASSES``.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, C, H, W)`` simulated images in nanomaggies.
    truth : astropy.table.Table
        The ``N`` truth rows of the images.
    path : str or path
        Output PNG.
    bands : sequence of str
        Band names of the ``C`` channels.
    per_class : int
        Pictures per row (the first galaxies of each class).
    classes : sequence of str, optional
        Class names to show; all of ``CLASSES`` by default.

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from galzoo_fm.preprocess import make_rgb

    names = list(CLASSES) if classes is None else list(classes)
    unknown = [n for n in names if n not in CLASSES]
    if unknown:
        raise ValueError(f"unknown class(es) {unknown}; known: {list(CLASSES)}")
    if len(images) != len(truth):
        raise ValueError(f"{len(images)} images but {len(truth)} truth rows")
    soft = {"g": 0.12, "r": 0.15, "z": 0.25}  # by band name: the channels may come in any order
    scales = [1 / soft[b] for b in bands] if all(b in soft for b in bands) else None
    fig, axes = plt.subplots(len(names), per_class, figsize=(1.3 * per_class, 1.35 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        idx = np.flatnonzero(np.asarray(CLASSES[name](truth), dtype=bool))[:per_class]
        rgb = make_rgb(images[idx], list(bands), scales=scales, stretch=0.5, Q=12.0) if len(idx) else []
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(idx):
                ax.imshow(rgb[col], origin="lower")
            if col == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.subplots_adjust(wspace=0.03, hspace=0.05, left=0.08, right=0.99, top=0.99, bottom=0.01)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
