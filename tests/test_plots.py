"""Pictures: RGB composites, neighbour grids, embedding maps."""

import numpy as np
import pytest
from astropy.visualization import make_lupton_rgb

from galzoo_fm.embedding.images import read_image_set
from galzoo_fm.explore.plots import galaxy_rgb, plot_map, plot_neighbours, project_2d, save_figure


@pytest.fixture(scope="module")
def demo():
    return read_image_set()


def test_galaxy_rgb_band_order_and_nan(demo):
    img = demo.images[0].astype(np.float64)  # g, r, z
    rgb = galaxy_rgb(img, stretch=0.05, q=8)
    expected = make_lupton_rgb(img[2], img[1], img[0], stretch=0.05, Q=8)  # z -> red, g -> blue
    np.testing.assert_array_equal(rgb, expected)
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    grey = galaxy_rgb(img[:1])
    assert np.array_equal(grey[..., 0], grey[..., 2])
    bad = img.copy()
    bad[:, :5, :5] = np.nan
    assert (galaxy_rgb(bad)[:5, :5] == 0).all()
    with pytest.raises(ValueError, match=r"shape \(C, H, W\)"):
        galaxy_rgb(img[0])


def test_neighbour_grid(demo, tmp_path):
    fig = plot_neighbours(demo.images[0], demo.images[1:6], query_label="demo000",
                          labels=[f"demo00{i}" for i in range(1, 6)], similarities=[0.9, 0.8, 0.7, 0.6, 0.5],
                          ncols=3)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "demo000\n(query)" and titles[1] == "demo001\ncos = 0.900" and len(titles) == 6
    png = save_figure(fig, tmp_path / "n.png")
    pdf = save_figure(fig, tmp_path / "n.pdf")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match="must end in .png or .pdf"):
        save_figure(fig, tmp_path / "n.jpg")
    with pytest.raises(ValueError, match="labels has 2 entries but there are 5 neighbours"):
        plot_neighbours(demo.images[0], demo.images[1:6], labels=["a", "b"])


def test_pca_projection_matches_eigenvectors():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(200, 6)) * np.array([5, 2, 1, 0.5, 0.2, 0.1])
    xy = project_2d(emb, "pca")
    centred = emb - emb.mean(0)
    _, vecs = np.linalg.eigh(np.cov(centred.T))
    ref = centred @ vecs[:, ::-1][:, :2]  # independent: eigenvectors of the covariance matrix
    np.testing.assert_allclose(np.abs(xy), np.abs(ref), rtol=1e-8, atol=1e-8)
    emb[3] = np.nan
    assert np.isnan(project_2d(emb)[3]).all()
    with pytest.raises(ValueError, match="method must be"):
        project_2d(emb, "tsne")


def test_map_with_thumbnails(demo, tmp_path):
    from matplotlib.offsetbox import AnnotationBbox

    emb = np.random.default_rng(1).normal(size=(24, 8))
    fig = plot_map(emb, demo.images, n_thumbnails=5, colour=np.arange(24.0), colour_label="score")
    boxes = [a for a in fig.axes[0].artists if isinstance(a, AnnotationBbox)]
    assert len(boxes) == 5
    assert fig.axes[0].get_xlabel() == "PCA 1"
    assert fig.axes[0].get_title() == ("Embedding map of 24 galaxies (PCA)\n"
                                       "thumbnails: channels blue to red; north up, east left")
    save_figure(fig, tmp_path / "map.png")
    with pytest.raises(ValueError, match="images has 3 cutouts but there are 24 embeddings"):
        plot_map(emb, demo.images[:3])
