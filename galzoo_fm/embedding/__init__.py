"""Embedding whole catalogues: ``galzoo-fm embed`` and what comes after it (similar galaxies, anomalies, maps).

Modules, one job each: :mod:`~galzoo_fm.embedding.plan` (validation before any download),
:mod:`~galzoo_fm.embedding.runner` (store → preprocessing → model), :mod:`~galzoo_fm.embedding.partial`
(resumable block commits), :mod:`~galzoo_fm.embedding.assemble` and :mod:`~galzoo_fm.embedding.writers`
(the output table in constant memory), :mod:`~galzoo_fm.embedding.ranks` (``torchrun`` scale-out),
:mod:`~galzoo_fm.embedding.explore` (similarity search, anomaly scores, pictures).
"""

from .explore import anomaly_table, find_similar, map_figure, neighbours_figure, read_embeddings, store_path
from .pipeline import EmbedSummary, embed_catalog, run_embedding
from .plan import EmbedPlan, default_preprocessor, make_plan

__all__ = [
    "EmbedPlan",
    "EmbedSummary",
    "anomaly_table",
    "default_preprocessor",
    "embed_catalog",
    "find_similar",
    "make_plan",
    "map_figure",
    "neighbours_figure",
    "read_embeddings",
    "run_embedding",
    "store_path",
]
