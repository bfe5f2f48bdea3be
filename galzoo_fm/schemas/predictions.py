"""From a model's Dirichlet concentrations to Galaxy Zoo predictions.

A Galaxy Zoo model predicts, per galaxy, one Dirichlet concentration ``α_a > 0`` per answer
(Walmsley et al. 2022, MNRAS 509, 3966). Per question, the expected fraction of volunteers giving
answer ``a`` is ``α_a / Σ α`` over that question's answers. The probability that a question is asked at
all is the product of the expected fractions of the answers that lead to it, along the decision tree
from its root; the probability of an answer overall is its fraction times that.

All functions take numpy arrays or torch tensors (any device and dtype) of shape ``(..., n_answers)``:
the answers on the last axis, e.g. ``(N, n_answers)``. They compute in float64 and return numpy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from galzoo_fm.schemas.questions import SchemaLike

__all__ = [
    "answer_probability",
    "asked_probability",
    "expected_fractions",
    "most_likely_answers",
    "vote_fractions",
]


def _as_array(schema: SchemaLike, values: Any, what: str) -> np.ndarray:
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch tensor, without importing torch
        values = values.detach().cpu().double().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] != schema.n_answers:
        raise ValueError(
            f"{what} must have the {schema.n_answers} answers of schema {schema.name!r} on the last axis, "
            f"got shape {arr.shape}"
        )
    return arr


def _group_sums(schema: SchemaLike, arr: np.ndarray) -> np.ndarray:
    """Sum over each question's answers: ``(..., n_answers)`` → ``(..., n_questions)``."""
    starts = [start for start, _ in schema.question_index_groups]
    return np.add.reduceat(arr, starts, axis=-1)


def _concentrations(schema: SchemaLike, concentrations: Any) -> np.ndarray:
    alpha = _as_array(schema, concentrations, "concentrations")
    if not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        bad = ~np.isfinite(alpha) | (alpha <= 0)
        where = np.unravel_index(int(np.flatnonzero(bad)[0]), alpha.shape)
        raise ValueError(
            f"Dirichlet concentrations must be positive and finite; got {float(alpha[where])!r} at index "
            f"{tuple(int(i) for i in where)} (answer {schema.label_cols[where[-1]]!r})"
        )
    return alpha


def expected_fractions(schema: SchemaLike, concentrations: Any) -> np.ndarray:
    """Expected vote fraction of each answer, ``α_a / Σ_{b in question} α_b``.

    Parameters
    ----------
    schema : Schema
        The decision tree of the model's outputs.
    concentrations : array_like or torch.Tensor, shape (..., n_answers)
        Dirichlet concentrations, all positive.

    Returns
    -------
    numpy.ndarray, shape (..., n_answers)
        Fractions in [0, 1] that sum to 1 over each question's answers.

    Raises
    ------
    ValueError
        If the last axis is not ``n_answers`` long, or a concentration is not positive and finite.

    Examples
    --------
    >>> import numpy as np
    >>> from galzoo_fm.schemas import Question, Schema
    >>> s = Schema([Question("q", ["a", "b"]), Question("r", ["c", "d", "e"], depends_on="q_a")])
    >>> s.expected_fractions(np.array([[1.0, 3.0, 2.0, 2.0, 4.0]])).tolist()
    [[0.25, 0.75, 0.25, 0.25, 0.5]]
    """
    alpha = _concentrations(schema, concentrations)
    return alpha / _group_sums(schema, alpha)[..., schema.answer_question_index]


def vote_fractions(schema: SchemaLike, votes: Any) -> np.ndarray:
    """Observed vote fractions: each answer's votes over its question's total.

    Parameters
    ----------
    schema : Schema
        The decision tree.
    votes : array_like or torch.Tensor, shape (..., n_answers)
        Non-negative vote counts, e.g. from :func:`~galzoo_fm.schemas.votes_from_table`.

    Returns
    -------
    numpy.ndarray, shape (..., n_answers)
        Fractions; NaN for the answers of a question with no votes (not asked).
    """
    k = _as_array(schema, votes, "votes")
    if np.any(k < 0):
        raise ValueError(f"vote counts must be non-negative; got {float(k.min())!r}")
    totals = _group_sums(schema, k)[..., schema.answer_question_index]
    return np.divide(k, totals, out=np.full_like(k, np.nan), where=totals > 0)


def asked_probability(schema: SchemaLike, concentrations: Any = None, *, fractions: Any = None) -> np.ndarray:
    """Probability that each question is asked, from the fractions of the answers leading to it.

    For a question asked after answer ``a`` of question ``p``, ``P(asked) = P(p asked) · f_a``; a root
    question (always asked) has probability 1.

    Parameters
    ----------
    schema : Schema
        The decision tree.
    concentrations : array_like or torch.Tensor, shape (..., n_answers), optional
        Dirichlet concentrations; their expected fractions are used.
    fractions : array_like or torch.Tensor, shape (..., n_answers), optional
        Vote fractions to use instead (e.g. observed ones from :func:`vote_fractions`). Give exactly one
        of ``concentrations`` and ``fractions``.

    Returns
    -------
    numpy.ndarray, shape (..., n_questions)
        In the order of ``schema.questions``.

    Examples
    --------
    >>> import numpy as np
    >>> from galzoo_fm.schemas import Question, Schema
    >>> s = Schema([Question("q", ["a", "b"]), Question("r", ["c", "d", "e"], depends_on="q_a")])
    >>> s.asked_probability(fractions=np.array([0.25, 0.75, 0.2, 0.3, 0.5])).tolist()
    [1.0, 0.25]
    """
    f = _fractions(schema, concentrations, fractions)
    asked = np.ones((*f.shape[:-1], schema.n_questions))
    for q in schema.question_order:  # parents before children
        parent = q.depends_on
        if parent is not None:
            asked[..., q.index] = asked[..., parent.question.index] * f[..., parent.index]
    return asked


def answer_probability(schema: SchemaLike, concentrations: Any = None, *, fractions: Any = None) -> np.ndarray:
    """Probability that a volunteer gives each answer: its fraction times ``P(its question is asked)``.

    Parameters are those of :func:`asked_probability`; returns shape ``(..., n_answers)``.
    """
    f = _fractions(schema, concentrations, fractions)
    asked = asked_probability(schema, fractions=f)
    return f * asked[..., schema.answer_question_index]


def _fractions(schema: SchemaLike, concentrations: Any, fractions: Any) -> np.ndarray:
    if (concentrations is None) == (fractions is None):
        raise TypeError("give exactly one of concentrations and fractions=")
    if fractions is None:
        return expected_fractions(schema, concentrations)
    return _as_array(schema, fractions, "fractions")


def most_likely_answers(schema: SchemaLike, concentrations: Any) -> np.ndarray:
    """Output index of the most likely answer of each question (the largest concentration or fraction).

    Parameters
    ----------
    schema : Schema
        The decision tree.
    concentrations : array_like or torch.Tensor, shape (..., n_answers)
        Concentrations or fractions (the order within a question is the same), finite.

    Returns
    -------
    numpy.ndarray of int64, shape (..., n_questions)
        Indices into ``schema.answers`` / ``schema.label_cols``; ties go to the first answer.

    Examples
    --------
    >>> import numpy as np
    >>> from galzoo_fm.schemas import Question, Schema
    >>> s = Schema([Question("q", ["a", "b"]), Question("r", ["c", "d", "e"], depends_on="q_a")])
    >>> idx = s.most_likely_answers(np.array([1.0, 3.0, 2.0, 2.0, 4.0]))
    >>> [s.label_cols[i] for i in idx]
    ['q_b', 'r_e']
    """
    values = _as_array(schema, concentrations, "concentrations")
    if not np.all(np.isfinite(values)):
        raise ValueError("concentrations must be finite to pick the most likely answers")
    out = np.empty((*values.shape[:-1], schema.n_questions), dtype=np.int64)
    for i, (start, end) in enumerate(schema.question_index_groups):
        out[..., i] = start + np.argmax(values[..., start:end], axis=-1)
    return out
