"""``galzoo-fm pretrain / finetune / evaluate``: thin wrappers, errors as one clear line."""

from __future__ import annotations

import json

import numpy as np
from astropy.table import Table
from click.testing import CliRunner

import galzoo_fm
from galzoo_fm.cli import cli

TOML = """
[model]
backbone = "example_smallcnn"
backbone_kwargs = {{ width = 8, depth = 2 }}

[loss]
name = "spectral"
options = {{ projection_hidden = 32, projection_dim = 16 }}

[data]
path = "{data}"

[augment]
crop_scale = [0.8, 1.0]

[optim]
name = "lars"
lr = 0.2
warmup_steps = 1

[train]
out = "{out}"
steps = 3
batch_size = 8
checkpoint_every = 2

[logging]
every = 1
progress = false
tensorboard = "auto"
"""


def test_pretrain_finetune_evaluate_commands(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(24, 3, 16, 16)).astype("float32"))
    Table({"kind": np.arange(24) % 2}).write(tmp_path / "cat.ecsv")
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(TOML.format(data=tmp_path / "x.npy", out=tmp_path / "run"))
    runner = CliRunner()
    res = runner.invoke(cli, ["pretrain", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "trained 3 steps" in res.output
    encoder = tmp_path / "run" / "checkpoints" / "step-0000003" / "encoder"
    assert galzoo_fm.Encoder.from_pretrained(encoder).backbone_name == "example_smallcnn"
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 4
    res = runner.invoke(cli, ["pretrain", "--config", str(cfg)])  # the same command again: nothing to do
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"{tmp_path / 'run'} is already complete (3 steps); nothing to train.")
    assert "trained" not in res.output and (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 4

    ft = tmp_path / "ft.toml"
    ft.write_text(f'[model]\ninit = "{encoder}"\n[task]\nkind = "classifier"\nlabel_columns = "kind"\n'
                  f'freeze_encoder = true\n[data]\npath = "{tmp_path / "x.npy"}"\ncatalog = "{tmp_path / "cat.ecsv"}"\n'
                  f'[train]\nout = "{tmp_path / "ft"}"\nsteps = 4\nbatch_size = 8\neval_every = 2\n'
                  '[logging]\nprogress = false\n')
    res = runner.invoke(cli, ["finetune", "--config", str(ft)])
    assert res.exit_code == 0, res.output
    assert "best validation at step " in res.output and ", accuracy " in res.output  # not only the loss
    assert json.loads((tmp_path / "ft" / "model" / "task.json").read_text())["classes"] == ["0", "1"]

    res = runner.invoke(cli, ["evaluate", "--model", str(encoder), "--data", str(tmp_path / "x.npy"),
                              "--catalog", str(tmp_path / "cat.ecsv"), "--label-col", "kind", "--out",
                              str(tmp_path / "eval"), "--sizes", "4,8,all", "--repeats", "2", "--k", "3"])
    assert res.exit_code == 0, res.output
    assert "linear probe accuracy" in res.output and (tmp_path / "eval" / "low_label.png").is_file()


def test_config_error_is_one_line_naming_the_key(tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(TOML.format(data=tmp_path / "x.npy", out=tmp_path / "run").replace("steps = 3", "step = 3"))
    res = CliRunner().invoke(cli, ["pretrain", "--config", str(cfg)])
    assert res.exit_code == 1
    assert "unknown key train.step " in res.output and "did you mean train.steps?" in res.output
    res = CliRunner().invoke(cli, ["evaluate", "--model", "m", "--data", str(tmp_path), "--catalog", "c",
                                   "--label-col", "x", "--sizes", "10,zero"])
    assert res.exit_code == 1 and "--sizes entries must be positive integers or 'all', got 'zero'" in res.output


def test_trained_models_carry_their_preprocessing_and_bands(tmp_path):
    """pretrain and finetune from scratch save the [preprocess] stretch and its bands with the encoder, so
    that `galzoo-fm embed` later preprocesses exactly as training did."""
    rng = np.random.default_rng(1)
    np.save(tmp_path / "x.npy", rng.normal(size=(24, 3, 16, 16)).astype("float32"))
    Table({"kind": np.arange(24) % 2}).write(tmp_path / "cat.ecsv")
    pre = '[preprocess]\nbands = ["g", "r", "z"]\nsurvey = "legacy"\nimage_size = 16\n'
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(TOML.format(data=tmp_path / "x.npy", out=tmp_path / "run") + pre)
    runner = CliRunner()
    assert (res := runner.invoke(cli, ["pretrain", "--config", str(cfg)])).exit_code == 0, res.output
    encoder = galzoo_fm.Encoder.from_pretrained(tmp_path / "run" / "checkpoints" / "step-0000003" / "encoder")
    assert encoder.bands == ["g", "r", "z"] and encoder.preprocessor.bands == ["g", "r", "z"]
    legacy = galzoo_fm.preprocess.survey_defaults("legacy")["softening"]
    assert encoder.preprocessor.to_dict()["softening"] == [legacy[b] for b in "grz"]

    init = tmp_path / "run" / "checkpoints" / "step-0000003" / "encoder"
    body = ('[task]\nkind = "classifier"\nlabel_columns = "kind"\n'
            f'[data]\npath = "{tmp_path / "x.npy"}"\ncatalog = "{tmp_path / "cat.ecsv"}"\n'
            '[train]\nsteps = 2\nbatch_size = 8\neval_every = 2\n[logging]\nprogress = false\n')
    for name, extra in (("same", ""), ("other", pre + "dynamic_range = 100.0\n")):
        ft = tmp_path / f"{name}.toml"
        ft.write_text(f'[model]\ninit = "{init}"\n' + body.replace("[train]\n", f'[train]\nout = "{tmp_path / name}"\n')
                      + extra)
        assert (res := runner.invoke(cli, ["finetune", "--config", str(ft)])).exit_code == 0, res.output
    same = galzoo_fm.Encoder.from_pretrained(tmp_path / "same" / "model" / "encoder")
    other = galzoo_fm.Encoder.from_pretrained(tmp_path / "other" / "model" / "encoder")
    assert same.preprocessor.to_dict() == encoder.preprocessor.to_dict()  # no [preprocess]: the init's
    assert other.preprocessor.to_dict()["dynamic_range"] == 100.0 and other.bands == ["g", "r", "z"]


def test_example_finetune_config_runs_on_the_demo_encoder_and_simulated_data(tmp_path, monkeypatch):
    """examples/finetune_demo.toml is valid, its comments' commands make the data it names, and it finetunes
    the shipped demo encoder offline (a few steps on a few simulated galaxies here)."""
    import re
    import tomllib
    from pathlib import Path

    from galzoo_fm.datasets.sim.catalogue import SimulationConfig, write_synthetic
    from galzoo_fm.training import FINETUNE_SPEC, finetune, load_config, load_finetuned

    root = Path(__file__).resolve().parents[1]
    path = root / "examples" / "finetune_demo.toml"
    cfg = load_config(path, FINETUNE_SPEC)  # every key known, every value of the right type
    assert (root / cfg["model"]["init"] / "config.json").is_file()  # the shipped demo encoder
    text = path.read_text()
    made = re.search(r"galzoo-fm simulate (\S+) --n \d+ --seed (\d+)", text)
    assert made, "the comments say how to simulate the data"
    assert (cfg["data"]["path"], cfg["data"]["catalog"]) == (f"{made[1]}/images.npy", f"{made[1]}/catalog.fits")
    assert f"galzoo-fm finetune --config examples/{path.name}" in text

    write_synthetic(tmp_path / made[1], 24, config=SimulationConfig(seed=int(made[2]), size=64), workers=1)
    doc = tomllib.loads(text)
    doc["data"].update(path=str(tmp_path / cfg["data"]["path"]), catalog=str(tmp_path / cfg["data"]["catalog"]))
    doc["train"].update(out=str(tmp_path / "run"), steps=2, batch_size=8, eval_every=2)
    doc["logging"]["progress"] = False
    monkeypatch.chdir(root)  # model.init is relative to the repository root, as in the comments
    result = finetune(doc)
    model, task = load_finetuned(result.model_dir)
    assert task["kind"] == "classifier" and set(task["classes"]) <= {"elliptical", "disc", "star", "artifact"}
    assert model.encoder.preprocessing == galzoo_fm.Encoder.from_pretrained(root / cfg["model"]["init"]).preprocessing
    assert set(result.best_metrics) == {"val_loss", "val_accuracy"}
