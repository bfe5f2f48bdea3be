"""
One galaxy through the preprocessing
====================================

Make the pictures of ``docs/preprocessing.rst``: one galaxy through each step, and augmented views.

Uses the bundled demo set (simulated Sérsic galaxies, g/r/z nanomaggies at 0.262"/px). To show every step,
the first galaxy gets what real cutouts have: a sky offset, a bright neighbour, a patch of NaN pixels and
an offset from the cutout centre. Needs matplotlib (the ``docs`` extra)::

    python examples/plot_preprocessing.py            # writes docs/images/*.png
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from galzoo_fm.embedding.images import read_image_set
from galzoo_fm.preprocess import (
    Preprocessor,
    asinh_stretch,
    clean_images,
    estimate_background,
    make_rgb,
)
from galzoo_fm.training.augment import Augment

# the repository: sphinx-gallery runs the examples from examples/ without a __file__
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent
# the docs build (sphinx-gallery) names a temporary folder; run by hand, the figures go to docs/images
OUT = Path(os.environ.get("GALZOO_FM_FIGURES", ROOT / "docs" / "images"))
BANDS = ["g", "r", "z"]
GALAXY = 4
#: make_rgb scales: 1 / softening, so the sky noise of every band is about the same
RGB_SCALES = [1 / 0.0083, 1 / 0.0147, 1 / 0.0227]


def realistic(demo) -> np.ndarray:
    """The demo galaxy, rolled off-centre, with a sky offset, a neighbour and NaN pixels."""
    x = np.roll(demo.images[GALAXY : GALAXY + 1].astype(np.float32), (3, -2), axis=(2, 3)).copy()
    yy, xx = np.mgrid[:64, :64]
    star = np.exp(-((yy - 13) ** 2 + (xx - 47) ** 2) / (2 * 1.8**2)).astype(np.float32)
    x += 0.03 + star[None, None] * np.array([0.6, 1.0, 1.2], np.float32)[None, :, None, None]
    x[:, :, 50:54, 8:20] = np.nan  # e.g. a masked bad column segment
    return x


def show(ax, img, title, vmax=None):
    vmax = vmax if vmax is not None else np.nanpercentile(img, 99.5)
    ax.imshow(np.arcsinh(img / 0.01), origin="lower", cmap="gray", vmin=np.arcsinh(-0.02 / 0.01),
              vmax=np.arcsinh(vmax / 0.01))
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def steps_figure(demo) -> Path:
    from galzoo_fm.preprocess import detection_images, find_central_sources

    x = realistic(demo)
    common = dict(survey="legacy", input_bands=BANDS, image_size=48, pixel_scale=0.35, deblend=True)
    filled, bad, _ = clean_images(x)
    level, noise = estimate_background(filled, bad)
    sub = np.where(bad, 0, filled - level)
    segments, central = find_central_sources(detection_images(sub, noise))
    neigh = Preprocessor(BANDS, stretch="none", neighbours="noise", **common)(x)
    centred = Preprocessor(BANDS, stretch="none", neighbours="noise", recentre="com", **common)(x)
    res = Preprocessor(BANDS, neighbours="noise", recentre="com", **common)(x)
    vmax = np.nanpercentile(sub[0, 1], 99.9)
    fig, axes = plt.subplots(2, 5, figsize=(10, 5.0), dpi=80)
    ax = axes[0, 0]
    ax.imshow(np.arcsinh(x[0, 1] / 0.01), origin="lower", cmap=plt.get_cmap("gray").with_extremes(bad="red"))
    ax.set_title("1. raw r band\n(NaN in red)", fontsize=8)
    ax.set_axis_off()
    show(axes[0, 1], sub[0, 1], f"2. NaN filled, sky level\n{level[0, 1, 0, 0]:.3f} nmgy subtracted", vmax)
    seg = np.where(segments[0] == central[0], 2, np.sign(segments[0]))
    axes[0, 2].imshow(seg, origin="lower", cmap="viridis", vmin=0, vmax=2, interpolation="nearest")
    axes[0, 2].set_title("3. segmentation + deblending:\ncentral source (yellow)", fontsize=8)
    axes[0, 2].set_axis_off()
    show(axes[0, 3], neigh.images[0, 1], "4. neighbour in-painted,\n64x0.262\" → 48x0.35\"", vmax)
    show(axes[0, 4], centred.images[0, 1],
         f"5. recentred: shift (dy, dx)\n= ({res.shifts[0, 0]:+.1f}, {res.shifts[0, 1]:+.1f}) px", vmax)
    for k, band in enumerate(BANDS):
        ax = axes[1, k]
        ax.imshow(res.images[0, k], origin="lower", cmap="gray", vmin=-0.1, vmax=0.8)
        ax.set_title(f"6. arcsinh + clip: {band}\n(softening {res_soft(k)} nmgy)", fontsize=8)
        ax.set_axis_off()
    axes[1, 3].imshow(make_rgb(x - level, BANDS, scales=RGB_SCALES)[0], origin="lower")
    axes[1, 3].set_title("RGB of the raw cutout\n(make_lupton_rgb)", fontsize=8)
    axes[1, 3].set_axis_off()
    axes[1, 4].imshow(make_rgb(centred.images, BANDS, scales=RGB_SCALES)[0], origin="lower")
    axes[1, 4].set_title("RGB after preprocessing", fontsize=8)
    axes[1, 4].set_axis_off()
    fig.tight_layout(pad=0.4, h_pad=1.2)
    path = OUT / "preprocessing_steps.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def res_soft(k: int) -> float:
    return [0.0083, 0.0147, 0.0227][k]


def views_figure(demo) -> Path:
    pre = Preprocessor(BANDS, survey="legacy", input_bands=BANDS, image_size=64, pixel_scale=0.262, stretch="none")
    picks = [GALAXY, 5, 22]
    flux = torch.from_numpy(pre(demo.images[picks]).images)
    aug = Augment(seed=0)
    n_views = 6
    views = [aug(flux) for _ in range(n_views)]
    scales = RGB_SCALES
    fig, axes = plt.subplots(len(picks), n_views + 1, figsize=(8.4, 3.8), dpi=72)
    for i in range(len(picks)):
        for j, img in enumerate([flux, *views]):
            ax = axes[i, j]
            ax.imshow(make_rgb(img[i : i + 1].numpy(), BANDS, scales=scales)[0], origin="lower")
            ax.set_axis_off()
            if i == 0:
                ax.set_title("input" if j == 0 else f"view {j}", fontsize=8)
    fig.tight_layout(pad=0.3)
    path = OUT / "augmented_views.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def stretch_figure() -> Path:
    """The per-band arcsinh stretch curves with the Legacy Surveys defaults."""
    flux = np.logspace(-3, 1.5, 400)
    fig, ax = plt.subplots(figsize=(5, 3), dpi=90)
    for band, soft, colour in zip(BANDS, [0.0083, 0.0147, 0.0227], ["tab:blue", "tab:green", "tab:red"], strict=True):
        y = asinh_stretch(flux.reshape(1, 1, 1, -1).astype(np.float32), [soft])[0, 0, 0]
        ax.plot(flux, y, color=colour, label=f"{band}: softening {soft} nmgy")
    ax.set_xscale("log")
    ax.set_xlabel("flux per pixel [nanomaggies]")
    ax.set_ylabel("model input")
    ax.axhline(1.5, color="gray", lw=0.5, ls="--")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = OUT / "stretch_curves.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> list[Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    demo = read_image_set()
    return [steps_figure(demo), views_figure(demo), stretch_figure()]


if __name__ == "__main__":
    for p in main():
        print(p, f"{p.stat().st_size / 1024:.0f} kB")
