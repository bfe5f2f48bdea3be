"""DistributedDataParallel on the CPU: 2 gloo processes average gradients like one process on both batches."""

from __future__ import annotations

import os
import socket

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from galzoo_fm.losses import DirichletObjective
from galzoo_fm.training import Trainer, TrainSettings
from galzoo_fm.training.data import ArrayDataset

GROUPS = [(0, 2), (2, 5)]


class PlainEncoder(nn.Module):
    """No BatchNorm: each galaxy's loss depends on that galaxy only."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                 nn.Linear(16, 8))
        self.num_features = 8

    def forward(self, x):
        return self.net(x)


def _dataset():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(24, 3, 8, 8)).astype("float32")
    votes = rng.integers(0, 6, size=(24, 5)).astype("float32")
    return ArrayDataset(images, votes=votes)


def _objective():
    torch.manual_seed(0)
    return DirichletObjective(PlainEncoder(), schema=GROUPS, dropout=0.0)


def _settings():
    return TrainSettings(steps=3, batch_size=8, optimizer="sgd", lr=0.5, momentum=0.5, weight_decay=0.0,
                         log_every=1, progress=False, tensorboard=False, seed=2, channels_last=False)


def _worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    result = Trainer(_objective(), _dataset(), _settings(), out).fit()
    assert result.step == 3


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one_process_on_the_global_batch(tmp_path, monkeypatch):
    import torch.multiprocessing as mp

    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp")), nprocs=2, join=True)
    single = Trainer(_objective(), _dataset(), _settings(), tmp_path / "single").fit()
    ddp_state = load_file(tmp_path / "ddp" / "checkpoints" / "step-0000003" / "state.safetensors")
    one_state = load_file(single.checkpoint / "state.safetensors")
    weights = [k for k in one_state if k.startswith("objective.")]
    assert weights
    start = _objective().state_dict()
    moved = False
    for k in weights:
        # SGD's update is linear in the gradient: equal weights after 3 steps means DDP averaged the two
        # ranks' gradients exactly as one process computes the gradient of the concatenated batch
        torch.testing.assert_close(ddp_state[k], one_state[k], rtol=1e-4, atol=1e-5)
        moved |= not torch.equal(one_state[k], start[k[len("objective."):]])
    assert moved
    # rank 0 alone logged: one row per step
    lines = (tmp_path / "ddp" / "metrics.csv").read_text().splitlines()
    assert len(lines) == 4
    # the checkpoint holds the random state of both ranks
    assert {k.split(".")[1] for k in ddp_state if k.startswith("rng.")} == {"0", "1"}
