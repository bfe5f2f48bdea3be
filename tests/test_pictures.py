"""The pictures tell the truth: colours by wavelength, north up and east left, scale bars, readable axes.

A sky of identical galaxies is written as a ``local`` FITS cube whose bands are stored z, r, g (the order a
user's file may have), each galaxy bright in g on its east side, bright in z on its west side and with a
white knot to the north. It is fetched and embedded by the real pipeline (local survey -> cutout store ->
embeddings table), and both pictures are rendered to pixels: the east (left) side must be blue, the west
(right) side red, and the knot at the top. The same sky stored east-right or south-up (other WCS
orientations of the same pixels on the sky) must give the same pictures.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from _embed_helpers import tiny_encoder
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from galzoo_fm.embedding import embed_catalog
from galzoo_fm.explore import map_figure, neighbours_figure
from galzoo_fm.explore.plots import galaxy_rgb, orient_north_up, plot_neighbours
from galzoo_fm.preprocess import band_wavelength, make_rgb, rgb_band_order

PIXSCALE = 0.262
SPACING = 40


def _galaxy(size: int) -> np.ndarray:
    """``(3, size, size)`` g, r, z in sky orientation (row 0 south, column 0 east): g east, z west, knot north."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    body = np.exp(-(xx**2 + yy**2) / (2 * 7.0**2))
    east = 1 / (1 + np.exp(xx / 2.0))  # 1 on the east (low column) side, 0 on the west
    g = 2.0 * body * east
    z = 2.0 * body * (1 - east)
    r = 0.3 * body
    knot = 6.0 * np.exp(-(xx**2 + (yy - 11) ** 2) / (2 * 1.5**2))  # white, 11 px north of the centre
    return np.stack([g + knot, r + knot, z + knot])


def _write_sky(folder, orientation: str):
    """A 2 x 2 grid of the galaxy as a cube stored z, r, g, with the WCS of ``orientation``."""
    side = 3 * SPACING
    rng = np.random.default_rng(0)
    sky = rng.normal(0, 0.01, (3, side, side))  # g, r, z; row 0 south, column 0 east
    gal = _galaxy(SPACING)
    centres = []
    for i, (y, x) in enumerate([(1, 1), (1, 2), (2, 1), (2, 2)]):
        cy, cx = y * SPACING, x * SPACING
        sl = (slice(None), slice(cy - SPACING // 2, cy + SPACING // 2), slice(cx - SPACING // 2, cx + SPACING // 2))
        sky[sl] += (1 + 0.3 * i) * gal
        centres.append((cx - 0.5, cy - 0.5))
    cd = np.diag([-PIXSCALE / 3600, PIXSCALE / 3600])
    data = sky
    if orientation == "east-right":  # the same sky, columns stored west to east
        data, cd = sky[:, :, ::-1], cd @ np.diag([-1, 1])
    elif orientation == "south-up":  # rows stored north to south
        data, cd = sky[:, ::-1, :], cd @ np.diag([1, -1])
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [side / 2 + 0.5, side / 2 + 0.5]
    wcs.wcs.cd = np.diag([-PIXSCALE / 3600, PIXSCALE / 3600])
    xy = np.array(centres)
    ra, dec = wcs.all_pix2world(xy[:, 0], xy[:, 1], 0)  # positions from the east-left grid
    if orientation != "east-left":
        wcs.wcs.cd = cd
        wcs.wcs.crpix = [side / 2 + 0.5, side / 2 + 0.5]  # the centre pixel maps to the same sky either way
    header = wcs.to_header()
    for k, band in enumerate("zrg"):
        header[f"BAND{k}"] = band
    folder.mkdir(parents=True, exist_ok=True)
    mosaic = folder / "sky.fits"
    fits.PrimaryHDU(data[::-1].astype(np.float32), header=header).writeto(mosaic)  # planes z, r, g
    catalog = folder / "sky.ecsv"
    Table({"objid": [f"gal-{i}" for i in range(4)], "ra": ra, "dec": dec}).write(catalog)
    return catalog, mosaic


@pytest.fixture(scope="module", params=["east-left", "east-right", "south-up"])
def embedded(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    catalog, mosaic = _write_sky(folder, request.param)
    out = folder / "emb.fits"
    embed_catalog(catalog, survey="local", survey_options={"path": str(mosaic)}, out=out,
                  model=tiny_encoder(32, PIXSCALE), device="cpu", workers=1)
    return out


def _render(fig) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(float), canvas.get_renderer()


def _crop(buf: np.ndarray, bbox) -> np.ndarray:
    """Pixels of a display-space bbox (origin bottom left) from an RGBA buffer (origin top left)."""
    h, w = buf.shape[:2]
    x0, x1 = max(int(np.ceil(bbox.x0)) + 1, 0), min(int(np.floor(bbox.x1)) - 1, w)
    y0, y1 = max(h - int(np.floor(bbox.y1)) + 1, 0), min(h - int(np.ceil(bbox.y0)) - 1, h)
    assert x1 - x0 > 0.8 * bbox.width and y1 - y0 > 0.8 * bbox.height, "the picture is mostly off the canvas"
    return buf[y0:y1, x0:x1]


def _check_picture(pic: np.ndarray) -> None:
    """East (left) blue, west (right) red, the white knot at the top (north)."""
    h, w, _ = pic.shape
    red_minus_blue = pic[..., 0] - pic[..., 2]
    middle = slice(int(0.3 * h), int(0.7 * h))
    left, right = red_minus_blue[middle, : int(0.4 * w)], red_minus_blue[middle, int(0.6 * w):]
    assert left.mean() < -10 and right.mean() > 10, (left.mean(), right.mean())
    brightness = pic.mean(axis=2)
    centre = slice(int(0.4 * w), int(0.6 * w))
    top, bottom = brightness[int(0.1 * h): int(0.3 * h), centre], brightness[int(0.7 * h): int(0.9 * h), centre]
    assert top.max() > 1.5 * bottom.max(), (top.max(), bottom.max())


def test_neighbour_grid_is_coloured_by_wavelength_and_north_up(embedded):
    fig = neighbours_figure(embedded, id="gal-0", k=2)
    buf, _ = _render(fig)
    for ax in fig.axes:  # the query and both neighbours
        _check_picture(_crop(buf, ax.images[0].get_window_extent()))
    title = fig.texts[0].get_text()  # suptitle
    assert "gal-0 and its 2 nearest neighbours" in title and "R, G, B = z, r, g" in title
    assert "north up, east left" in title
    # the scale bar: 2″ on a 32-pixel cutout of 0.262″ (30 % of 8.4″ is 2.5″), measured in rendered pixels
    bars = [a for a in fig.axes[0].artists if a.get_gid() == "scale bar"]
    assert len(bars) == 1
    assert bars[0].txt_label.get_text() == "2\u2033"
    pic = _crop(buf, fig.axes[0].images[0].get_window_extent())
    white = (pic > 240).all(axis=2)
    rows = white[int(0.75 * len(white)):]
    run = max(_longest_run(r) for r in rows)
    assert run / pic.shape[1] == pytest.approx(2 / PIXSCALE / 32, abs=0.03)


def _longest_run(mask: np.ndarray) -> int:
    best = cur = 0
    for v in mask:
        cur = cur + 1 if v else 0
        best = max(best, cur)
    return best


def test_map_thumbnails_are_coloured_by_wavelength_and_north_up(embedded):
    from matplotlib.offsetbox import AnnotationBbox

    fig = map_figure(embedded, n_thumbnails=1, thumbnail_zoom=5.0)
    buf, renderer = _render(fig)
    ax = fig.axes[0]
    boxes = [a for a in ax.artists if isinstance(a, AnnotationBbox)]
    assert len(boxes) == 1
    thumb = boxes[0].offsetbox
    extent = thumb.get_window_extent(renderer)
    _check_picture(_crop(buf, extent))
    assert ax.get_title().startswith("Embedding map of 4 galaxies (PCA)")
    assert "thumbnails: R, G, B = z, r, g; north up, east left" in ax.get_title()
    # the scale bar's black bar is as long, relative to a thumbnail, as 2″ is to a cutout
    bar = next(a for a in ax.artists if a.get_gid() == "scale bar")
    area = _crop(buf, bar.get_window_extent(renderer))
    run = max(_longest_run(r) for r in (area < 60).all(axis=2))
    assert run / extent.width == pytest.approx(2 / PIXSCALE / 32, abs=0.02)


def test_rgb_planes_follow_wavelength_not_channel_order():
    img = _galaxy(32)  # g, r, z
    zrg = img[::-1]
    np.testing.assert_array_equal(galaxy_rgb(zrg, ["z", "r", "g"]), galaxy_rgb(img, ["g", "r", "z"]))
    np.testing.assert_array_equal(galaxy_rgb(img), galaxy_rgb(img, ["g", "r", "z"]))  # None: blue to red
    np.testing.assert_array_equal(galaxy_rgb(zrg, ["z", "r", "g"], stretch=0.5),
                                  make_rgb(img[None], None, stretch=0.5)[0])
    # by wavelength F435W, F606W, F850LP, F160W: red F160W, green the middle (F850LP), blue F435W
    assert rgb_band_order(["F850LP", "F435W", "F160W", "F606W"]) == [2, 0, 1]
    assert rgb_band_order(["CDS/P/PanSTARRS/DR1/z", "CDS/P/PanSTARRS/DR1/g"]) == [0, 1, 1]
    assert band_wavelength("SDSSr") == 620.0 and band_wavelength("band0") is None
    with pytest.warns(UserWarning, match=r"no known wavelength for band\(s\) 'b0', 'b1'.*ordered blue to red"):
        assert rgb_band_order(["b0", "b1", "r"]) == [2, 1, 0]
    with pytest.raises(ValueError, match=r"2 band names \['g', 'r'\] for images with 3 channels"):
        galaxy_rgb(img, ["g", "r"])


def test_orient_north_up_undoes_every_flip_and_transpose():
    sky = np.arange(12.0).reshape(3, 4)[None]  # row 0 south, column 0 east; CD = diag(-s, s)
    s = 1e-4
    base = np.diag([-s, s])
    variants = {
        "as is": (sky, base),
        "east-right": (sky[..., ::-1], base @ np.diag([-1, 1])),
        "south-up": (sky[..., ::-1, :], base @ np.diag([1, -1])),
        "transposed": (np.swapaxes(sky, -1, -2), base @ np.array([[0, 1], [1, 0]])),
        "rotated 180": (sky[..., ::-1, ::-1], -base),
    }
    for name, (stored, cd) in variants.items():
        out, residual = orient_north_up(stored, cd)
        np.testing.assert_array_equal(out, sky, err_msg=name)
        assert residual == pytest.approx(0, abs=1e-9)
    theta = np.radians(30)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    _, residual = orient_north_up(sky, base @ rot)
    assert residual == pytest.approx(30)
    assert orient_north_up(sky, np.full((2, 2), np.nan))[0] is sky  # no WCS: as stored


def test_neighbour_grid_title_and_bands_check():
    img = _galaxy(32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_neighbours(img, img[None], bands=["g", "r", "z"], pixel_scale=0.5, title="Look")
    assert fig.texts[0].get_text() == "Look\nR, G, B = z, r, g; north up, east left"
    bar = next(a for a in fig.axes[0].artists if a.get_gid() == "scale bar")
    assert bar.txt_label.get_text() == "2\u2033"  # 30 % of 16″ is 4.8″: the longest bar that fits is 2″
    with pytest.raises(ValueError, match=r"query has shape \(3, 32, 32\) but the neighbours \(3, 16, 16\)"):
        plot_neighbours(img, img[None, :, :16, :16])


def test_low_label_axis_has_plain_non_overlapping_labels(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from galzoo_fm.training import plot_low_label_curve

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    sizes = [50, 100, 250, 300, 400, 750]
    table = Table({"n_labels": sizes, "accuracy_mean": np.linspace(0.5, 0.8, 6), "accuracy_std": np.full(6, 0.02)})
    plot_low_label_curve(table, tmp_path / "curve.png")
    ax = figures[0].axes[0]
    figures[0].canvas.draw()
    major = [t for t in ax.get_xticklabels() if t.get_text()]
    assert [t.get_text() for t in major] == ["50", "100", "250", "400", "750"]  # 300 too close to 250
    assert list(ax.get_xticks()) == sizes
    assert not any(t.get_text() for t in ax.get_xticklabels(minor=True))
    boxes = [t.get_window_extent() for t in major]
    assert all(a.x1 < b.x0 for a, b in itertools.pairwise(boxes))


def test_scale_bar_from_the_wcs_when_the_store_records_no_pixel_scale(embedded, tmp_path):
    import json
    import shutil

    store = tmp_path / "store"
    shutil.copytree(embedded.parent / "emb.fits.cutouts", store)
    manifest = json.loads((store / "store.json").read_text())
    assert manifest.pop("pixscale") == pytest.approx(PIXSCALE)
    (store / "store.json").write_text(json.dumps(manifest))
    fig = neighbours_figure(embedded, id="gal-1", k=1, store=store)
    bar = next(a for a in fig.axes[0].artists if a.get_gid() == "scale bar")
    assert bar.txt_label.get_text() == "2\u2033"


def test_simulated_galaxy_grid_colours_follow_band_names(tmp_path):
    from matplotlib.image import imread

    from galzoo_fm.datasets.sim.plots import plot_classes

    images = np.stack([_galaxy(32), 0.5 * _galaxy(32)])  # g, r, z
    truth = Table({"kind": ["star", "star"]})
    a = plot_classes(images, truth, tmp_path / "grz.png", bands=("g", "r", "z"), per_class=2, classes=["star"])
    b = plot_classes(images[:, ::-1], truth, tmp_path / "zrg.png", bands=("z", "r", "g"), per_class=2,
                     classes=["star"])
    pa, pb = imread(a), imread(b)
    np.testing.assert_array_equal(pa, pb)
    h, w = pa.shape[:2]
    panel = pa[int(0.1 * h): int(0.9 * h), int(0.1 * w): int(0.45 * w)]  # the first picture
    left, right = panel[:, : panel.shape[1] // 3], panel[:, 2 * panel.shape[1] // 3:]
    assert (left[..., 2] - left[..., 0]).mean() > 0.05 and (right[..., 0] - right[..., 2]).mean() > 0.05
