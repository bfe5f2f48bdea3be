"""Training: ``galzoo-fm pretrain``, ``finetune`` and ``evaluate``."""

from __future__ import annotations

import click

from galzoo_fm.cli import _options as opt
from galzoo_fm.cli._errors import cli_error

__all__ = ["evaluate_command", "finetune_command", "pretrain_command"]


@click.command("pretrain")
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False),
              help="TOML run configuration (see the training guide).")
def pretrain_command(config: str) -> None:
    """Pretrain an encoder with any registered loss; run under torchrun --nproc-per-node N for DDP."""
    from galzoo_fm.training import NonFiniteLossError, pretrain

    try:
        result = pretrain(config)
    except (ValueError, TypeError, NonFiniteLossError) as exc:
        raise cli_error(exc) from exc
    click.echo(result.summary())


@click.command("finetune")
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False),
              help="TOML finetuning configuration (see the evaluation guide).")
def finetune_command(config: str) -> None:
    """Finetune a pretrained encoder into a classifier, regressor or Dirichlet tree, with early stopping."""
    from galzoo_fm.training import NonFiniteLossError, finetune

    try:
        result = finetune(config)
    except (ValueError, TypeError, NonFiniteLossError) as exc:
        raise cli_error(exc) from exc
    click.echo(result.summary())


@click.command("evaluate")
@click.option("--model", required=True, help="Encoder folder (save_pretrained) or hf_hub:<repo id>.")
@click.option("--data", required=True, type=click.Path(exists=True), help="Cutout store folder or .npy images.")
@click.option("--catalog", required=True, type=click.Path(dir_okay=False), help="Catalogue with the labels.")
@click.option("--label-col", required=True, help="Column of class labels.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for evaluation.json, low_label.ecsv/.png.")
@click.option("--sizes", default="50,100,250,750,all", show_default=True, help="Label counts of the curve.")
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(min=1), help="Subsets per count.")
@click.option("--k", "k", default=20, show_default=True, type=click.IntRange(min=1), help="kNN neighbours.")
@click.option("--C", "C", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Inverse L2 strength of the linear probe.")
@click.option("--test-fraction", default=0.3, show_default=True, type=click.FloatRange(0, 1, min_open=True,
                                                                                      max_open=True))
@opt.seed()
@opt.batch_size()
@opt.device()
@opt.preprocess(help="Run the encoder's recorded preprocessing on the raw images (default: when it has one); "
                    "--no-preprocess for images that are model-ready already.")
@click.option("--bands", help="Band names of the images' channels, e.g. g,r,i,z (default: the store's; for .npy "
                              "the preprocessing's input bands or the model's, by channel count).")
@click.option("--pixel-scale", type=click.FloatRange(min=0, min_open=True),
              help="Arcsec/pixel of the images (default: the store's, else the preprocessing's input scale).")
def evaluate_command(model, data, catalog, label_col, out, sizes, repeats, k, C, test_fraction, seed, batch_size,
                     device, preprocess, bands, pixel_scale) -> None:
    """Linear-probe and kNN accuracy of an encoder's embeddings, and the low-label curve (table + PNG).

    The images are preprocessed as the encoder was trained (on the device) unless --no-preprocess.
    """
    from galzoo_fm.training.evaluate import evaluate, parse_sizes

    try:
        result = evaluate(model, data, catalog, label_col, out=out, sizes=parse_sizes(sizes), repeats=repeats,
                          k=k, C=C, test_fraction=test_fraction, seed=seed, batch_size=batch_size, device=device,
                          preprocess=preprocess, bands=bands, pixel_scale=pixel_scale)
    except (ValueError, TypeError) as exc:
        raise cli_error(exc) from exc
    click.echo(f"linear probe accuracy {result.linear_accuracy:.4f}, kNN (k={k}) {result.knn_accuracy:.4f} "
               f"({result.n_train} train / {result.n_test} test)")
    prep = result.preprocessing
    if prep.get("applied"):
        click.echo(f"preprocessed as recorded in the encoder (bands {','.join(prep['input_bands'])}, "
                   f"{prep['input_pixel_scale']} arcsec/pixel): {prep['n_flagged']} flagged, {prep['n_bad']} bad")
    for row in result.curve:
        click.echo(f"  {row['n_labels']:>6d} labels: {row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f}")
    for name, path in result.files.items():
        click.echo(f"wrote {name}: {path}")
