"""Embedding whole catalogues: ``galzoo-fm embed`` (what comes after it lives in :mod:`galzoo_fm.explore`).

Modules, one job each: ``plan`` (validation before any download),
``runner`` (store → preprocessing → model), ``partial``
(resumable block commits), ``assemble``
(the output table in constant memory), ``ranks`` (``torchrun`` scale-out),
:mod:`~galzoo_fm.embedding.images` (images you already hold: ``embed-images``).
"""

from galzoo_fm.embedding.pipeline import EmbedSummary, embed_catalog, run_embedding
from galzoo_fm.embedding.plan import EmbedPlan, default_preprocessor, make_plan, output_path

__all__ = [
    "EmbedPlan",
    "EmbedSummary",
    "default_preprocessor",
    "embed_catalog",
    "make_plan",
    "output_path",
    "run_embedding",
]
