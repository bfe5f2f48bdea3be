"""`galzoo-fm similar`, `anomaly` and `plot neighbours|map` on the output of `galzoo-fm embed`."""

from __future__ import annotations

import numpy as np
import pytest
from _embed_helpers import demo_field
from astropy.table import Table
from click.testing import CliRunner

from galzoo_fm.cli import cli
from galzoo_fm.embedding import embed_catalog
from galzoo_fm.explore import find_similar, read_embeddings
from galzoo_fm.explore.figures import top_anomalies
from galzoo_fm.explore.search import SimilarityIndex


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("similar")
    catalog, mosaic = demo_field(folder / "field")
    out = folder / "emb.parquet"
    embed_catalog(catalog, survey="local", survey_options={"path": str(mosaic)}, out=out, image_size=32,
                  anomaly_k=4)
    return out


def test_similar_by_id_and_by_position(embedded, tmp_path):
    table = read_embeddings(embedded)
    res = run("similar", embedded, "--id", "demo-005", "-k", 3, "--out", tmp_path / "near.ecsv")
    assert res.exit_code == 0, res.output
    assert res.output.startswith("query: row 5, id demo-005")
    near = Table.read(tmp_path / "near.ecsv")
    expected_rows, expected_sims = SimilarityIndex(np.asarray(table["embedding"])).neighbours_of_row(5, 3)
    assert near["row"].tolist() == expected_rows.tolist()
    np.testing.assert_allclose(near["similarity"], expected_sims, rtol=1e-6)
    assert near["id"].tolist() == [f"demo-{r:03d}" for r in expected_rows] and near["id"][0] in res.output
    res = run("similar", embedded, "--ra", table["ra"][5] + 1e-4, "--dec", table["dec"][5], "-k", 3,
              "--backend", "faiss")
    assert res.exit_code == 0 and "query: row 5, id demo-005" in res.output
    assert all(str(i) in res.output for i in near["id"])
    row, _ = find_similar(table, id="demo-005", k=2)
    assert row == 5


@pytest.mark.parametrize(("args", "message"), [
    (["--id", "nope"], "id 'nope' is not in the embeddings"),
    (["--id", "demo-off"], "has no valid embedding"),
    (["--ra", "200", "--dec", "0"], "no object within 5.0 arcsec of ra=200.0"),
    ([], "give either an id or both ra and dec"),
])
def test_similar_reports_bad_queries(embedded, args, message):
    res = run("similar", embedded, *args)
    assert res.exit_code == 1 and message in res.output


def test_anomaly_command_matches_embed_anomaly(embedded, tmp_path):
    res = run("anomaly", embedded, "-k", 4, "--top", 2, "--out", tmp_path / "a.fits")
    assert res.exit_code == 0, res.output
    scored = read_embeddings(tmp_path / "a.fits")
    np.testing.assert_allclose(scored["anomaly_score"], read_embeddings(embedded)["anomaly_score"], rtol=1e-5,
                               equal_nan=True)
    top = scored["id"][np.nanargmax(scored["anomaly_score"])]
    assert res.output.splitlines()[0].split()[:2] == ["1", top]
    assert np.isnan(scored["anomaly_score"][-2:]).all()  # no vector, no score


def test_top_anomalies_sorts_the_scores_largest_first_nan_last():
    """The rule behind ``anomaly --top N``."""
    t = Table({"id": ["a", "b", "c", "d", "e"], "anomaly_score": np.array([0.2, np.nan, 0.5, 0.2, 0.1], np.float32)})
    top = top_anomalies(t, 3)
    assert top.colnames == ["rank", "row", "id", "anomaly_score"]
    assert top["rank"].tolist() == [1, 2, 3] and top["row"].tolist() == [2, 0, 3]  # ties keep the table's order
    assert top["id"].tolist() == ["c", "a", "d"]
    np.testing.assert_allclose(top["anomaly_score"], [0.5, 0.2, 0.2])
    assert top_anomalies(t, 10)["id"].tolist() == ["c", "a", "d", "e", "b"] and len(top_anomalies(t, 0)) == 0
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        top_anomalies(t, -1)
    with pytest.raises(ValueError, match="no anomaly_score column"):
        top_anomalies(Table({"id": [1]}), 1)


@pytest.mark.parametrize("ext", [".png", ".pdf"])
def test_plot_neighbours_and_map(embedded, tmp_path, ext):
    res = run("plot", "neighbours", embedded, "--id", "demo-003", "-k", 4, "-o", tmp_path / f"n{ext}")
    assert res.exit_code == 0, res.output
    res = run("plot", "map", embedded, "-o", tmp_path / f"m{ext}", "--thumbnails", 5, "--colour", "anomaly_score")
    assert res.exit_code == 0, res.output
    for name in ("n", "m"):
        data = (tmp_path / f"{name}{ext}").read_bytes()
        assert data.startswith(b"\x89PNG" if ext == ".png" else b"%PDF") and len(data) > 2000


def test_plot_needs_the_store(embedded, tmp_path):
    res = run("plot", "map", embedded, "-o", tmp_path / "m.png", "--store", tmp_path / "nowhere")
    assert res.exit_code == 1 and "is not a cutout store" in res.output
    res = run("plot", "map", embedded, "-o", tmp_path / "m.png", "--colour", "nope")
    assert res.exit_code == 1 and "colour column 'nope' not in" in res.output
