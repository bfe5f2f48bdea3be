"""Questions, answers and schemas: a Galaxy Zoo decision tree as a model's output layout.

A :class:`Schema` is an ordered list of :class:`Question` objects. Each question has two or more
:class:`Answer` objects; the answers of one question are contiguous in the model output, so the output
vector of length :attr:`Schema.n_answers` splits into one slice per question
(:attr:`Schema.question_index_groups`). A question may depend on one answer of another question (the
volunteer is only asked it after giving that answer); the dependencies form a forest (no cycles).

Each answer is also one column of a vote catalogue, named ``{question}_{answer}``, e.g.
``smooth-or-featured-dr5_smooth`` (the convention of Zoobot and galaxy-datasets; Walmsley et al. 2022,
MNRAS 509, 3966).

The questions and answers themselves are :mod:`galzoo_fm.schemas.questions`; the dictionary and file
formats, the vote and prediction computations are functions of their own modules
(``schemas._document``, :mod:`~galzoo_fm.schemas.votes`, ``predictions``)
that take a schema and import nothing of this module, so that the imports run one way: ``base`` imports them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from galzoo_fm.schemas._document import dump_schema_file, load_schema_file, parse_schema_dict, schema_to_dict
from galzoo_fm.schemas.predictions import (
    answer_probability,
    asked_probability,
    expected_fractions,
    most_likely_answers,
    vote_fractions,
)
from galzoo_fm.schemas.questions import Answer, DependsOn, Question, check_name, suggest
from galzoo_fm.schemas.votes import votes_from_table

__all__ = ["Answer", "DependsOn", "Question", "Schema", "suggest"]


class Schema:
    """A decision tree of questions and answers, laid out as a model's output vector.

    Parameters
    ----------
    questions : iterable of Question
        In output order. The schema keeps its own copies, so the same :class:`Question` may be put into
        several schemas (e.g. a campaign and the GZ-Evo union).
    name : str, optional
        Name shown in messages and listings.
    description : str, optional
        One line, ideally with the reference of the decision tree.

    Raises
    ------
    ValueError
        On duplicate question names or label columns, a dependency on an unknown question or answer,
        or a dependency cycle; the message names them.
    TypeError
        If an element of ``questions`` is not a :class:`Question`.

    Notes
    -----
    Vote catalogues hold one column of counts per answer, named ``{question}_{answer}``
    (:attr:`label_cols`). For the output vector of shape ``(N, n_answers)``, answers ``start:end`` of
    :attr:`question_index_groups` belong to one question; a Dirichlet-multinomial loss is summed over
    these groups (Walmsley et al. 2022, MNRAS 509, 3966).

    Examples
    --------
    >>> from galzoo_fm.schemas import Question, Schema
    >>> schema = Schema(
    ...     [
    ...         Question("smooth-or-featured", ["smooth", "featured-or-disk", "artifact"]),
    ...         Question("disk-edge-on", ["yes", "no"], ("smooth-or-featured", "featured-or-disk")),
    ...     ],
    ...     name="tiny",
    ... )
    >>> schema.n_answers, schema.question_index_groups
    (5, [(0, 3), (3, 5)])
    >>> schema.question("disk-edge-on").depends_on
    Answer('smooth-or-featured_featured-or-disk', index=1)
    """

    def __init__(self, questions: Iterable[Question], *, name: str = "custom", description: str = ""):
        self.name = check_name(name, "schema name")
        self.description = description
        given = list(questions)
        for q in given:
            if not isinstance(q, Question):
                raise TypeError(f"schema {name!r}: expected Question objects, got {type(q).__name__} {q!r}")
        if not given:
            raise ValueError(f"schema {name!r} has no questions")
        counts: dict[str, int] = {}
        for q in given:
            counts[q.name] = counts.get(q.name, 0) + 1
        dups = [n for n, c in counts.items() if c > 1]
        if dups:
            raise ValueError(f"schema {name!r} has duplicate question names: {', '.join(map(repr, dups))}")

        self._questions: tuple[Question, ...] = tuple(
            Question(q.name, [a.name for a in q.answers], description=q.description) for q in given
        )
        start = 0
        for qi, q in enumerate(self._questions):
            q.index, q.start, q.end = qi, start, start + len(q.answers)
            for offset, a in enumerate(q.answers):
                a.index = start + offset
            start = q.end
        self._answers: tuple[Answer, ...] = tuple(a for q in self._questions for a in q.answers)
        self._by_question = {q.name: q for q in self._questions}
        self._by_col: dict[str, Answer] = {}
        for a in self._answers:
            other = self._by_col.setdefault(a.label_col, a)
            if other is not a:
                raise ValueError(
                    f"schema {name!r}: label column {a.label_col!r} is made by both question "
                    f"{other.question.name!r} and question {a.question.name!r}; rename one of them"
                )
        for src, q in zip(given, self._questions, strict=True):
            q.depends_on = self._resolve(src.depends_on, q)
        self._order = self._check_cycles()

    # -- construction helpers -------------------------------------------------------------------------

    def _resolve(self, dep: DependsOn, q: Question) -> Answer | None:
        if dep is None:
            return None
        if isinstance(dep, Answer):
            dep = (dep.question.name, dep.name)
        if isinstance(dep, tuple | list):
            if len(dep) != 2 or not all(isinstance(d, str) for d in dep):
                raise ValueError(
                    f"schema {self.name!r}: question {q.name!r} depends on {dep!r}; "
                    f"expected a (question, answer) pair of names"
                )
            parent = self._by_question.get(dep[0])
            if parent is None:
                raise ValueError(
                    f"schema {self.name!r}: question {q.name!r} depends on an answer of unknown question "
                    f"{dep[0]!r}{suggest(dep[0], self._by_question)}"
                )
            try:
                return parent.answer(dep[1])
            except ValueError as exc:
                raise ValueError(f"schema {self.name!r}: question {q.name!r} depends on {exc}") from None
        if dep not in self._by_col:
            raise ValueError(
                f"schema {self.name!r}: question {q.name!r} depends on unknown answer "
                f"{dep!r}{suggest(dep, self._by_col)}"
            )
        return self._by_col[dep]

    def _check_cycles(self) -> tuple[Question, ...]:
        """Raise on a dependency cycle; return the questions ordered so that parents come first."""
        depth: dict[str, int] = {}
        for q in self._questions:
            path: list[Question] = []
            node: Question | None = q
            while node is not None and node.name not in depth:
                if node in path:
                    cycle = [*path[path.index(node) :], node]
                    raise ValueError(
                        f"schema {self.name!r} has a dependency cycle: "
                        + " -> ".join(f"{c.name!r}" for c in cycle)
                    )
                path.append(node)
                node = None if node.depends_on is None else node.depends_on.question
            base = -1 if node is None else depth[node.name]
            for d, p in enumerate(reversed(path), start=base + 1):
                depth[p.name] = d
        self._depth = depth
        return tuple(sorted(self._questions, key=lambda q: depth[q.name]))

    @classmethod
    def concat(cls, schemas: Iterable[Schema], *, name: str, description: str = "") -> Schema:
        """The union of several schemas, in the given order (how GZ-Evo joins campaigns).

        Question names must not clash: use campaign-suffixed ("ortho") schemas.
        """
        questions = [
            Question(q.name, [a.name for a in q.answers], q.dependency, description=q.description)
            for s in schemas
            for q in s.questions
        ]
        return cls(questions, name=name, description=description)

    # -- structure ------------------------------------------------------------------------------------

    @property
    def questions(self) -> list[Question]:
        """The questions, in output order."""
        return list(self._questions)

    @property
    def question_order(self) -> tuple[Question, ...]:
        """The questions ordered so that each comes after the question its answer depends on."""
        return self._order

    @property
    def answers(self) -> list[Answer]:
        """All answers of all questions, flat, in output order (``answers[i].index == i``)."""
        return list(self._answers)

    @property
    def n_questions(self) -> int:
        """Number of questions."""
        return len(self._questions)

    @property
    def n_answers(self) -> int:
        """Number of answers: the length of the model's output vector."""
        return len(self._answers)

    @property
    def question_index_groups(self) -> list[tuple[int, int]]:
        """``(start, end)`` output indices of each question's answers, ``end`` exclusive.

        The groups are contiguous and cover ``0 .. n_answers``: ``outputs[:, start:end]`` are one
        question's answers.
        """
        return [(q.start, q.end) for q in self._questions]  # type: ignore[misc]

    @property
    def label_cols(self) -> list[str]:
        """The vote column of each answer, ``{question}_{answer}``, in output order."""
        return [a.label_col for a in self._answers]

    @property
    def dependencies(self) -> dict[str, str | None]:
        """``{question: label column of the answer it depends on, or None}``."""
        return {q.name: q.dependency for q in self._questions}

    @property
    def answer_question_index(self) -> np.ndarray:
        """Integer array ``(n_answers,)``: the question index of each output."""
        return np.repeat(np.arange(self.n_questions), [q.n_answers for q in self._questions])

    def depth(self, question: str | Question) -> int:
        """Number of questions above ``question`` in the tree (0 for a question always asked)."""
        return self._depth[self.question(question).name]

    def children(self, answer: str | Answer) -> list[Question]:
        """Questions asked after ``answer`` (an :class:`Answer` or a label column), in output order."""
        target = self.answer(answer.label_col if isinstance(answer, Answer) else answer)
        return [q for q in self._questions if q.depends_on is target]

    def question(self, name: str | Question) -> Question:
        """The question called ``name``; unknown names raise ``ValueError`` with close names."""
        key = name.name if isinstance(name, Question) else name
        try:
            return self._by_question[key]
        except (KeyError, TypeError):
            pass
        if not isinstance(key, str):
            raise TypeError(f"question name must be a string, got {type(key).__name__}")
        raise ValueError(
            f"schema {self.name!r} has no question {key!r}{suggest(key, self._by_question)} "
            f"({self.n_questions} questions; see .questions)"
        )

    def answer(self, label_col: str) -> Answer:
        """The answer whose label column is ``label_col``; unknown names raise ``ValueError``."""
        try:
            return self._by_col[label_col]
        except (KeyError, TypeError):
            pass
        if not isinstance(label_col, str):
            raise TypeError(f"label column must be a string, got {type(label_col).__name__}")
        raise ValueError(
            f"schema {self.name!r} has no answer {label_col!r}{suggest(label_col, self._by_col)} "
            f"(label columns are '{{question}}_{{answer}}'; see .label_cols)"
        )

    def index(self, label_col: str) -> int:
        """Output index of the answer with label column ``label_col``."""
        return self.answer(label_col).index  # type: ignore[return-value]

    def __iter__(self) -> Iterator[Question]:
        return iter(self._questions)

    def __contains__(self, name: object) -> bool:
        return name in self._by_question or name in self._by_col

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schema):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Schema {self.name!r}: {self.n_questions} questions, {self.n_answers} answers>"

    # -- dictionaries and files -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` (JSON / YAML ready) from which :meth:`from_dict` rebuilds the schema.

        The layout is documented in ``galzoo_fm.schemas.io``.
        """
        return schema_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str | None = None) -> Schema:
        """Build a schema from a mapping such as :meth:`to_dict` returns.

        Parameters
        ----------
        data : mapping
            ``{"name": ..., "description": ..., "questions": [{"name", "answers", "depends_on",
            "description"}, ...]}``; only ``questions`` and each question's ``name`` and ``answers`` are
            required.
        name : str, optional
            Overrides ``data["name"]``; the default name is ``"custom"``.

        Raises
        ------
        ValueError, TypeError
            On unknown keys (with suggestions), missing keys, wrong types, or an invalid tree.
        """
        questions, schema_name, description = parse_schema_dict(data, name=name)
        return cls(questions, name=schema_name, description=description)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Schema:
        """Read a schema from a ``.json`` file, or ``.yaml`` / ``.yml`` if PyYAML is installed.

        The schema's name is the file's ``name`` entry, or the file name without extension.

        Raises
        ------
        ImportError
            For a YAML file when PyYAML is not installed.
        ValueError, TypeError
            If the file is not valid JSON / YAML or not a valid schema; the message starts with the path.
        """
        path = Path(path)
        data = load_schema_file(path)
        name = data.get("name") if isinstance(data, Mapping) else None
        try:
            return cls.from_dict(data, name=None if name is not None else path.stem)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{path}: {exc}") from exc

    def to_file(self, path: str | os.PathLike[str]) -> None:
        """Write the schema as JSON, or as YAML for a ``.yaml`` / ``.yml`` path (needs PyYAML)."""
        dump_schema_file(self.to_dict(), Path(path))

    @classmethod
    def from_pairs(
        cls,
        pairs: Mapping[str, Sequence[str]],
        dependencies: Mapping[str, str | None] | None = None,
        *,
        name: str = "custom",
        description: str = "",
    ) -> Schema:
        """Build a schema from Zoobot-style ``question_answer_pairs`` and ``dependencies`` dicts.

        Parameters
        ----------
        pairs : dict
            ``{question: [answers]}``; a leading ``_`` on answers (``"_smooth"``) is dropped.
        dependencies : dict, optional
            ``{question: label column or None}``; questions it does not list are always asked, and keys
            that are not questions of ``pairs`` are ignored (Zoobot's tables share one dict among schemas).
        name, description : str, optional
            As for :class:`Schema`.
        """
        deps = dict(dependencies or {})
        questions = [
            Question(q, [a[1:] if isinstance(a, str) and a[:1] == "_" else a for a in answers], deps.get(q))
            for q, answers in pairs.items()
        ]
        return cls(questions, name=name, description=description)

    # -- votes and predictions --------------------------------------------------------------------------

    def votes_from_table(self, table: Any, **kwargs: Any) -> np.ndarray:
        """Vote counts ``(N, n_answers)`` from a catalogue; see :func:`~galzoo_fm.schemas.votes_from_table`."""
        return votes_from_table(self, table, **kwargs)

    def vote_fractions(self, votes: Any) -> np.ndarray:
        """Observed vote fractions per question; see :func:`~galzoo_fm.schemas.vote_fractions`."""
        return vote_fractions(self, votes)

    def expected_fractions(self, concentrations: Any) -> np.ndarray:
        """Expected vote fractions ``α_a / Σα``; see :func:`~galzoo_fm.schemas.expected_fractions`."""
        return expected_fractions(self, concentrations)

    def asked_probability(self, concentrations: Any = None, *, fractions: Any = None) -> np.ndarray:
        """Probability each question is asked; see :func:`~galzoo_fm.schemas.asked_probability`."""
        return asked_probability(self, concentrations, fractions=fractions)

    def answer_probability(self, concentrations: Any = None, *, fractions: Any = None) -> np.ndarray:
        """Probability of each answer overall; see :func:`~galzoo_fm.schemas.answer_probability`."""
        return answer_probability(self, concentrations, fractions=fractions)

    def most_likely_answers(self, concentrations: Any) -> np.ndarray:
        """Output index of each question's most likely answer; see ``galzoo_fm.schemas.predictions``."""
        return most_likely_answers(self, concentrations)
