"""Pictures of galaxies and embeddings: RGB cutouts, nearest-neighbour grids, 2-D embedding maps.

Figures are matplotlib figures; :func:`save_figure` writes PNG or PDF by extension. RGB composites are
:func:`galzoo_fm.preprocess.make_rgb` (Lupton et al. 2004 arcsinh via
:func:`astropy.visualization.make_lupton_rgb`): the reddest band by wavelength is red, the bluest blue,
whatever the channel order.

Orientation: cutouts are ``(C, H, W)`` arrays in the FITS order of the cutout store, row 0 at the bottom.
Drawn with ``origin="lower"`` they are north-up, east-left when the cutout's WCS is (``CD1_1 < 0``,
``CD2_2 > 0``, as for every remote survey); ``orient_north_up`` turns a cutout with another WCS (e.g. a
``local`` file stored east-right) to that orientation. Both pictures carry an angular scale bar when the
pixel scale is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["galaxy_rgb", "orient_north_up", "plot_map", "plot_neighbours", "project_2d", "save_figure"]

#: Lengths of the angular scale bar, arcsec: the longest that fits in 30 % of a cutout's width is drawn.
_BAR_ARCSEC = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def galaxy_rgb(image: np.ndarray, bands: Sequence[str] | None = None, *, stretch: float | None = None,
               q: float = 8.0) -> np.ndarray:
    """An RGB picture of one multi-band cutout: :func:`~galzoo_fm.preprocess.make_rgb` of one image.

    Parameters
    ----------
    image : numpy.ndarray
        Shape ``(C, H, W)``.
    bands : sequence of str, optional
        The ``C`` band names in channel order (e.g. ``["z", "r", "g"]``): the reddest band by wavelength is
        red, the bluest blue (see :func:`~galzoo_fm.preprocess.rgb_band_order`). ``None``: the channels are
        ordered blue to red (g, r, z). One band gives a grey picture; two use the bluer band as green; more
        than three use the bluest, the middle and the reddest.
    stretch : float, optional
        Linear stretch of :func:`~astropy.visualization.make_lupton_rgb`; by default the 99.5th percentile
        of the three planes over ``q``, so that faint and bright galaxies both show structure.
    q : float
        Asinh softening parameter.

    Returns
    -------
    numpy.ndarray
        Shape ``(H, W, 3)``, uint8, row 0 = row 0 of ``image``. NaN pixels are black.
    """
    from galzoo_fm.preprocess.rgb import make_rgb

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 3:
        raise ValueError(f"image must have shape (C, H, W), got {img.shape}")
    return make_rgb(img[None], bands, stretch=stretch, Q=q)[0]


def orient_north_up(image: np.ndarray, cd: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Flip / transpose a cutout so that, drawn with ``origin="lower"``, north is up and east is left.

    Parameters
    ----------
    image : numpy.ndarray
        ``(..., H, W)`` pixels in FITS order (row 0 = FITS ``y = 1``).
    cd : numpy.ndarray or None
        The cutout's ``(2, 2)`` CD (pixel scale) matrix, degrees per pixel, as stored for each cutout. ``None``
        or NaN: the image is returned unchanged (assumed north-up, east-left).

    Returns
    -------
    image : numpy.ndarray
        The image under the one of the 8 flips/transposes that brings north closest to up and east to
        the left (a view).
    residual : float
        Degrees between north and up that remain (a rotated WCS; 0 for the surveys' cutouts).
    """
    cd = None if cd is None else np.asarray(cd, dtype=np.float64)
    if cd is None or cd.shape != (2, 2) or not np.isfinite(cd).all() or abs(np.linalg.det(cd)) == 0:
        return image, 0.0
    inv = np.linalg.inv(cd)  # intermediate world (east, north) -> pixel (x, y)
    east, north = inv[:, 0] / np.linalg.norm(inv[:, 0]), inv[:, 1] / np.linalg.norm(inv[:, 1])
    best = None
    for swap in (False, True):
        for fx in (1, -1):
            for fy in (1, -1):
                t = np.diag([fx, fy]) @ (np.array([[0, 1], [1, 0]]) if swap else np.eye(2))
                e, n = t @ east, t @ north
                score = -e[0] + n[1]
                if best is None or score > best[0] + 1e-12:
                    best = (score, swap, fx, fy, n)
    _, swap, fx, fy, n = best
    out = np.swapaxes(image, -1, -2) if swap else image
    if fx < 0:
        out = out[..., ::-1]
    if fy < 0:
        out = out[..., ::-1, :]
    return out, float(np.degrees(np.arctan2(abs(n[0]), n[1])))


def _bar_length(width_px: int, pixel_scale: float) -> float:
    """The scale-bar length in arcsec for a cutout ``width_px`` wide."""
    fits = [v for v in _BAR_ARCSEC if v <= 0.3 * width_px * pixel_scale]
    return fits[-1] if fits else _BAR_ARCSEC[0]


def _arcsec_label(value: float) -> str:
    return f"{value / 60:g}\u2032" if value >= 60 else f"{value:g}\u2033"


def _colour_note(bands: Sequence[str] | None, n_channels: int) -> str:
    """``"R, G, B = z, r, g"`` for the title (from the bands, as :func:`make_rgb` assigns them)."""
    if bands is None:
        return "channels blue to red"
    import warnings

    from galzoo_fm.preprocess.rgb import rgb_band_order

    with warnings.catch_warnings():  # make_rgb warns about unknown wavelengths itself
        warnings.simplefilter("ignore")
        r, g, b = rgb_band_order(list(bands))
    names = [str(bands[i]) for i in (r, g, b)]
    return "grey: " + names[0] if n_channels == 1 else "R, G, B = " + ", ".join(names)


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
    bands: Sequence[str] | None = None,
    pixel_scale: float | None = None,
    title: str | None = None,
):
    """The query galaxy and its nearest neighbours as RGB cutouts, with ids and similarities.

    Cutouts are drawn with ``origin="lower"``: north up, east left for cutouts in the store's orientation
    (see ``orient_north_up``). The query panel carries an angular scale bar when ``pixel_scale`` is
    given, and the figure a title saying which band is red, green and blue.

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
    bands : sequence of str, optional
        Band names of the ``C`` channels (any order); ``None``: ordered blue to red. See :func:`galaxy_rgb`.
    pixel_scale : float, optional
        Arcsec per pixel, for the scale bar.
    title : str, optional
        Figure title; by default "<query_label> and its K nearest neighbours".

    Returns
    -------
    matplotlib.figure.Figure
    """
    from galzoo_fm.preprocess.rgb import make_rgb

    neighbours = np.asarray(neighbours)
    if neighbours.ndim != 4:
        raise ValueError(f"neighbours must have shape (K, C, H, W), got {neighbours.shape}")
    query = np.asarray(query)
    if query.shape != neighbours.shape[1:]:
        raise ValueError(f"query has shape {query.shape} but the neighbours {neighbours.shape[1:]}")
    k = len(neighbours)
    for what, seq in (("labels", labels), ("similarities", similarities)):
        if seq is not None and len(seq) != k:
            raise ValueError(f"{what} has {len(seq)} entries but there are {k} neighbours")
    n = k + 1
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = _figure(1.8 * ncols, 2.3 * nrows + 0.5)
    rgb = make_rgb(np.concatenate([query[None], neighbours]), bands, stretch=None)
    titles = [f"{query_label}\n(query)"]
    for i in range(k):
        t = str(labels[i]) if labels is not None else f"#{i + 1}"
        if similarities is not None:
            t += f"\ncos = {similarities[i]:.3f}"
        titles.append(t)
    for i, (image, panel_title) in enumerate(zip(rgb, titles, strict=True)):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(image, origin="lower")
        ax.set_title(panel_title, fontsize=8, color="C3" if i == 0 else "black")
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0 and pixel_scale:
            _scale_bar(ax, image.shape[1], float(pixel_scale))
    note = _colour_note(bands, query.shape[0]) + "; north up, east left"
    fig.suptitle(f"{title or f'{query_label} and its {k} nearest neighbours'}\n{note}", fontsize=9)
    fig.tight_layout()
    return fig


def _scale_bar(ax: Any, width_px: int, pixel_scale: float) -> None:
    """An angular scale bar in data (pixel) units at the lower right of an image panel."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    arcsec = _bar_length(width_px, pixel_scale)
    bar = AnchoredSizeBar(ax.transData, arcsec / pixel_scale, _arcsec_label(arcsec), "lower right", pad=0.3,
                          color="white", frameon=False, size_vertical=max(width_px / 60, 0.5),
                          fontproperties={"size": 7})
    bar.set_gid("scale bar")
    ax.add_artist(bar)


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
    bands: Sequence[str] | None = None,
    pixel_scale: float | None = None,
    title: str | None = None,
):
    """A 2-D map of the embeddings with thumbnails of sample galaxies.

    Thumbnails are drawn with ``origin="lower"`` (north up, east left for cutouts in the store's
    orientation, see ``orient_north_up``); a scale bar at the lower left gives their angular size when
    ``pixel_scale`` is known.

    Parameters
    ----------
    embeddings : numpy.ndarray
        Shape ``(N, D)``.
    images : numpy.ndarray, optional
        Cutouts ``(N, C, H, W)`` in the same order, for thumbnails (anything indexable by row works).
    method : {"pca", "umap", "auto"}
        Projection, see ``project_2d``.
    n_thumbnails : int
        Number of galaxies shown as pictures, spread over the map.
    thumbnail_zoom : float
        Size of the thumbnails: points per cutout pixel.
    colour : numpy.ndarray, optional
        A value per galaxy to colour the points by (e.g. an anomaly score or a vote fraction).
    colour_label : str, optional
        Colour-bar label.
    seed : int
        Seed of the projection (UMAP) and of the thumbnail choice.
    bands : sequence of str, optional
        Band names of the ``C`` channels (any order); ``None``: ordered blue to red. See :func:`galaxy_rgb`.
    pixel_scale : float, optional
        Arcsec per pixel of the cutouts, for the scale bar.
    title : str, optional
        Title; by default "Embedding map of N galaxies (PCA)", with a line on the thumbnails' colours.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    from galzoo_fm.preprocess.rgb import make_rgb

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
    name = {"pca": "PCA", "umap": "UMAP"}.get(method, method)
    heading = title or f"Embedding map of {int(np.isfinite(xy).all(axis=1).sum())} galaxies ({name})"
    if images is not None and n_thumbnails > 0:
        chosen = _spread_sample(xy, n_thumbnails, seed)
        if len(chosen):
            cutouts = np.stack([np.asarray(images[i]) for i in chosen])
            for i, rgb in zip(chosen, make_rgb(cutouts, bands, stretch=None), strict=True):
                box = OffsetImage(rgb, zoom=thumbnail_zoom, origin="lower")
                box.set_gid(f"thumbnail {int(i)}")
                ax.add_artist(AnnotationBbox(box, (xy[i, 0], xy[i, 1]), frameon=False, zorder=2))
            if pixel_scale:
                _thumbnail_scale_bar(ax, cutouts.shape[-1], float(pixel_scale), thumbnail_zoom)
            heading += f"\nthumbnails: {_colour_note(bands, cutouts.shape[1])}; north up, east left"
    ax.set_xlabel(f"{name} 1")
    ax.set_ylabel(f"{name} 2")
    ax.set_title(heading, fontsize=10)
    return fig


def _thumbnail_scale_bar(ax: Any, width_px: int, pixel_scale: float, zoom: float) -> None:
    """A scale bar in thumbnail units (``zoom`` points per cutout pixel) at the lower left of the map."""
    from matplotlib.offsetbox import AnchoredOffsetbox, DrawingArea, TextArea, VPacker
    from matplotlib.patches import Rectangle

    arcsec = _bar_length(width_px, pixel_scale)
    length = zoom * arcsec / pixel_scale  # points, as OffsetImage draws one cutout pixel as zoom points
    area = DrawingArea(length, 3.0)
    area.add_artist(Rectangle((0, 0), length, 3.0, color="black"))
    label = TextArea(f"{_arcsec_label(arcsec)} (thumbnails)", textprops={"size": 7})
    box = AnchoredOffsetbox("lower left", child=VPacker(children=[label, area], align="center", pad=0, sep=2),
                            frameon=True, pad=0.3, borderpad=0.5)
    box.patch.set_alpha(0.8)
    box.set_gid("scale bar")
    ax.add_artist(box)
