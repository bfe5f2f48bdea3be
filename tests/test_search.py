"""Similarity search and anomaly scores against a brute-force float64 reference."""

import numpy as np
import pytest

from galzoo_fm.explore.search import SimilarityIndex, anomaly_scores, nearest_row


def brute_force(db, queries, k, exclude=None):
    db = db / np.linalg.norm(db, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    sims = q.astype(np.float64) @ db.astype(np.float64).T
    if exclude is not None:
        sims[np.arange(len(q)), exclude] = -np.inf
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(500, 24)).astype(np.float32), rng.normal(size=(37, 24)).astype(np.float32)


@pytest.mark.parametrize("block_size", [64, 1000])
def test_search_matches_brute_force(data, block_size):
    db, queries = data
    index = SimilarityIndex(db, device="cpu", block_size=block_size)
    rows, sims = index.search(queries, k=7, query_batch=10)
    ref_rows, ref_sims = brute_force(db, queries, 7)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_allclose(sims, ref_sims, rtol=1e-5, atol=1e-6)
    assert rows.dtype == np.int64 and sims.dtype == np.float32


def test_faiss_backend_agrees(data):
    pytest.importorskip("faiss")
    db, queries = data
    rows_t, sims_t = SimilarityIndex(db, device="cpu").search(queries, k=5)
    rows_f, sims_f = SimilarityIndex(db, backend="faiss").search(queries, k=5)
    np.testing.assert_array_equal(rows_f, rows_t)
    np.testing.assert_allclose(sims_f, sims_t, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_neighbours_exclude_self_and_invalid_rows(data, backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    db = data[0].copy()
    db[3] = np.nan  # a failed object
    db[10] = db[0] * 2.0  # a scaled copy of row 0: cosine similarity 1
    ids = [f"g{i}" for i in range(len(db))]
    index = SimilarityIndex(db, ids=ids, device="cpu", backend=backend)
    rows, sims = index.neighbours_of("g0", k=20)
    assert rows[0] == 10 and sims[0] == pytest.approx(1.0, abs=1e-6)
    assert 0 not in rows and 3 not in rows
    clean = np.delete(db, 3, axis=0)
    _, ref_sims = brute_force(clean, db[:1], 21, exclude=[0])
    np.testing.assert_allclose(sims, ref_sims[0][:20], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"row 3 \(id 'g3'\) has no valid embedding"):
        index.neighbours_of("g3")


def test_anomaly_scores_find_the_planted_outlier():
    rng = np.random.default_rng(1)
    centre = rng.normal(size=16)
    cluster = centre + 0.1 * rng.normal(size=(200, 16))
    outlier = -centre + 0.1 * rng.normal(size=16)
    emb = np.vstack([cluster, outlier]).astype(np.float32)
    scores = anomaly_scores(emb, k=5, device="cpu")
    assert scores.shape == (201,) and np.argmax(scores) == 200
    # independent reference: brute force over all rows, self excluded
    _, ref_sims = brute_force(emb, emb, 5, exclude=np.arange(201))
    np.testing.assert_allclose(scores, (1 - ref_sims).mean(axis=1), rtol=1e-4, atol=1e-5)


def test_anomaly_scores_nan_for_invalid_rows():
    emb = np.random.default_rng(2).normal(size=(20, 4)).astype(np.float32)
    emb[5] = np.inf
    scores = SimilarityIndex(emb, device="cpu").anomaly_scores(k=3)
    assert np.isnan(scores[5]) and np.isfinite(np.delete(scores, 5)).all()


def test_id_lookup():
    index = SimilarityIndex(np.eye(4, dtype=np.float32) + 0.1, ids=[101, 102, 102, 104], device="cpu")
    assert index.row_of(101) == 0 and index.row_of("104") == 3 and index.row_of(np.int64(104)) == 3
    with pytest.raises(ValueError, match="id 102 appears more than once"):
        index.row_of(102)
    with pytest.raises(ValueError, match=r"id 999 is not in the embeddings \(4 rows\)"):
        index.row_of(999)
    strings = SimilarityIndex(np.eye(3, dtype=np.float32), ids=["7", "8", "9"], device="cpu")
    assert strings.row_of(8) == 1


def test_bad_input(data):
    db, queries = data
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        SimilarityIndex(db[0])
    with pytest.raises(ValueError, match="ids has 3 entries but there are 500"):
        SimilarityIndex(db, ids=[1, 2, 3])
    index = SimilarityIndex(db, device="cpu")
    with pytest.raises(ValueError, match="queries have 5 dimensions but the embeddings have 24"):
        index.search(queries[:, :5])
    with pytest.raises(ValueError, match="k must be between 1 and 500"):
        index.search(queries, k=501)
    with pytest.raises(ValueError, match="backend must be one of"):
        SimilarityIndex(db, backend="annoy")


def test_nearest_row():
    ra, dec = np.array([10.0, 10.001, 200.0]), np.array([-5.0, -5.0, 30.0])
    assert nearest_row(10.0009, -5.0, ra, dec) == 1
    assert nearest_row(200.0, 30.0003, ra, dec, max_sep_arcsec=2) == 2
    with pytest.raises(ValueError, match=r"no object within 5.0 arcsec of ra=100, dec=0; the nearest \(row "):
        nearest_row(100, 0, ra, dec)
