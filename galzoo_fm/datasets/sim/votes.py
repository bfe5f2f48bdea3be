"""Simulated Galaxy Zoo volunteers: vote counts on any decision tree from a galaxy's true morphology.

The model, per galaxy and per campaign (one :class:`~galzoo_fm.schemas.Schema`):

1. The truth (:func:`~galzoo_fm.datasets.sim.draw_truth`) gives every question an *answer
   probability* vector ``p_q`` (:func:`answer_probabilities`): e.g. the probability of "bar: strong" grows
   with the bar's strength and the galaxy's *visibility* (bright, large galaxies show their features;
   faint, small ones look smooth), "how rounded" follows the axis ratio, "spiral winding" the pitch angle.
   The probabilities are those of one volunteer answering that question once asked.
2. ``N`` volunteers see the galaxy (``N`` uniform in the campaign's range, e.g. 5–40). The first question
   is asked of all of them: counts ``~ Multinomial(N, p_root)``.
3. A question that depends on answer ``a`` is asked only of the volunteers who gave ``a``:
   counts ``~ Multinomial(k_a, p_q)``. Questions that no volunteer reached get 0 votes — exactly what
   the Dirichlet-multinomial loss ignores (Walmsley et al. 2022, arXiv:2206.11927).

Volunteers answer independently given the galaxy, so the expected fraction of a question's votes for
answer ``j`` is ``p_q[j]`` (this is tested). Each campaign labels an independent random fraction of the
galaxies; columns of every other campaign are 0, so with two campaigns of different trees most answers
are unknown for any galaxy — the GZ-Evo setting — and galaxies in no campaign are unlabelled.

Questions are recognised by their name without the campaign suffix (``bar-dr5`` → ``bar``); the trees of
GZ DECaLS, GZ2, Hubble, CANDELS and Cosmic Dawn are covered. Answers of an unknown question get equal
probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from galzoo_fm.datasets.sim.truth import BLOCK
from galzoo_fm.plugins import get_registry

__all__ = ["DEFAULT_CAMPAIGNS", "Campaign", "answer_probabilities", "simulate_votes", "visibility"]


@dataclass(frozen=True)
class Campaign:
    """One Galaxy Zoo campaign: a schema, the fraction of galaxies it labels, volunteers per galaxy.

    Parameters
    ----------
    schema : str
        A registered schema name (``galzoo-fm schemas``), e.g. ``"decals_dr5"`` or ``"gz2"``.
    fraction : float
        Probability that a galaxy is shown in this campaign, in ``[0, 1]``.
    volunteers : (int, int)
        Inclusive range of the number of volunteers per galaxy, drawn uniformly.
    """

    schema: str
    fraction: float
    volunteers: tuple[int, int] = (5, 40)

    def __post_init__(self):
        if not isinstance(self.schema, str):
            raise TypeError(f"Campaign.schema must be a schema name, got {self.schema!r}")
        if not 0.0 <= float(self.fraction) <= 1.0:
            raise ValueError(f"Campaign.fraction must be in [0, 1], got {self.fraction!r} ({self.schema})")
        lo, hi = self.volunteers
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
            raise ValueError(f"Campaign.volunteers must be (lo, hi) integers with 1 <= lo <= hi, got "
                             f"{self.volunteers!r} ({self.schema})")


#: GZ DECaLS-like GZD-5 votes for 45 % of the galaxies, GZ2-like votes for 30 % (independently).
DEFAULT_CAMPAIGNS = (Campaign("decals_dr5", 0.45, (5, 40)), Campaign("gz2", 0.3, (10, 45)))


def _col(truth: Any, name: str) -> np.ndarray:
    return np.asarray(truth[name])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def visibility(truth: Any) -> np.ndarray:
    """How clearly volunteers see a galaxy's features, ``(N,)`` in ``[0.15, 1]``: brighter and larger is clearer."""
    mag, r_e = _col(truth, "mag_r"), _col(truth, "r_e")
    return np.clip((18.9 - mag) / 2.5, 0.25, 1.0) * np.clip(r_e / 2.0, 0.6, 1.0)


def _ordinal(value: np.ndarray, centres: Sequence[float], width: float, floor: float = 0.03) -> np.ndarray:
    """``(N, k)`` probabilities peaking at the centre nearest ``value``, with a floor for every answer."""
    d = (value[:, None] - np.asarray(centres, float)[None]) / width
    w = np.exp(-0.5 * d**2) + floor
    return w / w.sum(1, keepdims=True)


def _binary(p_yes: np.ndarray, answers: Sequence[str]) -> np.ndarray:
    p = np.clip(p_yes, 0.02, 0.98)
    out = np.zeros((len(p), len(answers)))
    for j, a in enumerate(answers):
        out[:, j] = p if a == "yes" else 1 - p if a in ("no",) else 0.0
    return out


def _kinds(t: Any) -> tuple[np.ndarray, ...]:
    kind = _col(t, "kind")
    return kind == "elliptical", kind == "disc", np.isin(kind, ("star", "artifact"))


def _smooth_or_featured(t: Any, answers: Sequence[str]) -> np.ndarray:
    ell, disc, problem = _kinds(t)
    vis = visibility(t)
    disc_frac = 1 - _col(t, "bulge_frac")
    f = (-2.2 + disc * (2.2 * disc_frac * vis + 2.5 * _col(t, "arm_frac") * vis + 1.2 * (_col(t, "bar") > 0) * vis
                        + 1.0 * _col(t, "ring") * vis + 0.8 * (_col(t, "n_clumps") > 0) + 2.5 * _col(t, "edge_on"))
         + 0.6 * _col(t, "merger") - 0.5 * ell)
    p_art = np.where(problem, 0.88, 0.01 + 0.1 * (_col(t, "artifact") > 0))
    p_feat = _sigmoid(f) * (1 - p_art)
    return np.stack([p_feat if a in ("featured-or-disk", "features") else p_art
                     if a in ("artifact", "problem") else 1 - p_feat - p_art for a in answers], 1)


def _edge_on(t: Any, answers: Sequence[str]) -> np.ndarray:
    _, disc, _ = _kinds(t)
    p = np.where(disc, _sigmoid((_col(t, "inclination") - 73.0) / 3.5), _sigmoid((0.35 - _col(t, "q")) / 0.05) * 0.5)
    return _binary(p, answers)


def _arms(t: Any, answers: Sequence[str]) -> np.ndarray:
    vis = visibility(t)
    p = np.where(_col(t, "n_arms") > 0, _sigmoid(-0.5 + 9 * _col(t, "arm_frac") * vis), 0.08 + 0.12 * _col(t, "ring"))
    return _binary(p, answers)


def _bar(t: Any, answers: Sequence[str]) -> np.ndarray:
    score = _col(t, "bar") * np.clip(visibility(t) * 1.2, 0, 1)
    p3 = _ordinal(score, [2.0, 1.0, 0.0], 0.45)  # strong, weak, no
    if tuple(answers) == ("yes", "no"):
        return np.stack([1 - p3[:, 2], p3[:, 2]], 1)
    idx = {"strong": 0, "weak": 1, "no": 2}
    return np.stack([p3[:, idx.get(a, 2)] for a in answers], 1)


_BULGE = {"dominant": 0.6, "large": 0.42, "obvious": 0.32, "moderate": 0.24, "small": 0.11,
          "just-noticeable": 0.09, "none": 0.0, "no": 0.0}


def _bulge_size(t: Any, answers: Sequence[str]) -> np.ndarray:
    return _ordinal(_col(t, "bulge_frac"), [_BULGE.get(a, 0.3) for a in answers], 0.08)


def _rounded(t: Any, answers: Sequence[str]) -> np.ndarray:
    centres = {"round": 0.9, "completely": 0.9, "in-between": 0.62, "cigar-shaped": 0.32, "cigar": 0.32}
    return _ordinal(_col(t, "q"), [centres.get(a, 0.6) for a in answers], 0.1)


def _edge_bulge(t: Any, answers: Sequence[str]) -> np.ndarray:
    bt, bar = _col(t, "bulge_frac"), _col(t, "bar") > 0
    score = {"rounded": 8 * bt, "round": 8 * bt, "yes": 8 * bt, "boxy": 0.6 + 1.5 * bar,
             "none": 1.8 - 8 * bt, "no-bulge": 1.8 - 8 * bt, "no": 1.8 - 8 * bt}
    w = np.exp(np.stack([score.get(a, np.zeros_like(bt)) * np.ones_like(bt) for a in answers], 1))
    return w / w.sum(1, keepdims=True)


def _winding(t: Any, answers: Sequence[str]) -> np.ndarray:
    centres = {"tight": 10.0, "medium": 20.0, "loose": 32.0}
    return _ordinal(_col(t, "pitch"), [centres.get(a, 20.0) for a in answers], 5.5)


def _arm_count(t: Any, answers: Sequence[str]) -> np.ndarray:
    n = _col(t, "n_arms").astype(float)
    vis = visibility(t)
    out = np.zeros((len(n), len(answers)))
    for j, a in enumerate(answers):
        if a in ("cant-tell",):
            out[:, j] = 0.05 + 0.5 * (1 - vis)
        elif a in ("more-than-4", "5-plus"):
            out[:, j] = np.exp(-0.5 * (np.maximum(5.0 - n, 0) / 0.6) ** 2)
        else:
            out[:, j] = np.exp(-0.5 * ((n - float(a)) / 0.6) ** 2)
    out += 0.01
    return out / out.sum(1, keepdims=True)


# P(answer | merger state none, minor, major, merger) for the two sets of merging answers
_MERGING = {
    "none": (0.9, 0.35, 0.1, 0.04), "minor-disturbance": (0.07, 0.5, 0.25, 0.08),
    "major-disturbance": (0.02, 0.12, 0.5, 0.2), "merger": (0.01, 0.03, 0.15, 0.68),
    "neither": (0.9, 0.3, 0.1, 0.05), "tidal-debris": (0.07, 0.6, 0.55, 0.12),
    "both": (0.01, 0.05, 0.2, 0.3), "merger-candels": (0.02, 0.05, 0.15, 0.53),
}


def _merging(t: Any, answers: Sequence[str]) -> np.ndarray:
    state = _col(t, "merger").astype(int)
    out = np.stack([np.asarray(_MERGING.get(a, (0.25,) * 4))[state] for a in answers], 1)
    return out / out.sum(1, keepdims=True)


def _odd(t: Any, answers: Sequence[str]) -> np.ndarray:
    x = (-2.5 + 3.0 * _col(t, "ring") * visibility(t) + 2.0 * (_col(t, "merger") >= 2)
         + 1.5 * (_col(t, "n_clumps") > 0) + 1.5 * (_col(t, "artifact") > 0))
    return _binary(_sigmoid(x), answers)


def _clumpy(t: Any, answers: Sequence[str]) -> np.ndarray:
    return _binary(np.where(_col(t, "n_clumps") > 0, 0.8, 0.08), answers)


def _clump_count(t: Any, answers: Sequence[str]) -> np.ndarray:
    n = _col(t, "n_clumps").astype(float)
    out = np.stack([np.full(len(n), 0.2) if a == "cant-tell" else
                    np.exp(-0.5 * (np.maximum(5.0 - n, 0) / 1.0) ** 2) if a == "5-plus" else
                    np.exp(-0.5 * ((n - float(a)) / 1.0) ** 2) for a in answers], 1) + 0.01
    return out / out.sum(1, keepdims=True)


def _problem(t: Any, answers: Sequence[str]) -> np.ndarray:
    star = _col(t, "kind") == "star"
    p = {"star": np.where(star, 0.9, 0.1), "artifact": np.where(star, 0.08, 0.85), "zoom": np.full(len(star), 0.03)}
    out = np.stack([p.get(a, np.full(len(star), 0.1)) for a in answers], 1)
    return out / out.sum(1, keepdims=True)


def _artifact_kind(t: Any, answers: Sequence[str]) -> np.ndarray:
    art = _col(t, "artifact").astype(int)  # none, satellite-trail, bleed-trail, ghost
    table = {"satellite": (0.1, 0.8, 0.05, 0.05), "scattered": (0.1, 0.05, 0.05, 0.7),
             "saturation": (0.1, 0.05, 0.7, 0.1),
             "diffraction": (0.2, 0.03, 0.1, 0.05), "ray": (0.1, 0.05, 0.05, 0.05), "other": (0.4, 0.05, 0.05, 0.05)}
    out = np.stack([np.asarray(table.get(a, (0.1,) * 4))[art] for a in answers], 1)
    return out / out.sum(1, keepdims=True)


#: Answer-probability function of each question (without campaign suffix).
QUESTION_MODELS: dict[str, Callable[[Any, Sequence[str]], np.ndarray]] = {
    "smooth-or-featured": _smooth_or_featured, "disk-edge-on": _edge_on, "has-spiral-arms": _arms, "bar": _bar,
    "bulge-size": _bulge_size, "how-rounded": _rounded, "edge-on-bulge": _edge_bulge, "bulge-shape": _edge_bulge,
    "spiral-winding": _winding, "spiral-arm-count": _arm_count, "merging": _merging, "something-odd": _odd,
    "clumpy-appearance": _clumpy, "clumps": _clumpy, "clump-count": _clump_count, "problem": _problem,
    "artifact": _artifact_kind,
}


def _base_name(question: str) -> str | None:
    for base in sorted(QUESTION_MODELS, key=len, reverse=True):
        if question == base or question.startswith(base + "-"):
            return base
    return None


def answer_probabilities(schema: Any, truth: Any) -> np.ndarray:
    """The probability of each answer of each question, for a volunteer who is asked that question.

    Parameters
    ----------
    schema : Schema or str
        The decision tree (or a registered schema name).
    truth : astropy.table.Table
        ``N`` rows of :func:`~galzoo_fm.datasets.sim.draw_truth`.

    Returns
    -------
    numpy.ndarray
        ``(N, schema.n_answers)`` float64; every question's slice sums to 1.

    Examples
    --------
    >>> from galzoo_fm.datasets.sim.truth import draw_truth
    >>> p = answer_probabilities("decals_dr5", draw_truth(3))
    >>> p.shape, bool(abs(p[:, 0:3].sum(1) - 1).max() < 1e-12)
    ((3, 34), True)
    """
    schema = _schema(schema)
    n = len(truth)
    out = np.zeros((n, schema.n_answers))
    for q in schema:
        names = [a.name for a in q.answers]
        base = _base_name(q.name)
        if base is None:
            p = np.full((n, len(names)), 1.0 / len(names))
        else:
            p = QUESTION_MODELS[base](truth, names)
            if base == "merging" and "merger" in names and "tidal-debris" in names and "both" not in names:
                p = QUESTION_MODELS[base](truth, [a if a != "merger" else "merger-candels" for a in names])
        out[:, q.start:q.end] = p / p.sum(1, keepdims=True)
    return out


def _schema(schema: Any):
    if isinstance(schema, str):

        return get_registry("schemas").create(schema)
    if not hasattr(schema, "question_index_groups"):
        raise TypeError(f"schema must be a Schema or a registered schema name, got {type(schema).__name__}")
    return schema


def _tree_votes(schema: Any, probs: np.ndarray, n_vol: np.ndarray, key: list[int]) -> np.ndarray:
    """Counts ``(N, A)``: each question asked of the volunteers who gave its parent answer.

    Question ``q`` draws from its own generator ``SeedSequence([*key, q])``, row after row, so a row's
    counts depend only on the rows before it: a catalogue's first galaxies get the same votes in any
    larger catalogue of the same seed.
    """
    votes = np.zeros(probs.shape, dtype=np.int64)
    for q in sorted(schema, key=schema.depth):
        rng = np.random.default_rng(np.random.SeedSequence([*key, q.index]))
        asked = n_vol if q.depends_on is None else votes[:, q.depends_on.index]
        p = probs[:, q.start:q.end]
        votes[:, q.start:q.end] = rng.multinomial(asked, p / p.sum(1, keepdims=True))
    return votes


def simulate_votes(truth: Any, campaigns: Sequence[Campaign] = DEFAULT_CAMPAIGNS, *, seed: int = 0,
                   return_probabilities: bool = False) -> Any:
    """Vote counts of simulated volunteers for every campaign.

    Parameters
    ----------
    truth : astropy.table.Table
        Rows of :func:`~galzoo_fm.datasets.sim.draw_truth` (with their ``index`` column).
    campaigns : sequence of Campaign
        The campaigns; their schemas' label columns must not overlap (use campaign-suffixed schemas).
    seed : int
        Seed. Whether galaxy ``i`` is in campaign ``c``, and its number of volunteers, depend only on
        ``(seed, c, i)``; the first galaxies of a catalogue get the same votes in any larger catalogue.
    return_probabilities : bool
        Also return ``{schema name: (N, A) answer probabilities}`` (:func:`answer_probabilities`).

    Returns
    -------
    astropy.table.Table or (Table, dict)
        One row per galaxy: integer ``{question}_{answer}`` columns of every campaign's schema (0 where the
        galaxy was not in the campaign or the question was not reached), ``n_volunteers_<schema>`` and
        ``campaigns`` (space-separated schema names, empty for unlabelled galaxies).

    Raises
    ------
    ValueError
        If two campaigns share a label column or name the same schema.
    """
    from astropy.table import Table

    schemas = [_schema(c.schema) for c in campaigns]
    seen: dict[str, str] = {}
    for s in schemas:
        for col in s.label_cols:
            if col in seen:
                raise ValueError(f"campaigns {seen[col]!r} and {s.name!r} share label column {col!r}; give each "
                                 f"campaign a schema with its own suffix (e.g. decals_dr5 and gz2)")
            seen[col] = s.name
    index = np.asarray(truth["index"], dtype=np.int64)
    n = len(index)
    out = Table()
    tags = [[] for _ in range(n)]
    all_probs = {}
    for ci, (campaign, schema) in enumerate(zip(campaigns, schemas, strict=True)):
        probs = answer_probabilities(schema, truth)
        all_probs[schema.name] = probs
        # one generator per block of galaxies: votes do not depend on the catalogue's size
        shown = np.zeros(n, bool)
        n_vol = np.zeros(n, np.int64)
        votes = np.zeros((n, schema.n_answers), np.int64)
        for b in np.unique(index // BLOCK):
            rows = np.flatnonzero(index // BLOCK == b)
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2, ci, int(b)]))
            u = rng.random(BLOCK)[index[rows] % BLOCK]
            k = rng.integers(campaign.volunteers[0], campaign.volunteers[1] + 1, BLOCK)[index[rows] % BLOCK]
            shown[rows] = u < campaign.fraction
            n_vol[rows] = np.where(shown[rows], k, 0)
            votes[rows] = _tree_votes(schema, probs[rows], n_vol[rows], [int(seed), 3, ci, int(b)])
        for j, col in enumerate(schema.label_cols):
            out[col] = votes[:, j]
        out[f"n_volunteers_{schema.name}"] = n_vol
        for i in np.flatnonzero(shown):
            tags[i].append(schema.name)
    out["campaigns"] = np.array([" ".join(t) for t in tags], dtype="U64")
    return (out, all_probs) if return_probabilities else out
