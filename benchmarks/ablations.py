"""Ablations of the pretraining recipe (issue 15): one row per variant, its probe accuracy and its effect.

Each variant is the benchmark's recipe (``galzoo_fm.datasets.simbench.pretrain_encoder``: the small ResNet,
32 px at 0.524"/px, batch 64, AdamW 2e-3) with one change, pretrained for ``--steps`` on the same simulated
galaxies as ``benchmarks/length_study.py`` and probed on the same ring task at 50, 250 and 750 labels. The
effect is the difference to the variant's baseline row (``base`` of the same loss).

    python benchmarks/ablations.py --variants hybrid,hybrid_w3,hybrid_w10 --steps 1500
    python benchmarks/ablations.py --list

Writes ``ablations.ecsv`` and ``ablations.md`` to ``--out`` (default ``ablations_results/``), with seed,
commit, machine and wall time in the metadata.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from _provenance import provenance
from astropy.table import Table
from length_study import SETTING, curve_text, prepare, probe

from galzoo_fm.datasets.simbench import pretrain_encoder

#: name: (loss, loss options, augmentation changes, what it tests)
VARIANTS: dict[str, tuple[str, dict, dict, str]] = {
    "hybrid": ("hybrid", {}, {}, "baseline: magnitude-matched, w = 1"),
    "hybrid_w0.3": ("hybrid", {"supervised_weight": 0.3}, {}, "supervised term 0.3 x the BYOL term"),
    "hybrid_w3": ("hybrid", {"supervised_weight": 3.0}, {}, "supervised term 3 x the BYOL term"),
    "hybrid_w10": ("hybrid", {"supervised_weight": 10.0}, {}, "supervised term 10 x the BYOL term"),
    "hybrid_w30": ("hybrid", {"supervised_weight": 30.0}, {}, "supervised term 30 x the BYOL term"),
    "hybrid_fixed1": ("hybrid", {"supervised_weight": 1.0, "weighting": "fixed"}, {}, "fixed lambda = 1"),
    "byol": ("byol", {}, {}, "baseline"),
    "byol_no_blur": ("byol", {}, {"blur_prob": 0.0}, "no PSF blur in the views"),
    "byol_no_noise": ("byol", {}, {"noise": [0.0, 0.0]}, "no added noise in the views"),
    "byol_crop_0.5": ("byol", {}, {"crop_scale": [0.5, 1.0]}, "stronger zoom: crop scale 0.5-1"),
    "byol_tau_0.99": ("byol", {"tau_base": 0.99}, {}, "EMA base tau 0.99 (default 0.996)"),
    "dirichlet": ("dirichlet", {}, {}, "baseline"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="hybrid,hybrid_w3,hybrid_w10")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="ablations_results")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    args = parser.parse_args()
    if args.list:
        for name, (loss, opts, aug, what) in VARIANTS.items():
            print(f"{name:16s} {loss:9s} {what}  loss options {opts} augment {aug}")
        return
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; see --list")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = provenance(args.seed)
    t0 = time.perf_counter()
    data, task = prepare(out, args.seed, args.workers)
    rows = []
    for name in names:
        loss, options, augment, what = VARIANTS[name]
        folder = out / f"run-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        t1 = time.perf_counter()
        encoder = pretrain_encoder(loss, data, folder, steps=args.steps, batch_size=SETTING["batch_size"],
                                   seed=args.seed, image_size=SETTING["size"], device="cpu", loss_options=options,
                                   augment=augment)
        curve = probe(encoder, task, args.seed)
        seconds = time.perf_counter() - t1
        rows.extend((name, loss, what, args.steps, int(r["n_labels"]), float(r["accuracy_mean"]),
                     float(r["accuracy_std"]), seconds) for r in curve)
        print(f"{name:16s} {curve_text(curve)}  ({seconds:.0f} s)", flush=True)
    table = Table(rows=rows, names=("variant", "loss", "change", "steps", "n_labels", "accuracy_mean",
                                    "accuracy_std", "seconds"))
    meta["wall_seconds"] = round(time.perf_counter() - t0, 1)
    table.meta.update({"setting": SETTING, "provenance": meta})
    table.write(out / "ablations.ecsv", overwrite=True)
    lines = ["| variant | change | 50 | 250 | 750 | effect at 750 |", "|---|---|---|---|---|---|"]
    for name in names:
        t = table[table["variant"] == name]
        base = table[table["variant"] == VARIANTS[name][0]]
        cells = [f"{t[t['n_labels'] == n]['accuracy_mean'][0]:.3f} ± {t[t['n_labels'] == n]['accuracy_std'][0]:.3f}"
                 for n in (50, 250, 750)]
        at750 = t[t["n_labels"] == 750]["accuracy_mean"][0]
        effect = (f"{at750 - base[base['n_labels'] == 750]['accuracy_mean'][0]:+.3f}"
                  if len(base) and name != VARIANTS[name][0] else "")
        lines.append(f"| {name} | {VARIANTS[name][3]} | " + " | ".join(cells) + f" | {effect} |")
    (out / "ablations.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
