"""Custom schemas from JSON or YAML files, and back.

The file holds one mapping::

    name: my-survey
    description: Two questions of my own project
    questions:
      - name: smooth-or-featured-mine
        answers: [smooth, featured-or-disk, artifact]
      - name: bar-mine
        answers: [yes, no]
        depends_on: smooth-or-featured-mine_featured-or-disk

``depends_on`` is the label column (``{question}_{answer}``) of the answer after which the question is
asked, or a ``[question, answer]`` pair; leave it out for a question asked of every galaxy. Each question
may also have a ``description``. JSON is always available; YAML needs PyYAML. ``yes`` / ``no`` / ``on`` /
``off`` read as strings (not booleans, as YAML 1.1 would have it), and numeric answers such as ``1``
read as the strings ``"1"``.

The functions here are the same as the :class:`~galzoo_fm.schemas.Schema` methods they call
(:meth:`~galzoo_fm.schemas.Schema.to_dict`, :meth:`~galzoo_fm.schemas.Schema.from_dict`,
:meth:`~galzoo_fm.schemas.Schema.from_file`, :meth:`~galzoo_fm.schemas.Schema.to_file`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from galzoo_fm.schemas.base import Schema

__all__ = ["read_schema", "schema_from_dict", "schema_to_dict", "write_schema"]


def schema_to_dict(schema: Schema) -> dict[str, Any]:
    """A plain ``dict`` describing ``schema``, for JSON or YAML: :meth:`Schema.to_dict
    <galzoo_fm.schemas.Schema.to_dict>`."""
    return schema.to_dict()


def schema_from_dict(data: Mapping[str, Any], *, name: str | None = None) -> Schema:
    """Build a schema from a mapping such as :func:`schema_to_dict` returns: :meth:`Schema.from_dict
    <galzoo_fm.schemas.Schema.from_dict>` (its parameters and errors)."""
    return Schema.from_dict(data, name=name)


def read_schema(path: str | os.PathLike[str]) -> Schema:
    """Read a schema from a ``.json``, ``.yaml`` or ``.yml`` file (the format: the module docs):
    :meth:`Schema.from_file <galzoo_fm.schemas.Schema.from_file>` (its naming rule and errors)."""
    return Schema.from_file(path)


def write_schema(schema: Schema, path: str | os.PathLike[str]) -> None:
    """Write ``schema`` to ``path``: YAML for ``.yaml`` / ``.yml`` (needs PyYAML), JSON otherwise."""
    schema.to_file(path)
