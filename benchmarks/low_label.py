"""The low-label benchmark on the simulated Galaxy Zoo (the experiment of Walmsley et al. 2022, arXiv:2206.11927).

Pretrain the same small ResNet with (a) the Dirichlet loss on the campaigns' votes, (b) BYOL, (c) the
spectral contrastive loss, (d) the hybrid loss, and (e) nothing (random init); then freeze it and fit a
linear probe and finetune the whole network for a task no pretraining label names — *does this disc have a
ring?* (balanced, chance 0.5, from a different simulation seed) — with 50, 100, 250, 750 and all training
labels, repeated over label subsets and pretraining seeds. **Direct training** is the baseline of the paper's
"+6 points at 750 labels": the same network from random initialisation, trained on the N labels alone with
the same budget rule as the finetuned rows (full finetuning, the same steps and augmentations, early
stopping on a 20 % validation split). Writes a table (ECSV + Markdown, with seed, commit, machine and wall
time in the metadata) and a plot.

Settings::

    python benchmarks/low_label.py --quick          # under 10 minutes on 2 CPU cores (32 px, 0.524"/px)
    python benchmarks/low_label.py                  # "cpu": under an hour on 2 CPU cores (64 px)
    python benchmarks/low_label.py --setting gpu    # larger: 64 px, 20k galaxies, 3 seeds (one GPU)
    python benchmarks/low_label.py --quick --no-finetune   # linear probes only

Results go to ``--out`` (default ``low_label_results/``): ``low_label.ecsv``, ``low_label.md``,
``low_label.png``. The numbers of the docs (docs/low_label.rst) were made with ``--quick``.
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
from galzoo_fm.training.low_label import (
    METHODS,
    encoder_features,
    finetune_accuracy,
    make_ring_task,
    pretrain_encoder,
)

SETTINGS = {
    "quick": {"size": 32, "pixscale": 0.524, "n_pretrain": 2000, "steps": 150, "batch_size": 64,
              "n_train": 800, "n_test": 400, "seeds": [0], "repeats": 5, "finetune_steps": 100},
    "cpu": {"size": 64, "pixscale": 0.262, "n_pretrain": 4000, "steps": 400, "batch_size": 64,
            "n_train": 1000, "n_test": 600, "seeds": [0, 1], "repeats": 5, "finetune_steps": 200},
    "gpu": {"size": 64, "pixscale": 0.262, "n_pretrain": 20000, "steps": 3000, "batch_size": 256,
            "n_train": 2000, "n_test": 1000, "seeds": [0, 1, 2], "repeats": 10, "finetune_steps": 500},
}
SIZES = (50, 100, 250, 750, "all")


def finetune_curve(encoder, train_x, train_y, test_x, test_y, folder: Path, steps: int, seed: int,
                   sizes=SIZES, lr: float = 3e-4) -> list:
    """``[(n_labels, [accuracy])]``: finetune on one random subset of each size (whole pool for "all")."""
    rng = np.random.default_rng(seed + 7)
    out = []
    for size in sizes:
        n = len(train_x) if size == "all" else int(size)
        if n > len(train_x):
            continue
        pick = np.arange(len(train_x)) if n == len(train_x) else rng.choice(len(train_x), n, replace=False)
        acc = finetune_accuracy(encoder, train_x[pick], train_y[pick], test_x, test_y, folder / f"n{n}",
                                steps=steps, seed=seed, lr=lr)
        out.append((n, [acc]))
    return out


def run(setting: dict, out: Path, methods: list[str], workers: int, device: str, finetune: bool = False) -> Table:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    timings = {}
    for seed in setting["seeds"]:
        cfg = SimulationConfig(seed=seed, size=setting["size"], pixscale=setting["pixscale"])
        t0 = time.perf_counter()
        data = write_synthetic(out / f"data-seed{seed}", setting["n_pretrain"], config=cfg, workers=workers,
                               overwrite=True)
        train_x, train_y, test_x, test_y = make_ring_task(setting["n_train"], setting["n_test"], cfg, workers=workers)
        timings[f"simulate seed {seed}"] = time.perf_counter() - t0
        for method in methods:
            t0 = time.perf_counter()
            shutil.rmtree(out / f"run-{method}-seed{seed}", ignore_errors=True)  # this script's own earlier run
            encoder = pretrain_encoder(method, data, out / f"run-{method}-seed{seed}", steps=setting["steps"],
                                       batch_size=setting["batch_size"], seed=seed, image_size=setting["size"],
                                       device=device)
            f_train = encoder_features(encoder, train_x, device=None if device == "auto" else device)
            f_test = encoder_features(encoder, test_x, device=None if device == "auto" else device)
            curve = low_label_curve(f_train, train_y, f_test, test_y, sizes=SIZES, repeats=setting["repeats"],
                                    seed=seed)
            timings[f"{method} seed {seed}"] = time.perf_counter() - t0
            for row, accs in zip(curve, curve.meta["accuracies"], strict=True):
                rows.append((method, "linear probe", seed, int(row["n_labels"]), accs))
            accs = "  ".join(f"{r['n_labels']}: {r['accuracy_mean']:.3f}" for r in curve)
            print(f"seed {seed} {method:9s} probe    {accs}  ({timings[f'{method} seed {seed}']:.0f} s)", flush=True)
            if finetune:
                t0 = time.perf_counter()
                ft = finetune_curve(encoder, train_x, train_y, test_x, test_y, out / f"ft-{method}-seed{seed}",
                                    setting["finetune_steps"], seed)
                name = "direct" if method == "random" else method  # random init trained on the labels alone
                rows.extend((name, "finetune", seed, n, accs) for n, accs in ft)
                accs = "  ".join(f"{n}: {a[0]:.3f}" for n, a in ft)
                print(f"seed {seed} {name:9s} finetune {accs}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return summarise(rows, setting, timings)


def summarise(rows: list, setting: dict, timings: dict) -> Table:
    """Mean ± std over label subsets and pretraining seeds, one row per (method, number of labels)."""
    out = []
    for method, transfer in dict.fromkeys((r[0], r[1]) for r in rows):
        mine = [r for r in rows if r[0] == method and r[1] == transfer]
        for n in sorted({r[3] for r in mine}):
            accs = np.concatenate([r[4] for r in mine if r[3] == n])
            out.append((method, transfer, n, float(np.mean(accs)), float(np.std(accs)), len(accs)))
    table = Table(rows=out, names=("method", "transfer", "n_labels", "accuracy_mean", "accuracy_std", "n_runs"),
                  dtype=(str, str, int, float, float, int))
    table.meta.update({"setting": setting, "seconds": timings, "task": "ring vs no ring, face-on discs, balanced"})
    return table


def _row_name(method: str, transfer: str) -> str:
    if method == "direct":
        return "direct training (random init, trained on the labels)"
    return f"{method} ({'finetuned' if transfer == 'finetune' else transfer})"


def markdown(table: Table) -> str:
    sizes = sorted(set(table["n_labels"]))
    lines = ["| method | " + " | ".join(str(n) for n in sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for method, transfer in dict.fromkeys(zip(table["method"], table["transfer"], strict=True)):
        cells = []
        for n in sizes:
            r = table[(table["method"] == method) & (table["transfer"] == transfer) & (table["n_labels"] == n)]
            cells.append(f"{r['accuracy_mean'][0]:.3f} ± {r['accuracy_std'][0]:.3f}" if len(r) else "")
        lines.append(f"| {_row_name(method, transfer)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(table: Table, path: Path, title: str) -> Path:
    """Accuracy (mean ± std) against the number of labels, one line per method."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 3.8), dpi=100)
    colours = {}
    for method, transfer in dict.fromkeys(zip(table["method"], table["transfer"], strict=True)):
        t = table[(table["method"] == method) & (table["transfer"] == transfer)]
        n, mean, std = np.asarray(t["n_labels"]), np.asarray(t["accuracy_mean"]), np.asarray(t["accuracy_std"])
        probe = transfer == "linear probe"
        line = ax.errorbar(n, mean, yerr=std, marker="o" if probe else "s", capsize=3, ls="-" if probe else "--",
                           color=colours.get(method), label=method if probe else _row_name(method, transfer))
        colours.setdefault(method, line[0].get_color())
    ax.set_xscale("log")
    sizes = sorted(set(table["n_labels"]))
    labels = [str(n) for n in sizes]
    labels[-1] = f"\nall ({sizes[-1]})" if len(sizes) > 1 and sizes[-1] < 1.6 * sizes[-2] else f"all ({sizes[-1]})"
    ax.set_xticks(sizes, labels)
    ax.minorticks_off()
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("labelled galaxies")
    ax.set_ylabel("test accuracy (chance 0.5)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="cpu")
    parser.add_argument("--quick", action="store_true", help="same as --setting quick")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    parser.add_argument("--out", default="low_label_results", help="output folder")
    parser.add_argument("--workers", type=int, default=2, help="processes for the simulation")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--finetune", action=argparse.BooleanOptionalAction, default=True,
                        help="also finetune each encoder, and train the direct-training baseline (one label subset "
                             "per size); default on")
    parser.add_argument("--seeds", default=None, help="comma-separated pretraining seeds (default: the setting's)")
    args = parser.parse_args()
    name = "quick" if args.quick else args.setting
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {METHODS}")
    setting = dict(SETTINGS[name])
    if args.seeds:
        setting["seeds"] = [int(x) for x in args.seeds.split(",")]
    out = Path(args.out)
    meta = provenance(setting["seeds"][0])
    t0 = time.perf_counter()
    table = run(setting, out, methods, args.workers, args.device, finetune=args.finetune)
    table.meta["setting_name"] = name
    table.meta["total_seconds"] = meta["wall_seconds"] = round(time.perf_counter() - t0, 1)
    table.meta["provenance"] = meta
    table.write(out / "low_label.ecsv", overwrite=True)
    (out / "low_label.md").write_text(markdown(table))
    plot(table, out / "low_label.png", f"Rings in simulated discs ({name} setting)")
    print(markdown(table))
    print(json.dumps({"setting": name, **meta}))


if __name__ == "__main__":
    main()
