"""Independent check of an encoder: linear probes on a simulation the encoder has never seen.

The galaxies come from ``benchmarks/independent_sim.py`` — its own renderer (astropy ``Sersic2D`` bulges
and discs, logarithmic-spiral arms, Ferrers bars, Gaussian rings, Moffat β = 2.8 PSF, sky offsets and
gradients, neighbour stars), settings and seed, none of the package's simulation code. Three feature sets
are probed on the same fixed held-out test set:

* ``encoder``: the encoder's embeddings through the documented path,
  ``enc.embed(enc.preprocessor(raw, bands=["g", "r", "z"], pixel_scale=0.262).images)``;
* ``pca50``: PCA (50 components, fitted by SVD on the training pool only) of the same preprocessed
  (sky-subtracted, asinh-stretched) pixels;
* ``random``: a randomly initialised network of the encoder's architecture (a floor; ``--no-random`` skips it).

Tasks: ``morphology`` (6 classes, every galaxy), ``ring`` and ``bar`` (0/1, the featureless and spiral
discs within 70° of face-on, balanced by construction). For each task, feature set and number of labels
(``--sizes``, default 250 and 750), :func:`galzoo_fm.training.low_label_curve` fits the multinomial
logistic-regression probe (C = 1, standardised features) on ``--repeats`` random label subsets drawn from
the training pool; the subsets are the same for every feature set (same seed, same pool), so the margins
encoder − PCA-50 are paired differences.

Requirement checked: margin ≥ +0.05 for morphology and ring at every size, ≥ 0 for bar.

Usage::

    python benchmarks/independent_probe.py --model galzoo_fm/data/demo_encoder --n 2500 --seed 12345
    python benchmarks/independent_probe.py --model path/to/encoder --json independent.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import independent_sim as sim

from galzoo_fm import Encoder
from galzoo_fm.training import low_label_curve

#: Required margin (encoder − PCA-50 accuracy) per task, at every number of labels.
REQUIRED_MARGIN = {"morphology": 0.05, "ring": 0.05, "bar": 0.0}
TASKS = ("morphology", "ring", "bar")


def preprocess(encoder: Encoder, raw: np.ndarray, *, pixel_scale: float, chunk: int = 256) -> tuple[np.ndarray,
                                                                                                 np.ndarray]:
    """Model-ready images ``(N, C, S, S)`` and flags ``(N,)`` from the encoder's recorded preprocessing.

    Raises
    ------
    ValueError
        If the encoder folder recorded no preprocessing.
    """
    pre = encoder.preprocessor
    if pre is None:
        raise ValueError(f"encoder {encoder.source} recorded no preprocessing: this check needs the pipeline "
                         "the encoder was trained with")
    images, flags = [], []
    for start in range(0, len(raw), chunk):
        res = pre(raw[start:start + chunk], bands=list(sim.BANDS), pixel_scale=pixel_scale)
        images.append(np.asarray(res.images, np.float32))
        flags.append(np.asarray(res.flags))
    return np.concatenate(images), np.concatenate(flags)


def pca_features(images: np.ndarray, train: np.ndarray, k: int = 50) -> np.ndarray:
    """Project flattened ``images`` on the first ``k`` principal components of the ``train`` rows.

    The components are the right singular vectors of the centred training rows (computed from the
    eigenvectors of their Gram matrix when there are fewer rows than pixels: the same vectors, faster).

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, ...)`` images.
    train : numpy.ndarray
        Indices of the rows the PCA is fitted on (the training pool; the test set is never used).
    k : int
        Components.

    Returns
    -------
    numpy.ndarray
        ``(N, k)`` float64.
    """
    x = images.reshape(len(images), -1).astype(np.float64)
    mean = x[train].mean(0)
    xc = x[train] - mean
    if len(xc) < xc.shape[1]:  # the thin SVD through the (N, N) Gram matrix: X = U S Vt, X Xt = U S² Ut
        s2, u = np.linalg.eigh(xc @ xc.T)
        order = np.argsort(s2)[::-1][:k]
        vt = (u[:, order] / np.sqrt(np.maximum(s2[order], 1e-300))).T @ xc
    else:
        _, _, vt = np.linalg.svd(xc, full_matrices=False)
        vt = vt[:k]
    return (x - mean) @ vt.T


def random_encoder(encoder: Encoder, seed: int = 0) -> Encoder:
    """A randomly initialised encoder with ``encoder``'s architecture and recorded preprocessing."""
    return Encoder(encoder.backbone_name, in_chans=encoder.in_chans, image_size=encoder.image_size,
                   preprocessing=encoder.preprocessing, bands=encoder.bands, seed=seed,
                   backbone_kwargs=encoder.backbone_kwargs)


def probe_all(features: dict[str, np.ndarray], labels: dict[str, np.ndarray], train: np.ndarray, test: np.ndarray,
              *, sizes: list[int], repeats: int, seed: int) -> dict[str, Any]:
    """Low-label linear-probe accuracies ``results[task][feature][size] = [accuracy per repeat]``."""
    out: dict[str, Any] = {}
    for task in TASKS:
        y = labels[task]
        tr, te = train[y[train] >= 0], test[y[test] >= 0]
        out[task] = {"n_pool": len(tr), "n_test": len(te),
                     "majority": float(np.max(np.bincount(y[te])) / len(te)), "features": {}}
        for name, x in features.items():
            table = low_label_curve(x[tr], y[tr], x[te], y[te], sizes=sizes, repeats=repeats, seed=seed)
            accs = dict(zip((int(v) for v in table["n_labels"]), table.meta["accuracies"], strict=True))
            out[task]["features"][name] = {str(s): accs.get(s) for s in sizes}
    return out


def margins(results: dict[str, Any], sizes: list[int], base: str = "pca50") -> dict[str, Any]:
    """Paired margins encoder − ``base`` per task and size, with PASS/FAIL against :data:`REQUIRED_MARGIN`."""
    out: dict[str, Any] = {}
    for task in TASKS:
        feats = results[task]["features"]
        out[task] = {}
        for s in sizes:
            a, b = feats["encoder"][str(s)], feats[base][str(s)]
            if a is None or b is None:
                out[task][str(s)] = {"margin": None, "std": None, "required": REQUIRED_MARGIN[task], "pass": None}
                continue
            d = np.asarray(a) - np.asarray(b)
            out[task][str(s)] = {"margin": float(d.mean()), "std": float(d.std()), "required": REQUIRED_MARGIN[task],
                                 "pass": bool(d.mean() >= REQUIRED_MARGIN[task] - 1e-9)}
    return out


def format_table(results: dict[str, Any], marg: dict[str, Any], sizes: list[int]) -> str:
    """A plain-text table: accuracy mean ± std per task, feature set and size, then the margins."""
    names = list(next(iter(results.values()))["features"])
    head = f"{'task':<11}{'features':<10}" + "".join(f"{s:>16}" for s in sizes)
    lines = [head, "-" * len(head)]
    for task in TASKS:
        r = results[task]
        for name in names:
            cells = []
            for s in sizes:
                a = r["features"][name][str(s)]
                cells.append(f"{'n/a':>16}" if a is None else f"{np.mean(a):>9.3f} ± {np.std(a):.3f}")
            lines.append(f"{task:<11}{name:<10}" + "".join(cells))
        cells = []
        for s in sizes:
            m = marg[task][str(s)]
            cells.append(f"{'n/a':>16}" if m["margin"] is None else
                         f"{m['margin']:>+7.3f} {'PASS' if m['pass'] else 'FAIL':>4}(≥{m['required']:+.2f})")
        lines.append(f"{task:<11}{'margin':<10}" + "".join(cells))
        lines.append(f"{'':<11}(pool {r['n_pool']}, test {r['n_test']}, majority class {r['majority']:.3f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="galzoo_fm/data/demo_encoder",
                    help="encoder folder (with recorded preprocessing)")
    ap.add_argument("--n", type=int, default=2500, help="galaxies to simulate (default 2500)")
    ap.add_argument("--seed", type=int, default=12345, help="simulation, split and label-subset seed")
    ap.add_argument("--test-fraction", type=float, default=0.36, help="held-out test share (default 0.36)")
    ap.add_argument("--sizes", default="250,750", help="numbers of labels, comma-separated (default 250,750)")
    ap.add_argument("--repeats", type=int, default=5, help="random label subsets per size (default 5)")
    ap.add_argument("--pca", type=int, default=50, help="PCA components of the pixel baseline (default 50)")
    ap.add_argument("--size", type=int, default=64, help="simulated cutout side in pixels (default 64)")
    ap.add_argument("--no-random", action="store_true", help="skip the random-init floor")
    ap.add_argument("--device", default=None, help="embedding device (default: CUDA if available)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", type=Path, default=None, help="write the numbers to this JSON file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    t0 = time.perf_counter()
    raw, labels, _ = sim.simulate(args.n, seed=args.seed, size=args.size)
    timings["simulate"] = time.perf_counter() - t0
    perm = np.random.default_rng(np.random.SeedSequence([args.seed, 7003])).permutation(args.n)
    n_test = round(args.test_fraction * args.n)
    test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])

    t0 = time.perf_counter()
    enc = Encoder.from_pretrained(args.model)
    images, flags = preprocess(enc, raw, pixel_scale=sim.PIXEL_SCALE)
    timings["preprocess"] = time.perf_counter() - t0
    if not np.all(np.isfinite(images)):
        raise SystemExit("preprocessing returned non-finite pixels")

    t0 = time.perf_counter()
    features = {"encoder": enc.embed(images, device=args.device)}
    timings["embed encoder"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    features["pca50"] = pca_features(images, train, args.pca)
    timings["pca"] = time.perf_counter() - t0
    if not args.no_random:
        t0 = time.perf_counter()
        features["random"] = random_encoder(enc).embed(images, device=args.device)
        timings["embed random"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    results = probe_all(features, labels, train, test, sizes=sizes, repeats=args.repeats, seed=args.seed)
    timings["probes"] = time.perf_counter() - t0
    marg = margins(results, sizes)
    timings["total"] = time.perf_counter() - t_all
    passed = all(m["pass"] for t in marg.values() for m in t.values())

    print(f"model {args.model} (weights sha256 {str(enc.weights_sha256)[:12]}), {args.n} simulated galaxies, "
          f"seed {args.seed}, {len(train)} training pool / {len(test)} test, {args.repeats} label subsets per size")
    print(f"preprocessing flags: {int(np.count_nonzero(flags))} of {len(flags)} galaxies flagged (all kept)")
    print(format_table(results, marg, sizes))
    print(f"requirement (encoder − PCA-{args.pca} ≥ +0.05 morphology and ring, ≥ 0 bar, at {sizes} labels): "
          f"{'PASS' if passed else 'FAIL'}")
    print("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    if args.json is not None:
        report = {
            "model": str(args.model), "weights_sha256": enc.weights_sha256, "n": args.n, "seed": args.seed,
            "n_train_pool": len(train), "n_test": len(test), "sizes": sizes, "repeats": args.repeats,
            "pca_components": args.pca, "size": args.size, "pixel_scale": sim.PIXEL_SCALE,
            "morphologies": list(sim.MORPHOLOGIES), "n_flagged": int(np.count_nonzero(flags)),
            "results": results, "margins": marg, "pass": passed, "timings_s": timings,
            "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
