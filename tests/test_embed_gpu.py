"""The CUDA data path of the embedding runner (pinned reads, preprocessing on the GPU) against the CPU path.

Marked ``gpu``: skipped without CUDA (``benchmarks/gpu_checks.sh`` runs them on a lent device).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from _embed_helpers import bad_input_store, embed_store, tiny_encoder

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return bad_input_store(tmp_path_factory.mktemp("bad") / "store")


@pytest.fixture
def exact_cuda():
    """float32 convolutions and matrix products on CUDA (no TF32), for a tight comparison with the CPU."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("placement", ["device", "threads"])
def test_cuda_path_gives_the_cpu_vectors_and_flags(store, tmp_path, exact_cuda, placement):
    encoder = tiny_encoder(image_size=32, pixel_scale=0.262 * 1.25)
    cpu = embed_store(store, encoder, tmp_path / "cpu", device="cpu")
    gpu = embed_store(store, encoder, tmp_path / "gpu", device="cuda", preprocess_on=placement, precision="fp32")
    for key in ("status", "reason", "flags"):
        np.testing.assert_array_equal(gpu[key], cpu[key])  # NONFINITE, EMPTY, CONSTANT, ... exactly
    assert (np.isnan(gpu["vectors"]) == np.isnan(cpu["vectors"])).all()
    have = np.isfinite(cpu["vectors"]).all(1)
    assert have.sum() == 16
    np.testing.assert_allclose(gpu["vectors"][have], cpu["vectors"][have], rtol=2e-3, atol=2e-4)


def test_cuda_bf16_vectors_point_the_cpu_way(store, tmp_path):
    encoder = tiny_encoder(image_size=32, pixel_scale=0.262 * 1.25)
    cpu = embed_store(store, encoder, tmp_path / "cpu", device="cpu")
    gpu = embed_store(store, encoder, tmp_path / "gpu", device="cuda")  # auto: bf16 autocast
    np.testing.assert_array_equal(gpu["flags"], cpu["flags"])
    have = np.isfinite(cpu["vectors"]).all(1)
    a, b = gpu["vectors"][have], cpu["vectors"][have]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.99, cosine


def test_cuda_path_does_not_wait_for_the_device_per_batch(tmp_path):
    """48 batches in 2 blocks: the main thread may synchronise with the device a few times per block (none is
    planned: results come back by non-blocking copies), never once per batch."""
    from galzoo_fm.store.index import StoreIndex

    store = bad_input_store(tmp_path / "big", n_good=180)
    n = StoreIndex(store, 10**6).recorded().sum()
    encoder = tiny_encoder(image_size=32, pixel_scale=0.262 * 1.25)
    embed_store(store, encoder, tmp_path / "warm", device="cuda", block_rows=n)  # warm up kernels, cuDNN
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = embed_store(store, encoder, tmp_path / "run", device="cuda", batch_size=4, block_rows=(n + 1) // 2)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message).lower()]
    assert got["stats"]["embedded"] == n - 2
    assert len(syncs) <= 4, f"{len(syncs)} synchronisations for {(n - 2) // 4} batches: {syncs[:3]}"
