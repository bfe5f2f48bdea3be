"""Ablations of the pretraining recipe (issue 15): one row per variant, its probe accuracy and its effect.

Each variant is the benchmark's recipe (``galzoo_fm.training.low_label.pretrain_encoder``: the small ResNet,
32 px at 0.524"/px, batch 64, AdamW 2e-3) with one change, pretrained for ``--steps`` on the same simulated
galaxies as ``benchmarks/length_study.py`` and probed on the same ring task at 50, 250 and 750 labels. The
effect is the difference to the variant's baseline row (``base`` of the same loss).

    python benchmarks/ablations.py --variants hybrid,hybrid_w3,hybrid_w10 --steps 1500
    python benchmarks/ablations.py --list
    python benchmarks/ablations.py --report a/ablations.ecsv b/ablations.ecsv   # two processes' runs together

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
from length_study import SETTING, curve_text, pixel_probe, prepare, probe

from galzoo_fm.training.low_label import pretrain_encoder

#: name: (loss, loss options, augmentation changes, training changes, what it tests). Training changes:
#: ``optim`` (updates the ``[optim]`` table) and ``batch_size``. ``loss`` "pixels" is the raw-pixel probe.
VARIANTS: dict[str, tuple[str, dict, dict, dict, str]] = {
    "pixels": ("pixels", {}, {}, {}, "no network: linear probe on the stretched pixels"),
    "pixels_pca50": ("pixels", {"pca": 50}, {}, {}, "no network: linear probe on 50 pixel PCs"),
    "hybrid": ("hybrid", {}, {}, {}, "baseline (the default weighting)"),
    "hybrid_matched": ("hybrid", {"weighting": "matched"}, {}, {}, "magnitude-matched, w = 1 (the paper's code)"),
    "hybrid_w0.1": ("hybrid", {"supervised_weight": 0.1, "weighting": "matched"}, {}, {}, "matched, w = 0.1"),
    "hybrid_w0.3": ("hybrid", {"supervised_weight": 0.3, "weighting": "matched"}, {}, {}, "matched, w = 0.3"),
    "hybrid_w3": ("hybrid", {"supervised_weight": 3.0, "weighting": "matched"}, {}, {}, "matched, w = 3"),
    "hybrid_w10": ("hybrid", {"supervised_weight": 10.0, "weighting": "matched"}, {}, {}, "matched, w = 10"),
    "hybrid_w30": ("hybrid", {"supervised_weight": 30.0, "weighting": "matched"}, {}, {}, "matched, w = 30"),
    "hybrid_fixed1": ("hybrid", {"supervised_weight": 1.0, "weighting": "fixed"}, {}, {}, "fixed lambda = 1"),
    "hybrid_fixed0.3": ("hybrid", {"supervised_weight": 0.3, "weighting": "fixed"}, {}, {}, "fixed lambda = 0.3"),
    "hybrid_fixed3": ("hybrid", {"supervised_weight": 3.0, "weighting": "fixed"}, {}, {}, "fixed lambda = 3"),
    "hybrid_head_proj": ("hybrid", {"head_input": "projection"}, {}, {},
                         "the Dirichlet head reads the projection, not the features"),
    "byol": ("byol", {}, {}, {}, "baseline"),
    "byol_tau_0.99": ("byol", {"tau_base": 0.99}, {}, {}, "EMA base tau 0.99 (default 0.996)"),
    "byol_tau_0.97": ("byol", {"tau_base": 0.97}, {}, {}, "EMA base tau 0.97"),
    "byol_tau_const": ("byol", {"tau_schedule": "constant"}, {}, {}, "constant tau = 0.996 (no cosine rise to 1)"),
    "byol_pred_lr10": ("byol", {"predictor_lr_scale": 10.0}, {}, {}, "predictor learning rate 10x"),
    "byol_heads_256": ("byol", {"projection_hidden": 256, "prediction_hidden": 256}, {}, {},
                       "projector/predictor hidden 256 (default 512)"),
    "byol_heads_1024": ("byol", {"projection_hidden": 1024, "prediction_hidden": 1024}, {}, {},
                        "projector/predictor hidden 1024 (the hybrid paper's)"),
    "byol_batch32": ("byol", {}, {}, {"batch_size": 32}, "batch 32 (default 64), same steps"),
    "byol_batch128": ("byol", {}, {}, {"batch_size": 128}, "batch 128, same steps"),
    "byol_lars": ("byol", {}, {}, {"optim": {"name": "lars", "lr": 0.05, "weight_decay": 1.5e-6}},
                  "LARS, lr 0.2 x batch/256, wd 1.5e-6 (BYOL's) instead of AdamW 2e-3"),
    "byol_lr_1e-3": ("byol", {}, {}, {"optim": {"lr": 1e-3}}, "AdamW lr 1e-3 (default 2e-3)"),
    "byol_lr_4e-3": ("byol", {}, {}, {"optim": {"lr": 4e-3}}, "AdamW lr 4e-3"),
    "byol_no_rotation": ("byol", {}, {"rotation": 0.0}, {}, "no rotation in the views (default +-180 deg)"),
    "byol_no_flip": ("byol", {}, {"hflip": 0.0}, {}, "no flips in the views (default p = 0.5)"),
    "byol_no_shift": ("byol", {}, {"translate": 0.0}, {}, "no shift in the views (default +-5 %)"),
    "byol_shift_0.1": ("byol", {}, {"translate": 0.1}, {}, "shift +-10 %"),
    "byol_no_zoom": ("byol", {}, {"crop_scale": [1.0, 1.0]}, {}, "no zoom (default crop scale 0.8-1)"),
    "byol_crop_0.5": ("byol", {}, {"crop_scale": [0.5, 1.0]}, {}, "stronger zoom: crop scale 0.5-1"),
    "byol_no_blur": ("byol", {}, {"blur_prob": 0.0}, {}, "no PSF blur in the views (default p = 0.3)"),
    "byol_no_noise": ("byol", {}, {"noise": [0.0, 0.0]}, {}, "no added noise in the views (default 0-1 sigma)"),
    "byol_no_flux": ("byol", {}, {"flux_scale": [1.0, 1.0], "band_scale": [1.0, 1.0]}, {},
                     "no flux or band scaling (default 0.8-1.25, 0.95-1.05)"),
    "dirichlet": ("dirichlet", {}, {}, {}, "baseline"),
    "spectral": ("spectral", {}, {}, {}, "baseline"),
}


def run_variant(name: str, out: Path, data, task, steps: int, seed: int) -> Table:
    """Pretrain variant ``name`` (or probe the pixels) and return its probe curve."""
    loss, options, augment, train, _ = VARIANTS[name]
    if loss == "pixels":
        reference = pretrain_encoder("random", data, out / "random", steps=1, seed=seed, image_size=SETTING["size"])
        return pixel_probe(reference, task, seed, pca=options.get("pca"))
    folder = out / f"run-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    batch = train.get("batch_size", SETTING["batch_size"])
    encoder = pretrain_encoder(loss, data, folder, steps=steps, batch_size=batch, seed=seed,
                               image_size=SETTING["size"], device="cpu", loss_options=options,
                               augment=augment, optim=train.get("optim"))
    return probe(encoder, task, seed)


def report(table: Table) -> str:
    """The Markdown table: one row per variant, mean ± std at each size, and the effect at 50 and 750 labels
    relative to the variant's baseline (the row named after its loss, in the same table)."""
    sizes = sorted(set(int(n) for n in table["n_labels"]))
    lines = ["| variant | change | " + " | ".join(str(n) for n in sizes) + " | effect at 50 | effect at 750 |",
             "|---" * (len(sizes) + 4) + "|"]
    names = list(dict.fromkeys(table["variant"]))
    for name in names:
        t = table[table["variant"] == name]
        base = table[table["variant"] == VARIANTS[name][0]]
        cells = [f"{t[t['n_labels'] == n]['accuracy_mean'][0]:.3f} ± {t[t['n_labels'] == n]['accuracy_std'][0]:.3f}"
                 for n in sizes]
        effects = []
        for n in (50, 750):
            mine, ref = t[t["n_labels"] == n], base[base["n_labels"] == n]
            effects.append(f"{mine['accuracy_mean'][0] - ref['accuracy_mean'][0]:+.3f}"
                           if len(mine) and len(ref) and name != VARIANTS[name][0] else "")
        lines.append(f"| {name} | {VARIANTS[name][4]} | " + " | ".join(cells) + " | " + " | ".join(effects) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="hybrid,hybrid_w3,hybrid_w10")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="ablations_results")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    parser.add_argument("--report", nargs="+", metavar="ECSV",
                        help="print the Markdown table of these ablations.ecsv files together (runs of the same "
                             "seed and steps split over processes) and exit")
    args = parser.parse_args()
    if args.report:
        from astropy.table import vstack

        tables = [Table.read(f) for f in args.report]
        print(report(vstack(tables, metadata_conflicts="silent")))
        for f, t in zip(args.report, tables, strict=True):
            print(f"{f}: {json.dumps(t.meta.get('provenance', {}))}")
        return
    if args.list:
        for name, (loss, opts, aug, train, what) in VARIANTS.items():
            print(f"{name:16s} {loss:9s} {what}  loss options {opts} augment {aug} training {train}")
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
        t1 = time.perf_counter()
        curve = run_variant(name, out, data, task, args.steps, args.seed)
        seconds = time.perf_counter() - t1
        loss, what = VARIANTS[name][0], VARIANTS[name][4]
        rows.extend((name, loss, what, 0 if loss == "pixels" else args.steps, int(r["n_labels"]),
                     float(r["accuracy_mean"]), float(r["accuracy_std"]), seconds) for r in curve)
        print(f"{name:16s} {curve_text(curve)}  ({seconds:.0f} s)", flush=True)
        table = Table(rows=rows, names=("variant", "loss", "change", "steps", "n_labels", "accuracy_mean",
                                        "accuracy_std", "seconds"))
        meta["wall_seconds"] = round(time.perf_counter() - t0, 1)
        table.meta.update({"setting": SETTING, "provenance": meta})
        table.write(out / "ablations.ecsv", overwrite=True)  # after every variant: a killed run keeps its rows
    text = report(table)
    (out / "ablations.md").write_text(text)
    print(text)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
