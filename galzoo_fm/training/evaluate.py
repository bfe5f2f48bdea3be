"""Evaluating embeddings: linear probe, k-nearest-neighbour accuracy, and the low-label curve.

The low-label curve is the experiment of the hybrid paper's label-efficiency figure (Walmsley et al.
2022, arXiv 2206.11927): accuracy of a linear classifier on frozen embeddings against the number of
labelled galaxies it is trained on, with repeats over random subsets.

The probe is a multinomial logistic regression fitted with L-BFGS in torch (float64), minimising
``Σ_i CE_i + ||W||² / (2C)`` on standardised features — scikit-learn's ``LogisticRegression(C=C)``
objective — so no scikit-learn is needed at run time; the tests check it against scikit-learn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from galzoo_fm._utils.checks import one_of
from galzoo_fm.models.encoder import Encoder, preprocess_transform
from galzoo_fm.preprocess import BAD_FLAGS, Preprocessor
from galzoo_fm.training.data import BatchSubset, open_dataset
from galzoo_fm.training.distributed import resolve_device
from galzoo_fm.training.trainer import _autocast

__all__ = ["EvaluationResult", "evaluate", "extract_features", "input_preprocessing", "knn_classify", "linear_probe",
           "low_label_curve", "parse_sizes", "plot_low_label_curve"]


def _root(dataset: Any) -> Any:
    """The dataset a :class:`~galzoo_fm.training.data.BatchSubset` (or a chain of them) reads from."""
    while hasattr(dataset, "parent"):
        dataset = dataset.parent
    return dataset


def _parse_bands(bands: str | Sequence[str] | None) -> list[str] | None:
    if isinstance(bands, str):
        parts = [b for b in re.split(r"[,\s]+", bands) if b]
        if not parts:
            raise ValueError(f"bands must name the input channels, e.g. 'g,r,i,z'; got {bands!r}")
        return parts
    return None if bands is None else list(bands)


def input_preprocessing(encoder: nn.Module, dataset: Any, *, preprocess: bool | None = None,
                        bands: str | Sequence[str] | None = None, pixel_scale: float | None = None
                        ) -> tuple[Any, list[str], float | None] | None:
    """The preprocessing :func:`extract_features` and :func:`evaluate` run on ``dataset``'s raw images.

    Parameters
    ----------
    encoder : Encoder or nn.Module
        The encoder; its recorded preprocessing (``preprocessing``) is the pipeline.
    dataset : BatchDataset
        Raw images ``(N, C, H, W)``: a cutout store dataset, an array / ``.npy`` dataset, or a subset of one.
    preprocess : bool, optional
        ``None`` (default): preprocess when the encoder recorded a preprocessing; ``True``: it must have
        one; ``False``: never (the images are model-ready).
    bands : str or sequence of str, optional
        Names of the ``C`` input channels (a string: comma- or space-separated, ``"g,r,i,z"``). Default:
        the store's bands; for arrays, the preprocessing's ``input_bands`` when ``C`` equals their number
        (pretraining records the bands of its data there), else the model's bands when ``C`` equals theirs
        (the rule training applies to a ``.npy`` file).
    pixel_scale : float, optional
        Input arcsec/pixel. Default: the store's ``pixscale`` when it records one, else the
        preprocessing's ``input_pixel_scale``.

    Returns
    -------
    (Preprocessor, list of str, float or None) or None
        The pipeline, the input bands and the input pixel scale; ``None`` when no preprocessing runs.

    Raises
    ------
    ValueError
        ``preprocess=True`` without a recorded preprocessing, recorded settings that are not a pipeline's,
        band names that are unknown or do not match ``C``, or an unknown pixel scale (see
        :meth:`galzoo_fm.Encoder.raw_input`).
    TypeError
        ``preprocess`` is not a bool or None, or the encoder is not a :class:`~galzoo_fm.Encoder`.
    """

    if preprocess is not None and not isinstance(preprocess, bool):
        raise TypeError(f"preprocess must be True, False or None (automatic), got {preprocess!r}")
    recorded = getattr(encoder, "preprocessing", None)
    if preprocess is False or (preprocess is None and not recorded):
        return None
    if not hasattr(encoder, "raw_input"):
        raise TypeError(f"preprocessing raw images needs a galzoo_fm.Encoder, got {type(encoder).__name__}")
    bands = _parse_bands(bands)
    root = _root(dataset)
    n_channels = int(dataset.image_shape[0])
    if bands is None:
        bands = getattr(root, "bands", None)
        bands = None if bands is None else list(bands)
    if bands is None and recorded:
        try:
            settings = Preprocessor.from_dict(recorded).settings
        except (TypeError, ValueError):
            settings = None  # raw_input names the problem
        if settings is not None:
            model_bands, input_bands = settings["bands"], settings["input_bands"]
            if input_bands is not None and n_channels == len(input_bands):
                bands = input_bands  # as training read its .npy: the recorded input bands first
            elif n_channels == len(model_bands):
                bands = model_bands
            else:
                raise ValueError(
                    f"the images have {n_channels} channels, neither the model's {len(model_bands)} bands "
                    f"{model_bands} nor the {len(input_bands or [])} input_bands {input_bands} of its "
                    "preprocessing: name the channels with bands= (galzoo-fm evaluate --bands g,r,i,z)")
    if pixel_scale is None:
        pixel_scale = getattr(root, "pixel_scale", None)
    return encoder.raw_input(n_channels, bands=bands, pixel_scale=pixel_scale)


@torch.no_grad()
def extract_features(encoder: nn.Module, dataset: Any, *, batch_size: int = 256, device: str | None = None,
                     precision: str = "auto", preprocess: bool | None = None,
                     bands: str | Sequence[str] | None = None, pixel_scale: float | None = None,
                     return_flags: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Embeddings ``(N, D)`` float32 of every galaxy of a batch dataset, in order.

    When the encoder recorded a preprocessing (``galzoo_fm.Encoder.preprocessing``) and ``preprocess``
    is not ``False``, each batch of raw images is preprocessed with it on ``device`` (the GPU on CUDA),
    exactly as :meth:`galzoo_fm.Encoder.embed` does with ``preprocess=True``; see
    ``input_preprocessing`` for the input bands and pixel scale. The encoder runs in eval mode
    (BatchNorm uses its running statistics, dropout is off) and is put back in its previous mode
    afterwards; bf16 autocast on CUDA with ``precision="auto"`` (the preprocessing runs in float32).

    Parameters
    ----------
    encoder : Encoder or nn.Module
        Maps ``(n, in_chans, S, S)`` to ``(n, D)``.
    dataset : BatchDataset
        ``dataset[indices]["images"]``: raw ``(n, C, H, W)`` images (or model-ready ones when no
        preprocessing runs).
    batch_size : int
    device : str, optional
        Default: CUDA when available.
    precision : {"auto", "fp32", "bf16", "fp16"}
    preprocess, bands, pixel_scale
        See ``input_preprocessing``.
    return_flags : bool
        Also return the int32 ``(N,)`` :class:`~galzoo_fm.preprocess.PreprocessFlag` bits (all zero when
        no preprocessing ran).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        ``(N, D)`` float32 features, and the ``(N,)`` flags with ``return_flags``.
    """

    plan = input_preprocessing(encoder, dataset, preprocess=preprocess, bands=bands, pixel_scale=pixel_scale)
    flags: list[torch.Tensor] = []
    transform = None if plan is None else preprocess_transform(*plan, flags)
    dev = resolve_device(device)
    was_training = encoder.training
    encoder.to(dev).eval()
    out = []
    try:
        for start in range(0, len(dataset), batch_size):
            batch = dataset[np.arange(start, min(start + batch_size, len(dataset)))]
            images = batch["images"].to(dev)
            if transform is not None:
                images = transform(images)
            with _autocast(dev, precision):
                out.append(encoder(images).float().cpu())
    finally:
        encoder.train(was_training)
    feats = torch.cat(out).numpy() if out else np.zeros((0, int(getattr(encoder, "num_features", 0))), np.float32)
    if not return_flags:
        return feats
    if flags:
        return feats, torch.cat(flags).cpu().numpy().astype(np.int32)
    return feats, np.zeros(len(feats), np.int32)


def _check_xy(x: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ValueError(f"{what}: features must be (N, D) and labels (N,), got {x.shape} and {y.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what}: features contain NaN or infinite values")
    return x, y


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, *, C: float = 1.0,
                 max_iter: int = 500, standardize: bool = True) -> np.ndarray:
    """Fit a multinomial logistic regression on ``(train_x, train_y)`` and predict ``test_x``.

    Minimises ``Σ_i CE(W x_i + b, y_i) + ||W||² / (2C)`` (``b`` unpenalised) with L-BFGS in float64: the
    objective of scikit-learn's ``LogisticRegression(C=C)`` (multinomial, lbfgs). Features are
    standardised with the training mean and standard deviation first when ``standardize``.

    Parameters
    ----------
    train_x : numpy.ndarray
        ``(N, D)`` training features.
    train_y : numpy.ndarray
        ``(N,)`` labels (any hashable values).
    test_x : numpy.ndarray
        ``(M, D)`` features to classify.
    C : float
        Inverse regularisation strength.
    max_iter : int
        L-BFGS iterations.
    standardize : bool

    Returns
    -------
    numpy.ndarray
        ``(M,)`` predicted labels (values of ``train_y``).
    """
    train_x, train_y = _check_xy(train_x, train_y, "linear_probe")
    test_x = np.asarray(test_x, dtype=np.float64)
    if not C > 0:
        raise ValueError(f"C must be positive, got {C!r}")
    classes, y = np.unique(train_y, return_inverse=True)
    if len(classes) == 1:
        return np.full(len(test_x), classes[0])
    if standardize:
        mean, std = train_x.mean(0), train_x.std(0)
        std[std == 0] = 1.0
        train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    x = torch.from_numpy(train_x)
    t = torch.from_numpy(y)
    k = len(classes)
    w = torch.zeros(x.shape[1], k, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-14,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, t, reduction="sum") + (w * w).sum() / (2 * C)
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        scores = torch.from_numpy(test_x) @ w + b
    return classes[scores.argmax(1).numpy()]


def knn_classify(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, *, k: int = 20,
                 metric: str = "cosine", batch_size: int = 4096) -> np.ndarray:
    """Majority vote of the ``k`` nearest training embeddings (ties: the smallest label, as scikit-learn).

    Parameters
    ----------
    train_x, train_y, test_x : numpy.ndarray
        ``(N, D)``, ``(N,)``, ``(M, D)``.
    k : int
        Neighbours (at most ``N``).
    metric : {"cosine", "euclidean"}
    batch_size : int
        Test rows per distance block.

    Returns
    -------
    numpy.ndarray
        ``(M,)`` predicted labels.
    """
    train_x, train_y = _check_xy(train_x, train_y, "knn_classify")
    one_of(metric, ("cosine", "euclidean"), "metric")
    if not 1 <= k <= len(train_x):
        raise ValueError(f"k must be between 1 and the {len(train_x)} training galaxies, got {k}")
    classes, y = np.unique(train_y, return_inverse=True)
    a = torch.from_numpy(train_x)
    if metric == "cosine":
        a = F.normalize(a, dim=1)
    labels = torch.from_numpy(y)
    preds = []
    for start in range(0, len(test_x), batch_size):
        q = torch.from_numpy(np.asarray(test_x[start:start + batch_size], dtype=np.float64))
        d = 1 - F.normalize(q, dim=1) @ a.T if metric == "cosine" else torch.cdist(q, a)
        idx = torch.topk(d, k, dim=1, largest=False).indices
        votes = F.one_hot(labels[idx], len(classes)).sum(1)
        preds.append(votes.argmax(1))  # argmax takes the first maximum: the smallest class index
    return classes[torch.cat(preds).numpy()] if preds else np.array([], dtype=classes.dtype)


def low_label_curve(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, *,
                    sizes: Sequence[int | str] = (50, 100, 250, 750, "all"), repeats: int = 5, seed: int = 0,
                    method: str = "linear", C: float = 1.0, k: int = 20):
    """Test accuracy against the number of labelled training galaxies, over random subsets.

    Parameters
    ----------
    train_x, train_y : numpy.ndarray
        The labelled pool ``(N, D)``, ``(N,)`` from which subsets are drawn.
    test_x, test_y : numpy.ndarray
        The fixed test set.
    sizes : sequence of int or "all"
        Subset sizes; sizes larger than the pool are skipped; ``"all"`` is the whole pool (one repeat:
        every subset would be the same).
    repeats : int
        Random subsets per size.
    seed : int
    method : {"linear", "knn"}
    C, k : float, int
        Probe regularisation / neighbours (``k`` is capped at the subset size).

    Returns
    -------
    astropy.table.Table
        Columns ``n_labels``, ``accuracy_mean``, ``accuracy_std``, ``repeats``, ``accuracies`` (one row
        per size); ``meta`` holds the method and test-set size.
    """
    from astropy.table import Table

    train_x, train_y = _check_xy(train_x, train_y, "low_label_curve")
    one_of(method, ("linear", "knn"), "method")
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        n = len(train_x) if size == "all" else int(size)
        if n > len(train_x) or n < 1:
            continue
        accs = []
        for _ in range(1 if n == len(train_x) else repeats):
            pick = rng.choice(len(train_x), n, replace=False)
            if method == "linear":
                pred = linear_probe(train_x[pick], train_y[pick], test_x, C=C)
            else:
                pred = knn_classify(train_x[pick], train_y[pick], test_x, k=min(k, n))
            accs.append(float(np.mean(pred == test_y)))
        rows.append((n, float(np.mean(accs)), float(np.std(accs)), len(accs), accs))
    table = Table(rows=[r[:4] for r in rows], names=("n_labels", "accuracy_mean", "accuracy_std", "repeats"),
                  dtype=(int, float, float, int))
    table.meta.update({"method": method, "n_test": len(test_x), "accuracies": [r[4] for r in rows]})
    return table


def plot_low_label_curve(table: Any, path: str | Path, *, title: str | None = None, label: str | None = None) -> Path:
    """Plot accuracy (mean ± std) against the number of labels to a PNG (needs matplotlib).

    Parameters
    ----------
    table : astropy.table.Table or dict of str to Table
        A :func:`low_label_curve` table, or several keyed by their legend label (e.g. linear probe and
        kNN, or two encoders).
    path : str or path
        Output ``.png``.
    title, label : str, optional
        Figure title; legend label of a single table.
    """
    try:
        import matplotlib
    except ImportError:
        raise ValueError("plotting the low-label curve needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    tables = table if isinstance(table, dict) else {label or table.meta.get("method", "linear probe"): table}
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=100)
    for name, t in tables.items():
        n = np.asarray(t["n_labels"])
        mean, std = np.asarray(t["accuracy_mean"]), np.asarray(t["accuracy_std"])
        ax.errorbar(n, mean, yerr=std, marker="o", capsize=3, label=name)
        ax.fill_between(n, mean - std, mean + std, alpha=0.2)
    ax.set_xscale("log")
    # plain tick labels at the label counts ("50", "100", "250"), not log-formatted minor ticks, which
    # overlap ("3×10²4×10²"); counts closer than ~8 % of the axis to the previous label keep a tick only
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    counts = sorted({int(v) for t in tables.values() for v in np.asarray(t["n_labels"]) if v > 0})
    labelled, last = [], None
    span = np.log10(max(counts) / min(counts)) if counts else 0.0
    for v in counts:
        if last is None or np.log10(v / last) >= 0.08 * span:
            labelled.append(v)
            last = v
    ax.xaxis.set_major_locator(FixedLocator(counts))
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.0f}" if round(v) in labelled else "")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("number of labelled galaxies")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "Low-label curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def parse_sizes(text: str) -> list[int | str]:
    """``"50,100,all"`` → ``[50, 100, "all"]`` (``ValueError`` naming a bad entry)."""
    out: list[int | str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "all":
            out.append("all")
        elif part.isdigit() and int(part) > 0:
            out.append(int(part))
        else:
            raise ValueError(f"--sizes entries must be positive integers or 'all', got {part!r}")
    if not out:
        raise ValueError("--sizes is empty")
    return out


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns (also written to ``<out>/evaluation.json``).

    ``preprocessing`` says whether the encoder's preprocessing ran (``{"applied": False}``, or
    ``{"applied": True, "input_bands": [...], "input_pixel_scale": float or None, "n_flagged": int,
    "n_bad": int}``: galaxies with any flag, and with a :data:`~galzoo_fm.preprocess.BAD_FLAGS` bit).
    """

    linear_accuracy: float
    knn_accuracy: float
    n_train: int
    n_test: int
    curve: Any = None
    files: dict[str, Path] = field(default_factory=dict)
    preprocessing: dict[str, Any] = field(default_factory=dict)


def evaluate(model: Any, data: str | Path, catalog: str | Path, label_column: str, *, out: str | Path | None = None,
             test_fraction: float = 0.3, sizes: Sequence[int | str] = (50, 100, 250, 750, "all"),
             repeats: int = 5, k: int = 20, C: float = 1.0, seed: int = 0, batch_size: int = 256,
             device: str | None = None, statuses: Sequence[str] = ("ok", "partial"), preprocess: bool | None = None,
             bands: str | Sequence[str] | None = None, pixel_scale: float | None = None) -> EvaluationResult:
    """Embed labelled galaxies with an encoder and measure linear-probe / kNN accuracy and the low-label curve.

    The images of ``data`` are raw survey cutouts: when the encoder recorded a preprocessing (every encoder
    that ``galzoo-fm pretrain`` / ``finetune`` writes does), each batch is preprocessed with it on the
    device before the encoder, as :meth:`~galzoo_fm.Encoder.embed` does with ``preprocess=True``. The input
    bands are the store's (for a ``.npy``: the preprocessing's ``input_bands`` when the channel count
    matches, else the model's bands) and the pixel scale the store's ``pixscale`` (else the preprocessing's
    ``input_pixel_scale``), unless ``bands`` / ``pixel_scale`` are given. Flagged galaxies (empty or
    constant cutouts, ...) stay in the evaluation; their count is in ``preprocessing``.

    Parameters
    ----------
    model : Encoder, str or path
        An encoder or a folder for :meth:`~galzoo_fm.Encoder.from_pretrained`.
    data : str or path
        Cutout store folder or ``.npy`` images.
    catalog : str or path
        Catalogue with the label column (aligned as in :func:`galzoo_fm.training.data.open_dataset`).
    label_column : str
        Class labels; rows with an empty label are skipped.
    out : str or path, optional
        Folder for ``evaluation.json``, ``low_label.ecsv`` and ``low_label.png``.
    test_fraction : float
        Held-out fraction (a stratification-free random split with ``seed``).
    sizes, repeats : see :func:`low_label_curve`.
    k, C : kNN neighbours and probe regularisation.
    seed, batch_size, device, statuses
        Split seed, images per forward pass, device, store rows to use.
    preprocess : bool, optional
        ``None``: preprocess when the encoder recorded a preprocessing; ``False``: the images of ``data``
        are model-ready already; ``True``: preprocessing required.
    bands : str or sequence of str, optional
        Names of the input channels (``"g,r,i,z"`` or a list); see ``input_preprocessing``.
    pixel_scale : float, optional
        Input arcsec/pixel; see ``input_preprocessing``.

    Returns
    -------
    EvaluationResult
    """

    if isinstance(model, str | Path):

        model = Encoder.from_pretrained(model)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    dataset, info = open_dataset(data, catalog=catalog, label_columns=label_column, task="classification",
                                 statuses=statuses)
    keep = np.flatnonzero(dataset.labels >= 0)
    labelled = BatchSubset(dataset, keep)
    plan = input_preprocessing(model, labelled, preprocess=preprocess, bands=bands, pixel_scale=pixel_scale)
    feats, flags = extract_features(model, labelled, batch_size=batch_size, device=device,
                                    preprocess=plan is not None, bands=None if plan is None else plan[1],
                                    pixel_scale=None if plan is None else plan[2], return_flags=True)
    if plan is None:
        prep: dict[str, Any] = {"applied": False}
    else:

        prep = {"applied": True, "input_bands": plan[1], "input_pixel_scale": plan[2],
                "n_flagged": int(np.count_nonzero(flags)),
                "n_bad": int(np.count_nonzero(flags & int(BAD_FLAGS)))}
    y = labelled.labels
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = max(1, round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    lin = float(np.mean(linear_probe(feats[train], y[train], feats[test], C=C) == y[test]))
    knn = float(np.mean(knn_classify(feats[train], y[train], feats[test], k=min(k, len(train))) == y[test]))
    curve = low_label_curve(feats[train], y[train], feats[test], y[test], sizes=sizes, repeats=repeats, seed=seed,
                            C=C)
    result = EvaluationResult(lin, knn, len(train), len(test), curve, preprocessing=prep)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        curve.write(out / "low_label.ecsv", overwrite=True)
        result.files = {"table": out / "low_label.ecsv",
                        "plot": plot_low_label_curve(curve, out / "low_label.png", label="linear probe")}
        summary = {"linear_accuracy": lin, "knn_accuracy": knn, "k": k, "C": C, "n_train": len(train),
                   "n_test": len(test), "classes": info["classes"], "label_column": label_column,
                   "preprocessing": prep,
                   "curve": {"n_labels": curve["n_labels"].tolist(), "mean": curve["accuracy_mean"].tolist(),
                             "std": curve["accuracy_std"].tolist()}}
        (out / "evaluation.json").write_text(json.dumps(summary, indent=2) + "\n")
        result.files["summary"] = out / "evaluation.json"
    return result
