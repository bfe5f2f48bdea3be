"""
The low-label curve
===================

The low-label curve on small synthetic data: accuracy of a linear probe and of kNN against labels.

Renders 1200 synthetic galaxies of three kinds (round ellipticals, edge-on disks, barred disks) with random
size, orientation, brightness and noise; pretrains a ResNet-18 on them with BYOL (no labels, a couple of
minutes on a laptop CPU); embeds them with that encoder and with the same architecture at random
initialisation; and plots the linear-probe test accuracy against the number of labelled galaxies, with
5 random subsets per size. Writes ``docs/images/low_label_curve.png``::

    python examples/plot_low_label_curve.py [output.png] [pretraining steps]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from galzoo_fm import Encoder
from galzoo_fm.training import extract_features, low_label_curve, plot_low_label_curve, pretrain
from galzoo_fm.training.data import ArrayDataset


def synthetic_galaxies(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 3, size, size) float32, classes (n,))``: 0 elliptical, 1 edge-on disk, 2 barred disk."""
    rng = np.random.default_rng(seed)
    yy, xx = (np.mgrid[:size, :size] - (size - 1) / 2).astype(np.float64)
    classes = rng.integers(0, 3, n)
    images = np.empty((n, 3, size, size), np.float32)
    for i, c in enumerate(classes):
        theta = rng.uniform(0, np.pi)
        u = xx * np.cos(theta) + yy * np.sin(theta)
        v = -xx * np.sin(theta) + yy * np.cos(theta)
        r_e = rng.uniform(2.5, 5.0)
        if c == 0:  # de Vaucouleurs-like, nearly round, red
            q = rng.uniform(0.7, 1.0)
            img = np.exp(-7.67 * ((np.hypot(u, v / q) / r_e) ** 0.25 - 1))
            colour = np.array([0.6, 1.0, 1.3])
        elif c == 1:  # exponential disk seen edge-on, blue
            q = rng.uniform(0.15, 0.3)
            img = np.exp(-1.68 * np.hypot(u, v / q) / r_e)
            colour = np.array([1.0, 1.0, 0.8])
        else:  # face-on exponential disk with a bar, blue
            q = rng.uniform(0.8, 1.0)
            bar = 2.0 * np.exp(-(u / (1.6 * r_e)) ** 2 - (v / (0.35 * r_e)) ** 2)
            img = np.exp(-1.68 * np.hypot(u, v / q) / r_e) + bar
            colour = np.array([1.0, 1.0, 0.8])
        img = img / img.max() * rng.uniform(0.5, 2.0)
        noisy = img[None] * colour[:, None, None] + 0.08 * rng.normal(size=(3, size, size))
        images[i] = np.arcsinh(noisy / 0.1)
    return images, classes


def main(out: str = "docs/images/low_label_curve.png", steps: int = 150) -> Path:
    images, classes = synthetic_galaxies(1200)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "galaxies.npy", images)
        model = {"backbone": "resnet18", "image_size": 32, "backbone_kwargs": {"zero_init_last": False}}
        result = pretrain({  # BYOL on all 1200 galaxies, no labels
            "model": model,
            "loss": {"name": "byol", "options": {"projection_hidden": 512, "prediction_hidden": 512}},
            "data": {"path": str(Path(tmp) / "galaxies.npy")},
            "augment": {"crop_scale": [0.8, 1.0], "noise": [0.0, 0.5], "flux_scale": [1.0, 1.0]},
            "optim": {"lr": 2e-3, "warmup_steps": 10},
            "train": {"out": str(Path(tmp) / "run"), "steps": steps, "batch_size": 64},
            "logging": {"every": 25},
        })
        pretrained = Encoder.from_pretrained(result.checkpoint / "encoder")
    random_init = Encoder("resnet18", in_chans=3, image_size=32, seed=0, backbone_kwargs={"zero_init_last": False})
    train, test = np.arange(900), np.arange(900, 1200)
    curves = {}
    for name, encoder in ((f"BYOL, {steps} steps", pretrained), ("random init", random_init)):
        features = extract_features(encoder, ArrayDataset(images), batch_size=200)
        curves[name] = low_label_curve(features[train], classes[train], features[test], classes[test],
                                       sizes=(15, 30, 60, 120, 250, 500, "all"), repeats=5, seed=0)
    for name, table in curves.items():
        print(name)
        for row in table:
            print(f"  {row['n_labels']:>4d} labels: {row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f}")
    return plot_low_label_curve(curves, out, title="Synthetic galaxies, ResNet-18 at 32 px, linear probe")


if __name__ == "__main__":
    print(main(*sys.argv[1:2], *(int(a) for a in sys.argv[2:3])))
