"""How long must an encoder pretrain? Linear-probe accuracy against pretraining steps, for each loss (issue 15).

The low-label benchmark (``benchmarks/low_label.py``) trains every loss for one fixed budget. This study trains
each loss for several budgets (each a fresh run with its own warm-up and cosine schedule, the same data, seed
and network) and probes each encoder on the ring task at 50, 250 and 750 labels, so that "not trained long
enough" can be told from "method or implementation wrong". The small ResNet of the demo encoder, 32 px at
0.524"/px (the quick setting), batch 64.

    python benchmarks/length_study.py                       # 150, 500, 1500 steps; about 40 min on 2 cores
    python benchmarks/length_study.py --steps 150,500 --losses hybrid,byol

Writes ``length_study.ecsv``, ``length_study.md`` and ``length_study.png`` to ``--out`` (default
``length_study_results/``), with the seed, commit, machine and wall time in the table's metadata.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from _provenance import provenance
from astropy.table import Table

from galzoo_fm.datasets.sim.catalogue import SimulationConfig, write_synthetic
from galzoo_fm.training import low_label_curve
from galzoo_fm.training.low_label import encoder_features, make_ring_task, pretrain_encoder

SETTING = {"size": 32, "pixscale": 0.524, "n_pretrain": 2000, "batch_size": 64, "n_train": 800, "n_test": 400,
           "repeats": 5}
SIZES = (50, 100, 250, 750)


def prepare(out: Path, seed: int, workers: int) -> tuple[tuple[Path, Path], tuple[np.ndarray, ...]]:
    """The pretraining data (``images.npy``, ``catalog.fits`` in ``out/data``) and the ring task's arrays."""
    cfg = SimulationConfig(seed=seed, size=SETTING["size"], pixscale=SETTING["pixscale"])
    data = write_synthetic(out / "data", SETTING["n_pretrain"], config=cfg, workers=workers, overwrite=True)
    return data, make_ring_task(SETTING["n_train"], SETTING["n_test"], cfg, workers=workers)


def probe(encoder, task: tuple[np.ndarray, ...], seed: int) -> Table:
    """Linear-probe accuracy (mean ± std over :data:`SETTING` ``repeats`` subsets) at :data:`SIZES` labels."""
    train_x, train_y, test_x, test_y = task
    f_train, f_test = encoder_features(encoder, train_x), encoder_features(encoder, test_x)
    return low_label_curve(f_train, train_y, f_test, test_y, sizes=SIZES, repeats=SETTING["repeats"], seed=seed)


def pixel_probe(encoder, task: tuple[np.ndarray, ...], seed: int, pca: int | None = None) -> Table:
    """The raw-pixel baseline: the same linear probe on the flattened model-ready pixels (the encoder's
    recorded preprocessing: stretch and resampling, no network), or on their first ``pca`` principal
    components (fitted on the training pool only, as ``benchmarks/independent_probe.py`` does)."""
    from galzoo_fm.training.low_label import _model_ready

    train_x, train_y, test_x, test_y = task
    pre = encoder.preprocessor
    f_train = _model_ready(pre, train_x).reshape(len(train_x), -1)
    f_test = _model_ready(pre, test_x).reshape(len(test_x), -1)
    if pca:
        from independent_probe import pca_features

        both = pca_features(np.concatenate([f_train, f_test]), np.arange(len(f_train)), pca)
        f_train, f_test = both[:len(f_train)], both[len(f_train):]
    return low_label_curve(f_train, train_y, f_test, test_y, sizes=SIZES, repeats=SETTING["repeats"], seed=seed)


def curve_text(curve: Table) -> str:
    return "  ".join(f"{r['n_labels']}: {r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f}" for r in curve)


def run(out: Path, losses: list[str], steps: list[int], seed: int, workers: int, with_random: bool = True) -> Table:
    out.mkdir(parents=True, exist_ok=True)
    data, task = prepare(out, seed, workers)
    rows = []

    def add(method: str, n_steps: int, encoder, seconds: float) -> None:
        curve = probe(encoder, task, seed)
        rows.extend((method, n_steps, int(r["n_labels"]), float(r["accuracy_mean"]), float(r["accuracy_std"]),
                     seconds) for r in curve)
        print(f"{method:9s} {n_steps:5d} steps  {curve_text(curve)}  ({seconds:.0f} s)", flush=True)

    if with_random:
        add("random", 0, pretrain_encoder("random", data, out / "random", steps=1, seed=seed,
                                          image_size=SETTING["size"]), 0.0)
    for method in losses:
        for n_steps in steps:
            folder = out / f"run-{method}-{n_steps}"
            shutil.rmtree(folder, ignore_errors=True)
            t0 = time.perf_counter()
            encoder = pretrain_encoder(method, data, folder, steps=n_steps, batch_size=SETTING["batch_size"],
                                       seed=seed, image_size=SETTING["size"], device="cpu")
            add(method, n_steps, encoder, time.perf_counter() - t0)
    return Table(rows=rows, names=("method", "steps", "n_labels", "accuracy_mean", "accuracy_std", "seconds"),
                 dtype=(str, int, int, float, float, float))


def markdown(table: Table) -> str:
    sizes = sorted(set(table["n_labels"]))
    lines = ["| method | steps | " + " | ".join(f"{n} labels" for n in sizes) + " | pretraining s |",
             "|---" * (len(sizes) + 3) + "|"]
    for method, steps in dict.fromkeys(zip(table["method"], table["steps"], strict=True)):
        t = table[(table["method"] == method) & (table["steps"] == steps)]
        cells = [f"{t[t['n_labels'] == n]['accuracy_mean'][0]:.3f} ± {t[t['n_labels'] == n]['accuracy_std'][0]:.3f}"
                 for n in sizes]
        lines.append(f"| {method} | {steps} | " + " | ".join(cells) + f" | {t['seconds'][0]:.0f} |")
    return "\n".join(lines) + "\n"


def plot(table: Table, path: Path) -> Path:
    """One panel per label count: probe accuracy (mean ± std) against pretraining steps, a line per loss."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    sizes = sorted(set(table["n_labels"]))
    fig, axes = plt.subplots(1, len(sizes), figsize=(3.4 * len(sizes), 3.3), dpi=100, sharey=True)
    for ax, n in zip(np.atleast_1d(axes), sizes, strict=True):
        sub = table[table["n_labels"] == n]
        base = sub[sub["method"] == "random"]
        if len(base):
            ax.axhline(base["accuracy_mean"][0], color="grey", ls=":", lw=1, label="random init")
        for method in dict.fromkeys(m for m in sub["method"] if m != "random"):
            t = sub[sub["method"] == method]
            ax.errorbar(t["steps"], t["accuracy_mean"], yerr=t["accuracy_std"], marker="o", capsize=3, label=method)
        ax.set_xscale("log")
        steps = sorted(set(int(s) for s in sub["steps"] if s > 0))
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.minorticks_off()
        ax.set_title(f"{n} labels", fontsize=10)
        ax.set_xlabel("pretraining steps")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("ring accuracy (chance 0.5)")
    np.atleast_1d(axes)[-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", default="dirichlet,byol,spectral,hybrid")
    parser.add_argument("--steps", default="150,500,1500")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes for the simulation")
    parser.add_argument("--out", default="length_study_results")
    parser.add_argument("--append", action="store_true",
                        help="add these runs to the folder's length_study.ecsv (same seed), e.g. longer budgets")
    args = parser.parse_args()
    out = Path(args.out)
    meta = provenance(args.seed)
    earlier = Table.read(out / "length_study.ecsv") if args.append and (out / "length_study.ecsv").exists() else None
    if earlier is not None and earlier.meta["provenance"]["seed"] != args.seed:
        parser.error(f"--append: {out} holds seed {earlier.meta['provenance']['seed']}, not {args.seed}")
    t0 = time.perf_counter()
    table = run(out, [m.strip() for m in args.losses.split(",") if m.strip()],
                [int(s) for s in args.steps.split(",")], args.seed, args.workers, with_random=earlier is None)
    meta["wall_seconds"] = round(time.perf_counter() - t0, 1)
    runs = [meta]
    if earlier is not None:
        from astropy.table import vstack

        runs = [*earlier.meta.get("runs", [earlier.meta["provenance"]]), meta]
        table = vstack([earlier, table])
        table.sort(["method", "steps", "n_labels"])
    table.meta.update({"setting": SETTING, "provenance": meta, "runs": runs})
    table.write(out / "length_study.ecsv", overwrite=True)
    (out / "length_study.md").write_text(markdown(table))
    plot(table, out / "length_study.png")
    print(markdown(table))
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
