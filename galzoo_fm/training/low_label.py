"""The low-label experiment on the simulated Galaxy Zoo: pretrain with each loss, probe a task no label names.

The building blocks of ``benchmarks/low_label.py`` (and of a test that a hybrid-pretrained encoder
beats a random one):

* :func:`make_pretraining_data` — simulated galaxies with the votes of two campaigns (GZ-Evo setting),
  written as ``images.npy`` + ``catalog.fits`` for ``galzoo-fm pretrain``;
* :func:`make_ring_task` — the downstream task: *does this face-on disc have a ring?* None of the
  campaigns' questions asks about rings (GZ2's "odd feature" ring answer is not in the ``gz2`` schema),
  so the pretraining labels never name it. The set is balanced (chance accuracy 0.5) and drawn from a
  different simulation seed than the pretraining galaxies;
* :func:`pretrain_encoder` — pretrain an encoder with a registered loss through
  :func:`galzoo_fm.training.prepare_pretraining` (or return a random one for ``"random"``);
* :func:`encoder_features` — frozen embeddings of flux images, preprocessed with the encoder's pipeline;
* :func:`finetune_accuracy` — finetune encoder and a linear head on the labels with
  :func:`galzoo_fm.training.finetune` (early stopping on a 20 % validation split), test accuracy.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from galzoo_fm._utils.writers import write_table
from galzoo_fm.datasets.sim.catalogue import SimulationConfig, simulate_catalog, simulate_images, write_synthetic
from galzoo_fm.models.encoder import Encoder
from galzoo_fm.preprocess import Preprocessor
from galzoo_fm.training import extract_features, finetune, load_finetuned, prepare_pretraining
from galzoo_fm.training.data.arrays import ArrayDataset

__all__ = ["METHODS", "encoder_features", "finetune_accuracy", "make_pretraining_data", "make_ring_task",
           "pretrain_encoder"]

#: The pretraining methods: a registered loss name, or ``"random"`` for no pretraining.
METHODS = ("dirichlet", "byol", "spectral", "hybrid", "random")

_HEADS = {"projection_hidden": 512, "projection_dim": 128}
_LOSS_OPTIONS = {
    "dirichlet": {},
    "byol": {**_HEADS, "prediction_hidden": 512},
    "hybrid": {**_HEADS, "prediction_hidden": 512, "supervised_weight": 1.0},
    "spectral": {"projection_hidden": 512, "projection_dim": 128},
}
_AUGMENT = {"rotation": 180.0, "crop_scale": [0.8, 1.0], "blur_prob": 0.3, "noise": [0.0, 1.0]}


def _preprocess(image_size: int) -> dict[str, Any]:
    # the simulation has no sky (its images are sky-subtracted by construction): a sigma-clipped "sky" of
    # these small cutouts, which the galaxy fills, would only take away galaxy light
    return {"bands": ["g", "r", "z"], "survey": "legacy", "image_size": image_size, "background": "none"}


#: The small ResNet used by the demo encoder and the benchmark (0.7 M parameters, 192 features).
SMALL_RESNET = {"backbone": "resnet18", "backbone_kwargs": {"layers": [1, 1, 1, 1], "channels": [24, 48, 96, 192]}}


def make_pretraining_data(folder: str | Path, n: int, config: SimulationConfig, *, workers: int = 1,
                          overwrite: bool = True) -> tuple[Path, Path]:
    """Write ``n`` simulated galaxies with campaign votes into ``folder``; see
    :func:`~galzoo_fm.datasets.sim.write_synthetic`."""
    return write_synthetic(folder, n, config=config, workers=workers, overwrite=overwrite)


def make_ring_task(n_train: int, n_test: int, config: SimulationConfig, *, seed_offset: int = 1000,
                   workers: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A balanced ring / no-ring task of discs from simulation seed ``config.seed + seed_offset``.

    The discs are seen within 60° of face-on and have half-light radii above 1.8" (rings of smaller or
    more inclined discs are mostly lost in the seeing).

    Returns
    -------
    (train_images, train_labels, test_images, test_labels)
        Images ``(n, C, H, W)`` in nanomaggies and labels ``(n,)`` (1: ring), half of each class.

    Raises
    ------
    ValueError
        If ``n_train`` or ``n_test`` is not a positive even number.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(value, int) or value < 2 or value % 2:
            raise ValueError(f"{name} must be a positive even integer (half rings), got {value!r}")
    cfg = replace(config, seed=config.seed + seed_offset, campaigns=())
    need = (n_train + n_test) // 2
    n = 8 * need
    while True:
        cat = simulate_catalog(n, config=cfg)
        face = ((np.asarray(cat["kind"]) == "disc") & (np.asarray(cat["inclination"]) < 60)
                & (np.asarray(cat["r_e"]) > 1.8))
        ring = np.flatnonzero(face & np.asarray(cat["ring"]))
        plain = np.flatnonzero(face & ~np.asarray(cat["ring"]))
        if len(ring) >= need and len(plain) >= need:
            break
        n *= 2
    rng = np.random.default_rng(cfg.seed)
    pick_r, pick_p = rng.permutation(ring[:need]), rng.permutation(plain[:need])
    half_train = n_train // 2
    train = np.r_[pick_r[:half_train], pick_p[:half_train]]
    test = np.r_[pick_r[half_train:], pick_p[half_train:]]
    images = simulate_images(cat[np.r_[train, test]], cfg, workers=workers)
    labels = np.asarray(cat["ring"], dtype=np.int64)
    return images[: len(train)], labels[train], images[len(train):], labels[test]


def pretrain_encoder(method: str, data: tuple[str | Path, str | Path], out: str | Path, *, steps: int,
                     batch_size: int = 64, lr: float = 2e-3, seed: int = 0, image_size: int = 64,
                     model: dict[str, Any] | None = None, device: str = "auto",
                     loss_options: dict[str, Any] | None = None, augment: dict[str, Any] | None = None,
                     optim: dict[str, Any] | None = None) -> Any:
    """Pretrain an encoder with loss ``method`` on ``data = (images.npy, catalog.fits)``; ``"random"``: none.

    Views are augmented (rotation, crop, blur, noise) and arcsinh-stretched with the Legacy Surveys'
    softening; the votes are read through the ``gz_evo`` schema, which holds both default campaigns.

    ``loss_options``, ``augment`` and ``optim`` update the benchmark's loss options, augmentations and
    ``[optim]`` table (ablations: ``benchmarks/ablations.py``).

    Returns
    -------
    galzoo_fm.Encoder
        The trained (or randomly initialised) encoder, with its preprocessing recorded.

    Raises
    ------
    ValueError
        For a method not in :data:`METHODS`.
    """

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    model_cfg = {**SMALL_RESNET, **(model or {}), "seed": seed}
    preprocess = _preprocess(image_size)
    if method == "random":

        pre = Preprocessor(**preprocess)
        return Encoder(model_cfg["backbone"], in_chans=3, image_size=image_size, seed=seed, bands=["g", "r", "z"],
                       backbone_kwargs=model_cfg.get("backbone_kwargs"), preprocessing=pre.to_dict())
    config = {
        "model": model_cfg,
        "loss": {"name": method, "schema": "gz_evo", "options": {**_LOSS_OPTIONS.get(method, {}),
                                                                   **(loss_options or {})}},
        "data": {"path": str(data[0]), "catalog": str(data[1])},
        "augment": {**_AUGMENT, **(augment or {})},
        "preprocess": preprocess,
        "optim": {"lr": lr, "warmup_steps": max(steps // 20, 1), **(optim or {})},
        "train": {"out": str(out), "steps": steps, "batch_size": batch_size, "seed": seed, "resume": False,
                  "device": device, "keep": 1},
        "logging": {"every": max(steps // 5, 1), "progress": False, "tensorboard": False},
    }
    result = prepare_pretraining(config).trainer().fit()
    return Encoder.from_pretrained(result.checkpoint / "encoder")


def encoder_features(encoder: Any, images: np.ndarray, *, batch_size: int = 256, device: str | None = None
                     ) -> np.ndarray:
    """Embeddings ``(N, D)`` of flux images ``(N, C, H, W)`` (channels: the encoder's bands).

    The encoder's recorded preprocessing runs on the images first, the whole pipeline (cleaning, sky
    subtraction, resampling, stretch) on the device, as :meth:`galzoo_fm.Encoder.embed` with
    ``preprocess=True`` does; an encoder without a recorded preprocessing sees the images as they are.
    """

    bands = getattr(encoder, "bands", None) if getattr(encoder, "preprocessing", None) else None
    return extract_features(encoder, ArrayDataset(np.ascontiguousarray(images, dtype=np.float32)),
                            batch_size=batch_size, device=device, bands=bands)


def _model_ready(pre: Any, images: np.ndarray) -> np.ndarray:
    """``pre``'s whole pipeline on flux images whose channels are ``pre``'s model bands, in order."""
    return np.ascontiguousarray(pre(np.asarray(images, np.float32), bands=pre.bands).images, dtype=np.float32)


def finetune_accuracy(encoder: Any, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                      test_y: np.ndarray, folder: str | Path, *, steps: int = 100, batch_size: int = 32,
                      lr: float = 3e-4, seed: int = 0) -> float:
    """Finetune ``encoder`` with a linear head on ``(train_x, train_y)``; accuracy on ``(test_x, test_y)``.

    Uses :func:`galzoo_fm.training.finetune` (whole network trained, the same augmentations as pretraining,
    20 % of the labels held out for early stopping on the validation loss). The images go through the
    encoder's whole preprocessing pipeline (the default pipeline of :func:`pretrain_encoder` when it recorded
    none) before finetuning, so training, validation and test batches see what :func:`encoder_features`
    sees.

    Parameters
    ----------
    encoder : galzoo_fm.Encoder
        Starting point (saved to ``folder/init`` first, without its recorded preprocessing, which this
        function applies itself).
    train_x, test_x : numpy.ndarray
        Flux images ``(N, C, H, W)``.
    train_y, test_y : numpy.ndarray
        Integer labels ``(N,)``.
    folder : str or path
        Working folder (created; its ``init`` and ``run`` subfolders are replaced).
    steps, batch_size, lr, seed
        Training settings; ``batch_size`` is capped at the training split.

    Returns
    -------
    float
        Test accuracy.
    """
    import shutil

    import torch
    from astropy.table import Table


    folder = Path(folder)
    for old in ("init", "run"):  # a working folder: an earlier run's files are replaced
        shutil.rmtree(folder / old, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    # the images are preprocessed once here (the encoder's whole pipeline, as encoder_features and
    # Encoder.embed(preprocess=True) apply it), for the training, validation and held-out test images alike.
    # The finetuning run gets model-ready images, so its starting point is saved without the recorded
    # preprocessing (a run preprocesses as its init recorded: it would preprocess them a second time)
    pre = encoder.preprocessor if encoder.preprocessing else Preprocessor(**_preprocess(int(train_x.shape[-1])))
    recorded = encoder.preprocessing
    encoder.preprocessing = {}
    try:
        encoder.save_pretrained(folder / "init")
    finally:
        encoder.preprocessing = recorded
    np.save(folder / "images.npy", _model_ready(pre, train_x))
    write_table(Table({"label": np.asarray(train_y).astype(int)}), folder / "labels.fits", overwrite=True)
    n_fit = len(train_x) - max(1, round(0.2 * len(train_x)))
    config = {
        "model": {"init": str(folder / "init")},
        "task": {"kind": "classifier", "label_columns": "label"},
        "data": {"path": str(folder / "images.npy"), "catalog": str(folder / "labels.fits"), "val_fraction": 0.2},
        "augment": dict(_AUGMENT),
        "optim": {"lr": lr, "warmup_steps": max(steps // 20, 1)},
        "train": {"out": str(folder / "run"), "steps": steps, "batch_size": max(2, min(batch_size, n_fit)),
                  "seed": seed, "resume": False, "keep": 1, "eval_every": max(steps // 10, 1), "patience": 3},
        "logging": {"every": max(steps // 5, 1), "progress": False, "tensorboard": False},
    }
    result = finetune(config)
    model, doc = load_finetuned(result.model_dir)
    x = torch.from_numpy(_model_ready(pre, test_x))
    with torch.no_grad():
        probs = torch.cat([model.predict(x[i:i + 256]) for i in range(0, len(x), 256)]).numpy()
    classes = np.asarray([int(c) for c in doc["classes"]])
    return float(np.mean(classes[probs.argmax(1)] == np.asarray(test_y)))
