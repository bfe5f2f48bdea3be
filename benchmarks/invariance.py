"""The invariance benchmark (issue 15, item 4): does an encoder's embedding survive a 1-px shift, a 90°
rotation, a flip and a second sky-noise realisation better than it tells a galaxy from its nearest neighbour?

For each encoder, the fraction of simulated galaxies ``i`` with ``cos(e_i, e_T(i)) > max_{j != i} cos(e_i,
e_j)`` (:func:`galzoo_fm.training.invariance_scores`); the goal for a shipped encoder is >= 0.95 for each
transform. Encoders: the shipped demo encoder (``galzoo_fm/data/demo_encoder``), a randomly initialised
encoder of the same architecture with the same preprocessing, and any ``--models`` folders. Galaxies:
``--n`` (default 500) from ``SimulationConfig(seed=12345, size=64, pixscale=0.262)``, the simulation the demo
encoder was trained on (other galaxies of it)::

    OMP_NUM_THREADS=1 python benchmarks/invariance.py                      # ~10 s on one CPU core
    OMP_NUM_THREADS=1 python benchmarks/invariance.py --models run1/final,run2/final --out inv
    OMP_NUM_THREADS=1 python benchmarks/invariance.py --d4      # each encoder also averaged over D4

Writes ``invariance.ecsv`` (seed, commit, machine, wall time in its metadata), ``invariance.md`` and
``invariance.png`` (a bar chart, the 0.95 goal dashed) to ``--out`` (default ``invariance_results/``).
``docs/invariance.rst`` shows this run's numbers.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
from _provenance import provenance
from astropy.table import Table

from galzoo_fm import Encoder
from galzoo_fm.datasets.sim.catalogue import SimulationConfig, simulate_catalog, simulate_images
from galzoo_fm.training.invariance import TRANSFORMS, invariance_scores

DEMO = Path(__file__).resolve().parents[1] / "galzoo_fm" / "data" / "demo_encoder"
SIM = {"seed": 12345, "size": 64, "pixscale": 0.262}
GOAL = 0.95


def encoders(models: list[str], d4: bool = False) -> dict[str, Encoder]:
    """The demo encoder, a random init of its architecture (same preprocessing), and ``models``; with ``d4``,
    each of them also with ``symmetry="d4"`` (embeddings averaged over the 90° rotations and flips) unless it
    has it already."""
    demo = Encoder.from_pretrained(DEMO)
    out = {
        "demo": demo,
        "random init": Encoder(demo.backbone_name, in_chans=demo.in_chans, image_size=demo.image_size,
                               backbone_kwargs=demo.backbone_kwargs, preprocessing=demo.preprocessing,
                               bands=demo.bands, seed=0),
    }
    for folder in models:
        name = Path(folder).name if Path(folder).name not in out else folder
        out[name] = Encoder.from_pretrained(folder)
    if d4:
        for name, enc in list(out.items()):
            if enc.symmetry != "d4":
                twin = copy.deepcopy(enc)
                twin.symmetry = "d4"
                out[f"{name} + d4"] = twin
    return out


def run(n: int, models: list[str], seed: int, noise_scale: float, device: str | None, d4: bool = False) -> Table:
    cfg = SimulationConfig(**SIM)
    t0 = time.perf_counter()
    images = simulate_images(simulate_catalog(n, config=cfg), cfg)
    seconds = {"simulate": time.perf_counter() - t0}
    rows = []
    for name, encoder in encoders(models, d4).items():
        t0 = time.perf_counter()
        result = invariance_scores(encoder, images, device=device, seed=seed, noise_scale=noise_scale)
        seconds[name] = time.perf_counter() - t0
        flat = result.as_dict()
        row = {"encoder": name, "n": n}
        for t in TRANSFORMS:
            p = flat[t]
            row[t], row[f"{t}_err"] = p, float(np.sqrt(p * (1 - p) / n))
        row.update({k: v for k, v in flat.items() if k.startswith("median_")})
        rows.append(row)
        print(f"{name:12s} " + "  ".join(f"{t} {flat[t]:.3f}" for t in TRANSFORMS)
              + f"  ({seconds[name]:.1f} s)", flush=True)
    table = Table(rows=rows)
    table.meta.update({"simulation": SIM, "noise_scale": noise_scale, "goal": GOAL, "seconds": seconds,
                       "definition": "fraction of galaxies with cos(e_i, e_T(i)) > max_{j != i} cos(e_i, e_j)"})
    return table


def markdown(table: Table) -> str:
    head = ["encoder", *TRANSFORMS, "median cos(self) shift / rot90 / flip / noise", "median cos(nearest other)"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in table:
        cells = [f"{r[t]:.3f} ± {r[f'{t}_err']:.3f}" for t in TRANSFORMS]
        selfc = " / ".join(f"{r[f'median_self_cosine_{t}']:.4f}" for t in TRANSFORMS)
        lines.append(f"| {r['encoder']} | " + " | ".join(cells) + f" | {selfc} | {r['median_nearest_cosine']:.4f} |")
    return "\n".join(lines) + "\n"


def ratios(table: Table) -> str:
    """Each encoder's fraction over the random init's, per transform."""
    base = table[table["encoder"] == "random init"][0]
    out = []
    for r in table:
        if r["encoder"] != "random init":
            out.append(f"{r['encoder']} / random init: " + "  ".join(
                f"{t} {r[t] / base[t]:.2f}x" if base[t] > 0 else f"{t} inf" for t in TRANSFORMS))
    return "\n".join(out)


def plot(table: Table, path: Path) -> Path:
    """Grouped bars: the invariant fraction per transform, one bar per encoder, the goal dashed."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 3.4), dpi=100)
    width = 0.8 / len(table)
    x = np.arange(len(TRANSFORMS))
    for k, r in enumerate(table):
        values = [r[t] for t in TRANSFORMS]
        errs = [r[f"{t}_err"] for t in TRANSFORMS]
        bars = ax.bar(x + (k - (len(table) - 1) / 2) * width, values, width, yerr=errs, capsize=2,
                      label=r["encoder"])
        ax.bar_label(bars, [f"{v:.2f}" for v in values], fontsize=7, padding=2)
    ax.axhline(GOAL, color="k", ls="--", lw=1, label=f"goal {GOAL:.2f}")
    ax.set_xticks(x, ["1-px shift", "90° rotation", "flip", "noise resample"])
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("fraction invariant")
    meta = table.meta.get("provenance", {})
    ax.set_title(f"{table['n'][0]} simulated galaxies (64 px, 0.262\"/px); commit {meta.get('commit', '?')}",
                 fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="simulated galaxies (default 500)")
    parser.add_argument("--models", default="", help="comma-separated encoder folders to score as well")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise transform (default 0)")
    parser.add_argument("--noise-scale", type=float, default=1.0,
                        help="added noise in sky sigmas (default 1; sqrt(2) matches two independent realisations)")
    parser.add_argument("--device", default=None, help="default: CUDA when available")
    parser.add_argument("--out", default="invariance_results", help="output folder")
    parser.add_argument("--d4", action="store_true",
                        help="also score every encoder with symmetry='d4' (rows 'NAME + d4'; 8 passes per image)")
    args = parser.parse_args()
    if args.n < 2:
        parser.error("--n must be at least 2")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prov = provenance(args.seed)
    t0 = time.perf_counter()
    table = run(args.n, models, args.seed, args.noise_scale, args.device, args.d4)
    prov["wall_seconds"] = round(time.perf_counter() - t0, 1)
    table.meta["provenance"] = prov
    table.write(out / "invariance.ecsv", overwrite=True)
    (out / "invariance.md").write_text(markdown(table))
    plot(table, out / "invariance.png")
    print()
    print(markdown(table))
    print(ratios(table))
    print(f"\nseed {prov['seed']} (noise), simulation seed {SIM['seed']}; commit {prov['commit']}; "
          f"{prov['platform']}, {prov['cores']} cores, {prov['torch_threads']} torch threads; "
          f"wall time {prov['wall_seconds']} s")


if __name__ == "__main__":
    main()
