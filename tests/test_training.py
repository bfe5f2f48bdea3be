"""The training engine: every loss trains, exact resume, NaN guard, config errors, optimizers."""

from __future__ import annotations

import csv
import itertools
import json
import math
import warnings

import numpy as np
import pytest
import torch
from astropy.table import Table
from safetensors.torch import load_file

import galzoo_fm
from galzoo_fm.losses import LossOutput, Objective
from galzoo_fm.testing import TinyEncoder
from galzoo_fm.training import (
    LARS,
    NonFiniteLossError,
    Trainer,
    TrainSettings,
    WarmupCosine,
    latest_checkpoint,
    load_config,
    prepare_pretraining,
    pretrain,
)
from galzoo_fm.training.views import AugmentViews

SMALL_HEADS = {
    "byol": {"projection_hidden": 32, "prediction_hidden": 32, "projection_dim": 16},
    "hybrid": {"projection_hidden": 32, "prediction_hidden": 32, "projection_dim": 16},
    "spectral": {"projection_hidden": 32, "projection_dim": 16},
    "dirichlet": {},
    "example_vic": {},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """32 images (3, 16, 16) as .npy, and a catalogue where half the galaxies have decals_dr5 votes."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:16, :16] - 7.5
    widths = rng.uniform(1.5, 5, size=32)
    blobs = np.exp(-(xx**2 + yy**2)[None] / (2 * widths[:, None, None] ** 2))
    images = (blobs[:, None] * rng.uniform(0.5, 2, size=(32, 3, 1, 1)) + 0.05 * rng.normal(size=(32, 3, 16, 16)))
    np.save(root / "images.npy", images.astype("float32"))
    schema = galzoo_fm.get_schema("decals_dr5")
    cat = Table()
    smooth = (widths > 3).astype(int)
    cat[schema.label_cols[0]] = np.where(np.arange(32) % 2 == 0, 10 * smooth + 1, 0)
    cat[schema.label_cols[1]] = np.where(np.arange(32) % 2 == 0, 10 * (1 - smooth) + 1, 0)
    cat["other"] = np.arange(32)
    cat.write(root / "cat.ecsv")
    Table({"other": np.arange(32)}).write(root / "nolabels.ecsv")
    return root


def config(data, out, loss="byol", **train):
    return {
        "model": {"backbone": "example_smallcnn", "backbone_kwargs": {"width": 8, "depth": 2}, "seed": 1},
        "loss": {"name": loss, "options": SMALL_HEADS.get(loss, {}),
                 **({"schema": "decals_dr5"} if loss in ("dirichlet", "hybrid") else {})},
        "data": {"path": str(data / "images.npy"), "catalog": str(data / "cat.ecsv")},
        "augment": {"crop_scale": [0.8, 1.0], "noise": [0.0, 0.2]},
        "optim": {"lr": 3e-3, "weight_decay": 0.0, "warmup_steps": 1},
        "train": {"out": str(out), "batch_size": 8, "steps": 10, "checkpoint_every": 0, "seed": 3, **train},
        "logging": {"every": 1, "progress": False, "tensorboard": False},
    }


def flip_views(images, n_views, generator):
    """Deterministic views: the image and its mirror image."""
    return [images, images.flip(-1)][:n_views]


def csv_losses(out):
    with open(out / "metrics.csv", newline="") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh) if r.get("loss")]


@pytest.mark.parametrize("loss", ["dirichlet", "byol", "spectral", "hybrid", "example_vic"])
def test_every_loss_decreases_through_the_engine(data, tmp_path, loss):
    # example_vic comes from the third-party example plugin: it trains without any change to the engine
    cfg = config(data, tmp_path, loss, steps=12)
    cfg["data"]["path"] = str(data / "images.npy")
    result = pretrain(cfg, views_fn=flip_views)
    losses = csv_losses(tmp_path)
    assert len(losses) == 12 and all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses
    assert result.step == 12
    encoder = galzoo_fm.Encoder.from_pretrained(result.checkpoint / "encoder")
    assert encoder.backbone_name == "example_smallcnn"


def _final_tensors(checkpoint):
    state = load_file(checkpoint / "state.safetensors")
    state = {k: v for k, v in state.items() if not k.startswith("rng.")}
    state.update({f"encoder.{k}": v for k, v in load_file(checkpoint / "encoder" / "model.safetensors").items()})
    return state


class Crash(Exception):
    pass


def crash_at(call, views_fn):
    count = {"n": 0}

    def fn(images, n_views, generator):
        count["n"] += 1
        if count["n"] == call:
            raise Crash
        return views_fn(images, n_views, generator)

    return fn


def test_resume_is_bit_identical(data, tmp_path):
    # hybrid: EMA target, two heads, dropout (global RNG), votes, random augmentations (trainer generator)
    def run(out, views_fn, resume="auto"):
        job = prepare_pretraining(config(data, out, "hybrid", steps=7, checkpoint_every=3, resume=resume),
                                  views_fn=views_fn)
        return job.trainer().fit()

    whole = run(tmp_path / "whole", AugmentViews({"noise": [0.0, 0.3]}))
    with pytest.raises(Crash):
        run(tmp_path / "cut", crash_at(5, AugmentViews({"noise": [0.0, 0.3]})))  # dies during step 5
    assert latest_checkpoint(tmp_path / "cut" / "checkpoints").name == "step-0000003"
    resumed = run(tmp_path / "cut", AugmentViews({"noise": [0.0, 0.3]}))
    assert resumed.resumed_from.name == "step-0000003" and resumed.step == 7
    a, b = _final_tensors(whole.checkpoint), _final_tensors(resumed.checkpoint)
    assert a.keys() == b.keys() and any(k.startswith("optimizer.") for k in a)
    assert any(k.startswith("objective.target_encoder.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    meta_a = json.loads((whole.checkpoint / "state.json").read_text())
    meta_b = json.loads((resumed.checkpoint / "state.json").read_text())
    assert meta_a["objective_scalars"] == meta_b["objective_scalars"]
    assert meta_a["scheduler"] == meta_b["scheduler"]
    # the metric log reads as one run: no duplicated steps, same values
    with open(tmp_path / "cut" / "metrics.csv", newline="") as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh)]
    assert steps == list(range(1, 8))
    assert csv_losses(tmp_path / "cut") == csv_losses(tmp_path / "whole")


def test_resume_false_refuses_existing_checkpoints(data, tmp_path):
    pretrain(config(data, tmp_path, "dirichlet", steps=2), views_fn=flip_views)
    with pytest.raises(ValueError, match="already holds checkpoints"):
        pretrain(config(data, tmp_path, "dirichlet", steps=2, resume=False), views_fn=flip_views)


class NaNAfter(Objective):
    n_views = 1

    def __init__(self, encoder, bad_step):
        super().__init__(encoder)
        self.head = torch.nn.Linear(encoder.num_features, 1)
        self.calls = 0
        self.bad_step = bad_step

    def compute(self, views, votes):
        self.calls += 1
        loss = self.head(self.encoder(views[0])).square().mean()
        if self.calls >= self.bad_step:
            loss = loss * float("nan")
        return LossOutput(loss, {"loss": loss.detach()})


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    from galzoo_fm.training.data import ArrayDataset

    ds = ArrayDataset(np.random.default_rng(0).normal(size=(16, 3, 8, 8)).astype("float32"))
    settings = TrainSettings(steps=10, batch_size=4, checkpoint_every=2, log_every=3, progress=False,
                             tensorboard=False)
    trainer = Trainer(NaNAfter(TinyEncoder(), bad_step=5), ds, settings, tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"NaN or infinite at step 5.*step-0000004"):
        trainer.fit()
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step-0000004"
    state = load_file(tmp_path / "checkpoints" / "step-0000004" / "state.safetensors")
    assert all(torch.isfinite(v).all() for k, v in state.items() if k.startswith("objective."))


def test_config_errors_name_the_key(data, tmp_path):
    good = config(data, tmp_path, "byol")
    load_config(good)
    bad = config(data, tmp_path, "byol", stesp=5)
    with pytest.raises(ValueError, match=r"unknown key train\.stesp.*did you mean train\.steps"):
        load_config(bad)
    bad = config(data, tmp_path, "byol", steps="10")
    with pytest.raises(TypeError, match=r"train\.steps must be an integer, got string '10'"):
        load_config(bad)
    bad = config(data, tmp_path, "byol")
    bad["optim"]["betas"] = [0.9]
    with pytest.raises(ValueError, match=r"optim\.betas must have 2 entries"):
        load_config(bad)
    bad = config(data, tmp_path, "byol")
    bad["optimizer"] = {}
    with pytest.raises(ValueError, match=r"unknown table \[optimizer\]"):
        load_config(bad)
    with pytest.raises(ValueError, match=r"train\.num_workers must be a number or one of 'auto'; got 'many'"):
        load_config(config(data, tmp_path, "byol", num_workers="many"))
    toml = tmp_path / "cfg.toml"
    toml.write_text('[train]\nout = "x"\nsteps = 1.5\n[loss]\nname = "byol"\n[data]\npath = "y"\n')
    with pytest.raises(TypeError, match=r"train\.steps .*cfg\.toml"):
        load_config(toml)
    # checks that need the registry or the data, still before training
    bad = config(data, tmp_path, "byol")
    bad["loss"]["name"] = "byoll"
    with pytest.raises(ValueError, match=r"loss\.name.*did you mean 'byol'"):
        prepare_pretraining(bad)
    bad = config(data, tmp_path, "dirichlet")
    del bad["data"]["catalog"]
    with pytest.raises(ValueError, match=r"needs vote counts but data\.catalog is not set"):
        prepare_pretraining(bad)
    bad = config(data, tmp_path, "dirichlet")
    bad["data"]["catalog"] = str(data / "nolabels.ecsv")
    with pytest.raises(ValueError, match=r"loss\.name = 'dirichlet' needs vote counts, but data\.catalog"):
        prepare_pretraining(bad)
    bad = config(data, tmp_path, "dirichlet")
    del bad["loss"]["schema"]
    with pytest.raises(ValueError, match=r"set loss\.schema"):
        prepare_pretraining(bad)
    bad = config(data, tmp_path, "byol")
    bad["loss"]["options"] = {"projection_width": 3}
    with pytest.raises(TypeError, match=r"loss\.options"):
        prepare_pretraining(bad)
    bad = config(data, tmp_path, "byol")
    bad["augment"] = {"rotation": 400}
    with pytest.raises(ValueError, match=r"\[augment\].*rotation"):
        prepare_pretraining(bad)
    bad = config(data, tmp_path, "byol", batch_size=64)
    with pytest.raises(ValueError, match=r"train\.batch_size = 64 is larger than the 32"):
        prepare_pretraining(bad)
    assert not (tmp_path / "checkpoints").exists()


def test_hybrid_uses_unlabelled_galaxies_and_runs_without_votes(data, tmp_path):
    job = prepare_pretraining(config(data, tmp_path, "hybrid"))
    assert len(job.dataset) == 32 and job.dataset.n_labelled == 16  # unlabelled rows kept, zero votes
    cfg = config(data, tmp_path / "novotes", "hybrid", steps=2)
    del cfg["data"]["catalog"]
    result = pretrain(cfg, views_fn=flip_views)  # no catalogue: pure BYOL through the hybrid objective
    assert result.metrics["labelled_fraction"] == 0.0 and math.isfinite(result.metrics["loss"])


def test_lars_step_matches_formula():
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))
    b = torch.nn.Parameter(torch.tensor([1.0]))
    opt = LARS([{"params": [w]}, {"params": [b], "lars_adapt": False, "weight_decay": 0.0}], lr=0.1,
               weight_decay=0.5, trust_coefficient=0.01, momentum=0.9)
    w.grad = torch.tensor([[1.0, 0.0]])
    b.grad = torch.tensor([2.0])
    opt.step()
    g = torch.tensor([[1.0, 0.0]]) + 0.5 * torch.tensor([[3.0, 4.0]])
    expected = torch.tensor([[3.0, 4.0]]) - 0.1 * g * (0.01 * 5.0 / g.norm())
    torch.testing.assert_close(w.detach(), expected)
    torch.testing.assert_close(b.detach(), torch.tensor([0.8]))


def test_predictor_lr_scale_trains_the_predictor_faster_through_the_trainer(data, tmp_path):
    from galzoo_fm.training import build_optimizer

    obj = galzoo_fm.get_loss("byol", encoder=TinyEncoder(seed=0), projection_hidden=16, projection_dim=8,
                             prediction_hidden=16, predictor_lr_scale=10.0)
    opt = build_optimizer(obj.optimizer_parameters(), "adamw", lr=1e-3, lr_scales=obj.lr_scales())
    predictor = {id(p) for p in obj.predictor.parameters()}
    lrs = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert sorted({lrs[i] for i in predictor}) == pytest.approx([1e-2])
    assert sorted({v for k, v in lrs.items() if k not in predictor}) == pytest.approx([1e-3])
    assert len(lrs) == len(obj.optimizer_parameters())  # every trained parameter in exactly one group
    # the schedule scales each group's own rate: the ratio holds through warm-up
    sched = WarmupCosine(opt, total_steps=10, warmup_steps=4)
    rates = sorted(set(sched.get_last_lr()))
    assert rates[-1] / rates[0] == pytest.approx(10.0)
    cfg = config(data, tmp_path, "byol", steps=2)
    cfg["loss"]["options"] = {"predictor_lr_scale": 5.0, "tau_schedule": "constant", "tau_base": 0.9}
    result = pretrain(cfg, views_fn=flip_views)
    assert result.metrics["tau"] == pytest.approx(0.9)  # constant: no cosine rise towards 1
    with pytest.raises(ValueError, match="predictor_lr_scale must be positive"):
        galzoo_fm.get_loss("byol", encoder=TinyEncoder(), predictor_lr_scale=0.0)
    with pytest.raises(ValueError, match="tau_schedule must be one of"):
        galzoo_fm.get_loss("byol", encoder=TinyEncoder(), tau_schedule="linear")


def test_model_symmetry_is_saved_with_the_encoder_and_kept_through_init(data, tmp_path):
    cfg = config(data, tmp_path / "a", "dirichlet", steps=2)
    cfg["model"]["symmetry"] = "d4"
    first = galzoo_fm.Encoder.from_pretrained(pretrain(cfg, views_fn=flip_views).checkpoint / "encoder")
    assert first.symmetry == "d4"
    cfg = config(data, tmp_path / "b", "dirichlet", steps=2)
    cfg["model"] = {"init": str(tmp_path / "a" / "checkpoints" / "step-0000002" / "encoder")}
    second = galzoo_fm.Encoder.from_pretrained(pretrain(cfg, views_fn=flip_views).checkpoint / "encoder")
    assert second.symmetry == "d4"  # the init's own when [model] does not say
    with pytest.raises(ValueError, match="symmetry"):
        load_config({**config(data, tmp_path / "c"), "model": {"symmetry": "c4"}})


def test_warmup_cosine_schedule():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = WarmupCosine(opt, total_steps=10, warmup_steps=2, min_lr_ratio=0.1)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(10):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs[:3] == [0.5, 1.0, 1.0]
    assert lrs[-1] == pytest.approx(0.1) and all(a >= b for a, b in itertools.pairwise(lrs[1:]))
    again = WarmupCosine(opt, total_steps=10, warmup_steps=2, min_lr_ratio=0.1)
    again.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    assert again.get_last_lr() == sched.get_last_lr()


def test_tensorboard_true_without_package_is_a_clear_error(data, tmp_path, monkeypatch):
    import galzoo_fm.training.metrics as metrics

    monkeypatch.setattr(metrics, "tensorboard_available", lambda: False)
    cfg = config(data, tmp_path, "dirichlet", steps=1)
    cfg["logging"]["tensorboard"] = True
    with pytest.raises(ValueError, match=r"logging\.tensorboard = true needs the tensorboard package"):
        pretrain(cfg, views_fn=flip_views)


def test_tensorboard_events_when_installed(data, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = config(data, tmp_path, "dirichlet", steps=3)
    cfg["logging"]["tensorboard"] = True
    pretrain(cfg, views_fn=flip_views)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("loss")] == [1, 2, 3]


def test_preprocess_runs_the_pipeline_before_and_the_stretch_after_augmenting_and_is_saved(data, tmp_path):
    cfg = config(data, tmp_path, "byol", steps=2)
    cfg["preprocess"] = {"stretch": "asinh", "softening": [0.1, 0.1, 0.1], "image_size": 16}
    job = prepare_pretraining(cfg)
    raw = torch.full((2, 3, 16, 16), 100.0)
    raw[:, :, 6:10, 6:10] += 50.0  # a galaxy on a sky level of 100
    views = job.views_fn(raw, 2, torch.Generator().manual_seed(0))
    assert len(views) == 2 and float(views[0].abs().max()) < 2  # sky-subtracted and stretched
    assert float(views[0].median()) == pytest.approx(0.0, abs=0.05)
    result = job.trainer().fit()
    encoder = galzoo_fm.Encoder.from_pretrained(result.checkpoint / "encoder")
    assert encoder.preprocessing == job.views_fn.pre.to_dict()  # what the views ran
    assert encoder.preprocessing["stretch"] == "asinh"
    assert encoder.preprocessing["input_bands"] == ["band0", "band1", "band2"]  # a .npy file: the model bands
    bad = config(data, tmp_path, "byol")
    bad["preprocess"] = {"strech": "asinh"}
    with pytest.raises(TypeError, match=r"\[preprocess\].*strech"):
        prepare_pretraining(bad)


def test_gradient_clipping_bounds_the_update(tmp_path):
    from galzoo_fm.training.data import ArrayDataset

    ds = ArrayDataset(np.random.default_rng(0).normal(size=(8, 3, 8, 8)).astype("float32"))
    obj = NaNAfter(TinyEncoder(), bad_step=10**9)
    before = [p.detach().clone() for p in obj.optimizer_parameters()]
    settings = TrainSettings(steps=1, batch_size=4, optimizer="sgd", lr=1.0, momentum=0.0, weight_decay=0.0,
                             grad_clip=1e-3, progress=False, tensorboard=False, channels_last=False)
    Trainer(obj, ds, settings, tmp_path).fit()
    moved = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(obj.optimizer_parameters(), before,
                                                                           strict=True)))
    assert 0 < float(moved) <= 1e-3 * (1 + 1e-5)


def test_progress_bar_reads_the_loss_without_a_requires_grad_warning(data, tmp_path):
    """The bar's loss is read from the detached metrics at log steps: no 'Converting a tensor with
    requires_grad=True to a scalar' UserWarning (once per logged step before)."""
    cfg = config(data, tmp_path, "byol", steps=3)
    cfg["logging"]["progress"] = True  # the warning came from the bar's postfix
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pretrain(cfg, views_fn=flip_views)
    ours = [str(w.message) for w in caught if "requires_grad" in str(w.message) or "galzoo_fm" in w.filename]
    assert ours == []


class NoLossMetric(NaNAfter):
    """An objective whose metrics do not include ``loss``: the trainer reads the loss tensor itself."""

    def compute(self, views, votes):
        loss = self.head(self.encoder(views[0])).square().mean()
        return LossOutput(loss, {"scale": loss.detach() * 2})


def test_loss_is_logged_when_the_objective_reports_no_loss_metric(tmp_path):
    from galzoo_fm.training.data import ArrayDataset

    ds = ArrayDataset(np.random.default_rng(0).normal(size=(8, 3, 8, 8)).astype("float32"))
    settings = TrainSettings(steps=2, batch_size=4, log_every=1, progress=True, tensorboard=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = Trainer(NoLossMetric(TinyEncoder(), bad_step=10**9), ds, settings, tmp_path).fit()
    assert not [w for w in caught if "requires_grad" in str(w.message)]
    assert result.metrics["loss"] == pytest.approx(result.metrics["scale"] / 2, rel=1e-6)
    rows = _csv_rows(tmp_path / "metrics.csv")
    assert [r["step"] for r in rows] == ["1", "2"] and all(r["loss"] not in ("", "nan") for r in rows)


def _csv_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_rerunning_a_finished_pretrain_says_it_is_complete_and_trains_nothing(data, tmp_path):
    first = pretrain(config(data, tmp_path, "dirichlet", steps=3), views_fn=flip_views)
    assert not first.already_complete
    csv_before = (tmp_path / "metrics.csv").read_text()
    state = (first.checkpoint / "state.safetensors").read_bytes()
    calls = {"n": 0}

    def counting(images, n_views, generator):
        calls["n"] += 1
        return flip_views(images, n_views, generator)

    again = pretrain(config(data, tmp_path, "dirichlet", steps=3), views_fn=counting)
    assert again.already_complete and again.step == 3 and calls["n"] == 0
    assert again.checkpoint == first.checkpoint and again.resumed_from == first.checkpoint
    assert again.metrics == pytest.approx(first.metrics)  # the finished run's last metrics, from its checkpoint
    assert (tmp_path / "metrics.csv").read_text() == csv_before
    assert (first.checkpoint / "state.safetensors").read_bytes() == state
    longer = pretrain(config(data, tmp_path, "dirichlet", steps=4), views_fn=counting)  # raised steps: trains on
    assert not longer.already_complete and longer.step == 4 and calls["n"] == 1


def test_metrics_csv_has_no_empty_cells_and_validation_has_its_own_file(tmp_path):
    """Training rows (every ``log_every`` steps) and validation rows (every ``eval_every`` steps) are two
    tables with fixed columns: ``metrics.csv`` and ``validation.csv``; a value that was not measured is
    ``nan``, never an empty cell."""
    from galzoo_fm.training.data import ArrayDataset

    class Sometimes(NaNAfter):  # reports "extra" only from its third call on: the header widens
        def compute(self, views, votes):
            self.calls += 1
            loss = self.head(self.encoder(views[0])).square().mean()
            extra = {"extra": loss.detach()} if self.calls >= 3 else {}
            return LossOutput(loss, {"loss": loss.detach(), **extra})

    ds = ArrayDataset(np.random.default_rng(0).normal(size=(8, 3, 8, 8)).astype("float32"))
    settings = TrainSettings(steps=6, batch_size=4, log_every=1, eval_every=2, checkpoint_every=3, progress=False,
                             tensorboard=False)
    validate = lambda model: {"val_loss": 1.0, "val_accuracy": 0.5}  # noqa: E731
    Trainer(Sometimes(TinyEncoder(), bad_step=10**9), ds, settings, tmp_path, validate_fn=validate).fit()
    train = _csv_rows(tmp_path / "metrics.csv")
    val = _csv_rows(tmp_path / "validation.csv")
    assert [r["step"] for r in train] == [str(i) for i in range(1, 7)]
    assert [r["step"] for r in val] == ["2", "4", "6"]
    assert set(val[0]) == {"step", "val_loss", "val_accuracy"}
    assert not any("val_loss" in r for r in train)
    for row in train + val:
        assert all(v != "" and v is not None for v in row.values()), row
    assert [r["extra"] for r in train[:2]] == ["nan", "nan"] and train[2]["extra"] != "nan"
    # a resume from step 3 drops the later rows of both tables, then writes them again
    (tmp_path / "checkpoints" / "latest.json").write_text('{"step": 3, "path": "step-0000003"}\n')
    import shutil

    shutil.rmtree(tmp_path / "checkpoints" / "step-0000006")
    Trainer(Sometimes(TinyEncoder(), bad_step=10**9), ds, settings, tmp_path, validate_fn=validate).fit()
    assert [r["step"] for r in _csv_rows(tmp_path / "metrics.csv")] == [str(i) for i in range(1, 7)]
    assert [r["step"] for r in _csv_rows(tmp_path / "validation.csv")] == ["2", "4", "6"]


def test_train_settings_and_config_tables_come_from_one_declaration():
    from galzoo_fm.training import FINETUNE_SPEC, PRETRAIN_SPEC
    from galzoo_fm.training.pretrain import settings_from_config

    minimal = {"loss": {"name": "byol"}, "data": {"path": "s"}, "train": {"out": "r"}}
    assert settings_from_config(load_config(minimal)) == TrainSettings()  # the defaults are the same declaration
    assert list(PRETRAIN_SPEC["optim"]) == ["name", "lr", "weight_decay", "betas", "momentum", "trust_coefficient",
                                            "warmup_steps", "min_lr_ratio", "grad_clip"]
    assert "eval_every" not in PRETRAIN_SPEC["train"] and {"out", "resume"} <= set(PRETRAIN_SPEC["train"])
    fine = {"model": {"init": "enc"}, "task": {"kind": "classifier"}, "data": {"path": "s", "catalog": "c"},
            "train": {"out": "r", "num_workers": 2}, "optim": {"betas": [0.8, 0.9]}, "logging": {"progress": True}}
    s = settings_from_config(load_config(fine, FINETUNE_SPEC))
    assert (s.steps, s.batch_size, s.lr, s.eval_every, s.patience) == (500, 64, 1e-4, 50, 5)
    assert (s.num_workers, s.betas, s.progress) == (2, (0.8, 0.9), True)
    with pytest.raises(ValueError, match=r"train\.eval_every must be >= 1, got 0 \(<dict>\)"):
        load_config({**fine, "train": {"out": "r", "eval_every": 0}}, FINETUNE_SPEC)
    with pytest.raises(ValueError, match=r"unknown key logging\.evry \(<dict>\); did you mean logging\.every\?"):
        load_config({**minimal, "logging": {"evry": 3}})
    assert "steps : int, default 1000\n        ``train.steps``: Optimizer steps in total." in TrainSettings.__doc__
