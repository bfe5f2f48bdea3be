"""Text descriptions of schemas, for ``galzoo-fm schemas [NAME]`` and notebooks."""

from __future__ import annotations

from galzoo_fm.schemas.base import Question, Schema

__all__ = ["describe"]


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _list_all() -> str:
    from galzoo_fm.plugins import get_registry

    registry = get_registry("schemas")
    rows = []
    for name in registry.names():
        entry = registry.entry(name)
        try:
            schema = entry.factory()
            nq, na = str(schema.n_questions), str(schema.n_answers)
        except Exception as exc:  # a broken third-party schema must not hide the others
            nq, na = "?", f"error: {type(exc).__name__}: {exc}"
        rows.append((name, nq, na, entry.plugin, entry.description))
    if not rows:
        return "no schemas registered"
    return _table(rows, ("name", "questions", "answers", "plugin", "description"))


def _question_lines(schema: Schema, q: Question, depth: int, lines: list[str]) -> None:
    pad = "    " * depth
    outputs = f"outputs {q.start}-{q.end - 1}"  # type: ignore[operator]
    dep = q.depends_on
    when = "always asked" if dep is None else f"asked if {dep.question.name} = {dep.name}"
    lines.append(f"{pad}{q.name}  [{outputs}]  {when}")
    lines.append(f"{pad}  answers: {', '.join(a.name for a in q.answers)}")
    for a in q.answers:
        for child in schema.children(a):
            _question_lines(schema, child, depth + 1, lines)


def _tree(schema: Schema) -> str:
    lines = [f"{schema.name}: {schema.description}" if schema.description else schema.name]
    lines.append(
        f"{schema.n_questions} questions, {schema.n_answers} answers; "
        f"label columns '{{question}}_{{answer}}', e.g. {schema.label_cols[0]!r}"
    )
    lines.append("")
    for q in schema.questions:
        if q.depends_on is None:
            _question_lines(schema, q, 0, lines)
    return "\n".join(lines)


def describe(name: str | Schema | None = None) -> str:
    """Describe the registered schemas, or one schema's decision tree, as text.

    Parameters
    ----------
    name : str, Schema or None, optional
        ``None`` for a table of every registered schema (name, number of questions and answers, plugin,
        description); a registered name (or a :class:`Schema`) for that schema's tree: each question with
        its output indices, its answers, and the answer after which it is asked, children indented
        under their parents.

    Returns
    -------
    str
        Plain text, without a trailing newline.

    Raises
    ------
    ValueError
        If ``name`` is not a registered schema (the message suggests close names).

    Examples
    --------
    >>> from galzoo_fm.schemas import describe
    >>> print(describe("decals_dr5"))  # doctest: +ELLIPSIS
    decals_dr5: Galaxy Zoo DECaLS, GZD-5 campaign (Walmsley et al. 2022, MNRAS 509, 3966)
    10 questions, 34 answers; label columns '{question}_{answer}', e.g. 'smooth-or-featured-dr5_smooth'
    <BLANKLINE>
    smooth-or-featured-dr5  [outputs 0-2]  always asked
      answers: smooth, featured-or-disk, artifact
        how-rounded-dr5  [outputs 15-17]  asked if smooth-or-featured-dr5 = smooth
          answers: round, in-between, cigar-shaped
        disk-edge-on-dr5  [outputs 3-4]  asked if smooth-or-featured-dr5 = featured-or-disk
          answers: yes, no
    ...
    merging-dr5  [outputs 30-33]  always asked
      answers: none, minor-disturbance, major-disturbance, merger
    """
    if name is None:
        return _list_all()
    if isinstance(name, Schema):
        return _tree(name)
    from galzoo_fm.plugins import get_registry

    return _tree(get_registry("schemas").create(name))
