"""After embedding: similar galaxies, anomaly scores, and pictures of an embedding table.

* ``search`` — :class:`SimilarityIndex` (exact cosine k-NN on the GPU or CPU, FAISS
  optional) and :func:`anomaly_scores`;
* ``figures`` — an embedding table in, answers and figures out
  (:func:`read_embeddings`, :func:`find_similar`, :func:`anomaly_table`, :func:`neighbours_figure`,
  :func:`map_figure`);
* ``plots`` — the matplotlib pictures (true-colour cutouts, north up, scale bars).
"""

from __future__ import annotations

from galzoo_fm._utils.lazy import lazy_exports

# imported on first use: the search imports torch, the figures matplotlib
_WHERE = {
    "SimilarityIndex": "search",
    "anomaly_scores": "search",
    "anomaly_table": "figures",
    "find_similar": "figures",
    "galaxy_rgb": "plots",
    "map_figure": "figures",
    "neighbours_figure": "figures",
    "plot_map": "plots",
    "plot_neighbours": "plots",
    "read_embeddings": "figures",
    "store_path": "figures",
    "top_anomalies": "figures",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
