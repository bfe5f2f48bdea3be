"""The simulated Galaxy Zoo as a training dataset: :func:`synthetic_dataset`.

It lives with the training datasets, not with the simulation (:mod:`galzoo_fm.datasets.sim`), so that the
simulation does not import the training code; ``galzoo_fm.datasets.synthetic_dataset`` hands it on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from astropy.table import Table

from galzoo_fm.datasets.sim.catalogue import SimulationConfig, simulate_catalog, simulate_images
from galzoo_fm.plugins import get_registry
from galzoo_fm.training.data.arrays import ArrayDataset

__all__ = ["synthetic_dataset"]


def synthetic_dataset(n: int, seed: int | None = None, *, schema: Any = "gz_evo", label: str | None = None,
                      config: SimulationConfig | None = None, workers: int = 1) -> tuple[ArrayDataset, Table]:
    """A training dataset of simulated galaxies with their votes (and optionally a label column).

    Parameters
    ----------
    n, seed, config, workers
        As in :func:`~galzoo_fm.datasets.sim.simulate_catalog` and
        :func:`~galzoo_fm.datasets.sim.simulate_images`.
    schema : Schema or str or None
        Vote counts ``(N, A)`` are read through this schema (``gz_evo`` holds both default campaigns);
        ``None`` for no votes.
    label : str, optional
        A catalogue column used as the dataset's labels, e.g. ``"ring"``.

    Returns
    -------
    (ArrayDataset, astropy.table.Table)
        The dataset (images ``(N, 3, size, size)``) and the catalogue.

    Raises
    ------
    TypeError
        If ``config`` is not a :class:`~galzoo_fm.datasets.sim.catalogue.SimulationConfig` or ``schema`` is
        neither a schema nor a registered schema name.
    """
    cfg = config or SimulationConfig()
    if not isinstance(cfg, SimulationConfig):
        raise TypeError(f"config must be a SimulationConfig, got {type(cfg).__name__}")
    cfg = cfg if seed is None else replace(cfg, seed=seed)
    cat = simulate_catalog(n, config=cfg)
    images = simulate_images(cat, cfg, workers=workers)
    votes = None
    if schema is not None:
        if isinstance(schema, str):
            schema = get_registry("schemas").create(schema)
        if not hasattr(schema, "votes_from_table"):
            raise TypeError(f"schema must be a Schema or a registered schema name, got {type(schema).__name__}")
        votes = schema.votes_from_table(cat, on_missing="ignore")
    labels = None if label is None else np.asarray(cat[label])
    return ArrayDataset(images, votes=votes, labels=labels), cat
