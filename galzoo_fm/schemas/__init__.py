"""Galaxy Zoo label schemas: decision trees of questions and answers, laid out as model outputs.

* ``galzoo_fm.schemas.questions``: :class:`Question`, :class:`Answer`;
* ``galzoo_fm.schemas.base``: :class:`Schema` (which also hands on ``Question`` and ``Answer``);
* :mod:`galzoo_fm.schemas.builtin`: the built-in Galaxy Zoo trees and GZ-Evo (a plugin);
* ``galzoo_fm.schemas.io``: custom schemas from JSON / YAML files;
* ``galzoo_fm.schemas.votes``: vote counts from a catalogue;
* ``galzoo_fm.schemas.predictions``: fractions and probabilities from Dirichlet concentrations;
* :mod:`galzoo_fm.schemas.describe`: text descriptions for the command line.

Get a registered schema with :func:`galzoo_fm.get_schema` (``galzoo_fm.list_schemas()`` lists them).

Examples
--------
>>> import galzoo_fm
>>> schema = galzoo_fm.get_schema("decals_dr5")
>>> schema.n_answers, schema.label_cols[0]
(34, 'smooth-or-featured-dr5_smooth')
"""

from __future__ import annotations

from galzoo_fm.schemas.base import Answer, Question, Schema
from galzoo_fm.schemas.describe import describe
from galzoo_fm.schemas.io import read_schema, write_schema
from galzoo_fm.schemas.predictions import (
    answer_probability,
    asked_probability,
    expected_fractions,
    most_likely_answers,
    vote_fractions,
)
from galzoo_fm.schemas.votes import MissingLabelsWarning, votes_from_table

__all__ = [
    "Answer",
    "MissingLabelsWarning",
    "Question",
    "Schema",
    "answer_probability",
    "asked_probability",
    "describe",
    "expected_fractions",
    "most_likely_answers",
    "read_schema",
    "vote_fractions",
    "votes_from_table",
    "write_schema",
]
