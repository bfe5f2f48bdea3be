"""Pictures of galaxies and embeddings: RGB cutouts, nearest-neighbour grids, 2-D embedding maps.

Figures are matplotlib figures; :func:`save_figure` writes PNG or PDF by extension. RGB composites use the
Lupton et al. (2004) arcsinh scheme (:func:`astropy.visualization.make_lupton_rgb`), reddest band in red.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["galaxy_rgb", "plot_map", "plot_neighbours", "project_2d", "save_figure"]


def galaxy_rgb(image: np.ndarray, *, stretch: float | None = None, q: float = 8.0) -> np.ndarray:
    """An RGB picture of one multi-band cutout.

    Parameters
    ----------
    image : numpy.ndarray
        Shape ``(C, H, W)``, bands ordered blue to red (e.g. g, r, z). One band gives a grey picture; two
        bands use their mean as green; more than three use the first, middle and last band.
    stretch : float, optional
        Linear stretch of :func:`~astropy.visualization.make_lupton_rgb`; by default the 99.5th percentile
        of the finite pixels over ``q``, so that faint and bright galaxies both show structure.
    q : float
        Asinh softening parameter.

    Returns
    -------
    numpy.ndarray
        Shape ``(H, W, 3)``, uint8. NaN pixels are black.
    """
    from astropy.visualization import make_lupton_rgb

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 3:
        raise ValueError(f"image must have shape (C, H, W), got {img.shape}")
    img = np.where(np.isfinite(img), img, 0.0)
    c = img.shape[0]
    if c == 1:
        blue = green = red = img[0]
    elif c == 2:
        blue, red = img
        green = 0.5 * (blue + red)
    else:
        blue, green, red = img[0], img[c // 2], img[-1]
    if stretch is None:
        level = np.percentile(np.stack([red, green, blue]), 99.5)
        stretch = float(level / q) if level > 0 else 1.0
    with np.errstate(invalid="ignore", divide="ignore"):  # astropy divides by the zero intensity of empty pixels
        return make_lupton_rgb(red, green, blue, stretch=stretch, Q=q)


def save_figure(fig: Any, path: str | Path, *, dpi: int = 150) -> Path:
    """Save a matplotlib figure as PNG or PDF (by extension)."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf"):
        raise ValueError(f"figure file {path} must end in .png or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def plot_neighbours(
    query: np.ndarray,
    neighbours: np.ndarray,
    *,
    query_label: str = "query",
    labels: Sequence[str] | None = None,
    similarities: Sequence[float] | None = None,
    ncols: int = 6,
):
    """The query galaxy and its nearest neighbours as RGB cutouts, with ids and similarities.

    Parameters
    ----------
    query : numpy.ndarray
        The query cutout, ``(C, H, W)``.
    neighbours : numpy.ndarray
        Neighbour cutouts, ``(K, C, H, W)``, most similar first.
    query_label : str
        Title of the query panel (e.g. its id).
    labels : sequence of str, optional
        One title per neighbour (e.g. ids).
    similarities : sequence of float, optional
        Cosine similarity of each neighbour, shown under its label.
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    neighbours = np.asarray(neighbours)
    if neighbours.ndim != 4:
        raise ValueError(f"neighbours must have shape (K, C, H, W), got {neighbours.shape}")
    k = len(neighbours)
    for what, seq in (("labels", labels), ("similarities", similarities)):
        if seq is not None and len(seq) != k:
            raise ValueError(f"{what} has {len(seq)} entries but there are {k} neighbours")
    n = k + 1
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = _figure(1.8 * ncols, 2.3 * nrows)
    panels = [(np.asarray(query), f"{query_label}\n(query)")]
    for i in range(k):
        title = str(labels[i]) if labels is not None else f"#{i + 1}"
        if similarities is not None:
            title += f"\ncos = {similarities[i]:.3f}"
        panels.append((neighbours[i], title))
    for i, (image, title) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(galaxy_rgb(image), origin="lower")
        ax.set_title(title, fontsize=8, color="C3" if i == 0 else "black")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def project_2d(embeddings: np.ndarray, method: str = "pca", *, seed: int = 0) -> np.ndarray:
    """Project embeddings ``(N, D)`` to ``(N, 2)``.

    ``"pca"``: the first two principal components (float64 SVD of the centred vectors). ``"umap"``: UMAP
    (McInnes et al. 2018; needs ``umap-learn``). ``"auto"``: UMAP when installed, PCA otherwise. Rows with
    non-finite values are NaN in the output.
    """
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must have shape (N, D), got {emb.shape}")
    valid = np.isfinite(emb).all(axis=1)
    if valid.sum() < 3:
        raise ValueError(f"a 2-D map needs at least 3 valid embeddings, got {int(valid.sum())}")
    if method == "auto":
        import importlib.util

        method = "umap" if importlib.util.find_spec("umap") is not None else "pca"
    out = np.full((len(emb), 2), np.nan)
    x = emb[valid]
    if method == "pca":
        centred = x - x.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        proj = centred @ vt[:2].T
        if proj.shape[1] < 2:
            proj = np.column_stack([proj, np.zeros(len(proj))])
        out[valid] = proj
    elif method == "umap":
        try:
            import umap
        except ImportError as exc:
            raise ValueError("method='umap' needs the umap-learn package: pip install umap-learn") from exc
        out[valid] = umap.UMAP(n_components=2, random_state=seed).fit_transform(x)
    else:
        raise ValueError(f"method must be 'pca', 'umap' or 'auto', got {method!r}")
    return out


def _spread_sample(xy: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` points spread over the map (greedy farthest-point sampling)."""
    valid = np.flatnonzero(np.isfinite(xy).all(axis=1))
    if len(valid) <= n:
        return valid
    rng = np.random.default_rng(seed)
    chosen = [int(rng.choice(valid))]
    dist = np.linalg.norm(xy[valid] - xy[chosen[0]], axis=1)
    for _ in range(n - 1):
        nxt = int(valid[np.argmax(dist)])
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(xy[valid] - xy[nxt], axis=1))
    return np.array(chosen)


def plot_map(
    embeddings: np.ndarray,
    images: np.ndarray | None = None,
    *,
    method: str = "pca",
    n_thumbnails: int = 30,
    thumbnail_zoom: float = 0.6,
    colour: np.ndarray | None = None,
    colour_label: str | None = None,
    seed: int = 0,
):
    """A 2-D map of the embeddings with thumbnails of sample galaxies.

    Parameters
    ----------
    embeddings : numpy.ndarray
        Shape ``(N, D)``.
    images : numpy.ndarray, optional
        Cutouts ``(N, C, H, W)`` in the same order, for thumbnails.
    method : {"pca", "umap", "auto"}
        Projection, see :func:`project_2d`.
    n_thumbnails : int
        Number of galaxies shown as pictures, spread over the map.
    thumbnail_zoom : float
        Size of the thumbnails.
    colour : numpy.ndarray, optional
        A value per galaxy to colour the points by (e.g. an anomaly score or a vote fraction).
    colour_label : str, optional
        Colour-bar label.
    seed : int
        Seed of the projection (UMAP) and of the thumbnail choice.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    xy = project_2d(embeddings, method, seed=seed)
    if images is not None and len(images) != len(xy):
        raise ValueError(f"images has {len(images)} cutouts but there are {len(xy)} embeddings")
    if colour is not None and len(colour) != len(xy):
        raise ValueError(f"colour has {len(colour)} values but there are {len(xy)} embeddings")
    fig = _figure(8, 7)
    ax = fig.add_subplot(1, 1, 1)
    points = ax.scatter(xy[:, 0], xy[:, 1], s=4, c=colour if colour is not None else "0.6", zorder=1)
    if colour is not None:
        fig.colorbar(points, ax=ax, label=colour_label or "")
    if images is not None and n_thumbnails > 0:
        for i in _spread_sample(xy, n_thumbnails, seed):
            box = OffsetImage(galaxy_rgb(np.asarray(images[i])), zoom=thumbnail_zoom)
            ax.add_artist(AnnotationBbox(box, (xy[i, 0], xy[i, 1]), frameon=False, zorder=2))
    name = {"pca": "PCA", "umap": "UMAP"}.get(method, method)
    ax.set_xlabel(f"{name} 1")
    ax.set_ylabel(f"{name} 2")
    ax.set_title(f"{int(np.isfinite(xy).all(axis=1).sum())} galaxies")
    return fig
