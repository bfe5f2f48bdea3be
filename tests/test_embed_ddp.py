"""Scale-out on the CPU: 2 gloo ranks (as under torchrun) produce exactly the single-process output."""

from __future__ import annotations

import os
import socket

import numpy as np
import torch
from _embed_helpers import demo_field

from galzoo_fm.embedding import run_embedding
from galzoo_fm.explore import read_embeddings


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, catalog, mosaic, out):
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                          LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    summary = run_embedding(catalog, survey="local", survey_options={"path": mosaic}, out=out, image_size=32,
                            batch_size=4, block_rows=4, workers=1)
    assert summary.world == world and summary.blocks_done > 0  # every rank did a share


def test_two_gloo_ranks_merge_to_the_single_process_output(tmp_path, monkeypatch):
    import torch.multiprocessing as mp

    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    catalog, mosaic = demo_field(tmp_path / "field", n_side=4, spacing=30)
    args = (_free_port(), str(catalog), str(mosaic))
    mp.spawn(_worker, args=(2, *args, str(tmp_path / "ddp" / "e.parquet")), nprocs=2, join=True)
    threads = torch.get_num_threads()
    try:  # the reference in this process, with the ranks' thread count
        _worker(0, 1, *args, str(tmp_path / "one" / "e.parquet"))
    finally:
        torch.set_num_threads(threads)
    ddp, one = read_embeddings(tmp_path / "ddp" / "e.parquet"), read_embeddings(tmp_path / "one" / "e.parquet")
    assert ddp["id"].tolist() == one["id"].tolist()
    assert ddp["status"].tolist() == one["status"].tolist() and ddp["reason"].tolist() == one["reason"].tolist()
    np.testing.assert_array_equal(np.asarray(ddp["embedding"]), np.asarray(one["embedding"]))
    assert sorted(p.name for p in (tmp_path / "ddp" / "e.parquet.cutouts" / "parts").iterdir()) == [
        "shard-0000-of-0002", "shard-0001-of-0002"]  # each rank fetched its own shard
