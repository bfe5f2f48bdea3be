"""The dictionary and file layout of a schema (see :mod:`galzoo_fm.schemas.io` for the format).

Functions of plain data and of an existing schema only: they import nothing of
:mod:`galzoo_fm.schemas.base`, whose :class:`~galzoo_fm.schemas.Schema` calls them (``to_dict``,
``from_dict``, ``from_file``, ``to_file``), so that the imports run one way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from galzoo_fm.schemas.questions import Question, SchemaLike, suggest

__all__ = ["dump_schema_file", "load_schema_file", "parse_schema_dict", "schema_to_dict"]

_SCHEMA_KEYS = ("name", "description", "questions")
_QUESTION_KEYS = ("name", "answers", "depends_on", "description")
_YAML_SUFFIXES = (".yaml", ".yml")


def schema_to_dict(schema: SchemaLike) -> dict[str, Any]:
    """A plain ``dict`` describing ``schema``, for JSON or YAML.

    Examples
    --------
    >>> import galzoo_fm
    >>> d = galzoo_fm.get_schema("decals_dr5").to_dict()
    >>> d["name"], d["questions"][0]
    ('decals_dr5', {'name': 'smooth-or-featured-dr5', 'answers': ['smooth', 'featured-or-disk', 'artifact']})
    >>> d["questions"][1]["depends_on"]
    'smooth-or-featured-dr5_featured-or-disk'
    """
    questions = []
    for q in schema.questions:
        entry: dict[str, Any] = {"name": q.name, "answers": [a.name for a in q.answers]}
        if q.depends_on is not None:
            entry["depends_on"] = q.dependency
        if q.description:
            entry["description"] = q.description
        questions.append(entry)
    out: dict[str, Any] = {"name": schema.name}
    if schema.description:
        out["description"] = schema.description
    out["questions"] = questions
    return out


def _text(value: Any, what: str) -> str:
    # YAML and JSON turn answers such as 1, 2 into numbers; names are text
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(
            f"{what} must be a string, got {type(value).__name__} {value!r}"
            + (" (quote it in YAML)" if isinstance(value, bool | float) else "")
        )
    return str(value)


def _check_keys(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ValueError(
                f"unknown key {key!r} in {where}{suggest(str(key), allowed)} (allowed: {', '.join(allowed)})"
            )


def parse_schema_dict(data: Mapping[str, Any], *, name: str | None = None) -> tuple[list[Question], str, str]:
    """Check a schema mapping (see :func:`schema_to_dict`) and return ``(questions, name, description)``.

    ``name`` overrides ``data["name"]``; the default name is ``"custom"``. Unknown keys (with suggestions),
    missing keys and wrong types raise ``ValueError`` / ``TypeError``; the tree itself is checked by
    :class:`~galzoo_fm.schemas.Schema`.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"a schema must be a mapping with a 'questions' list, got {type(data).__name__}")
    _check_keys(data, _SCHEMA_KEYS, "the schema")
    raw = data.get("questions")
    if not isinstance(raw, list) or not raw:
        raise ValueError("a schema needs a non-empty 'questions' list")
    questions = []
    for i, entry in enumerate(raw):
        where = f"question {i}"
        if not isinstance(entry, Mapping):
            raise TypeError(f"{where} must be a mapping with 'name' and 'answers', got {entry!r}")
        _check_keys(entry, _QUESTION_KEYS, where)
        for key in ("name", "answers"):
            if key not in entry:
                raise ValueError(f"{where} has no {key!r}")
        qname = _text(entry["name"], f"name of {where}")
        answers = entry["answers"]
        if not isinstance(answers, list):
            raise TypeError(f"answers of question {qname!r} must be a list, got {answers!r}")
        answers = [_text(a, f"answer {j} of question {qname!r}") for j, a in enumerate(answers)]
        dep = entry.get("depends_on")
        if isinstance(dep, list):
            dep = tuple(_text(d, f"depends_on of question {qname!r}") for d in dep)
        elif dep is not None:
            dep = _text(dep, f"depends_on of question {qname!r}")
        questions.append(Question(qname, answers, dep, description=str(entry.get("description") or "")))
    schema_name = name if name is not None else _text(data.get("name", "custom"), "schema name")
    return questions, schema_name, str(data.get("description") or "")


def _import_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise ImportError(
            f"reading or writing {str(path)!r} needs PyYAML, which is not installed: "
            f"pip install pyyaml, or use a .json file"
        ) from exc
    return yaml


def _yaml_loader(yaml: Any) -> Any:
    """A safe loader for which only true/false are booleans (answers are often yes/no)."""

    class Loader(yaml.SafeLoader):
        pass

    bool_tag = "tag:yaml.org,2002:bool"
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != bool_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    true_false = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
    Loader.add_implicit_resolver(bool_tag, true_false, list("tTfF"))
    return Loader


def load_schema_file(path: Path) -> Any:
    """The parsed content of a ``.json``, ``.yaml`` or ``.yml`` schema file (not yet checked as a schema).

    Raises ``ValueError`` for another extension or invalid JSON / YAML (the message starts with the path),
    ``ImportError`` for YAML without PyYAML.
    """
    suffix = path.suffix.lower()
    if suffix not in (".json", *_YAML_SUFFIXES):
        raise ValueError(f"{path}: unknown schema file type {path.suffix!r}; use .json, .yaml or .yml")
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    yaml = _import_yaml(path)
    try:
        return yaml.load(text, Loader=_yaml_loader(yaml))  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc


def dump_schema_file(data: Mapping[str, Any], path: Path) -> None:
    """Write a schema mapping to ``path``: YAML for ``.yaml`` / ``.yml`` (needs PyYAML), JSON otherwise."""
    if path.suffix.lower() in _YAML_SUFFIXES:
        yaml = _import_yaml(path)
        text = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=110)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
