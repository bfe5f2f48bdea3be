"""Questions, answers and schemas: a Galaxy Zoo decision tree as a model's output layout.

A :class:`Schema` is an ordered list of :class:`Question` objects. Each question has two or more
:class:`Answer` objects; the answers of one question are contiguous in the model output, so the output
vector of length :attr:`Schema.n_answers` splits into one slice per question
(:attr:`Schema.question_index_groups`). A question may depend on one answer of another question (the
volunteer is only asked it after giving that answer); the dependencies form a forest (no cycles).

Each answer is also one column of a vote catalogue, named ``{question}_{answer}``, e.g.
``smooth-or-featured-dr5_smooth`` (the convention of Zoobot and galaxy-datasets; Walmsley et al. 2022,
MNRAS 509, 3966).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np

__all__ = ["Answer", "DependsOn", "Question", "Schema"]

#: How a question names the answer it depends on: an :class:`Answer`, a label column
#: (``"smooth-or-featured_featured-or-disk"``), a ``(question, answer)`` pair, or ``None`` (always asked).
DependsOn: TypeAlias = "Answer | str | tuple[str, str] | None"


def suggest(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'a', 'b'?"`` for the candidates close to ``name`` (empty if none are)."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _check_name(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__} {value!r}")
    if not value or value != value.strip():
        raise ValueError(f"{what} {value!r} must be non-empty, without leading or trailing spaces")
    return value


class Answer:
    """One answer to a question: one output of the model and one vote column of a catalogue.

    Answers are created by :class:`Question`; a schema gives each its position in the model output.

    Parameters
    ----------
    name : str
        The answer, e.g. ``"featured-or-disk"`` (without the ``_`` that joins it to the question).
    question : Question
        The question it answers.
    index : int or None
        Position in the model output of the schema, ``None`` outside a schema.
    """

    __slots__ = ("index", "name", "question")

    def __init__(self, name: str, question: Question, index: int | None = None):
        self.name = _check_name(name, f"answer name of question {question.name!r}")
        if name.startswith("_"):
            raise ValueError(
                f"answer name {name!r} of question {question.name!r} starts with '_': give "
                f"{name.lstrip('_')!r}; the label column joins question and answer with '_'"
            )
        self.question = question
        self.index = index

    @property
    def label_col(self) -> str:
        """The catalogue column of this answer's vote counts, ``{question}_{answer}``."""
        return f"{self.question.name}_{self.name}"

    def __repr__(self) -> str:
        return f"Answer({self.label_col!r}, index={self.index})"


class Question:
    """One question of a decision tree, with its answers and the answer it depends on.

    Parameters
    ----------
    name : str
        The question, e.g. ``"disk-edge-on-dr5"``.
    answers : sequence of str
        Its answers in output order, e.g. ``["yes", "no"]``; at least two, all different.
    depends_on : Answer, str, (str, str) or None, optional
        The answer after which the question is asked: an :class:`Answer`, a label column such as
        ``"smooth-or-featured-dr5_featured-or-disk"``, or a ``(question, answer)`` pair. ``None`` (the
        default) for a question asked of every galaxy. Names are resolved when the question is put in a
        :class:`Schema`; there ``depends_on`` is always an :class:`Answer` of the same schema, or ``None``.
    description : str, optional
        Free text, e.g. the wording shown to volunteers.

    Attributes
    ----------
    index : int or None
        Position of the question in its schema.
    start, end : int or None
        The question's answers occupy outputs ``start`` to ``end - 1`` of its schema.

    Examples
    --------
    >>> from galzoo_fm.schemas import Question
    >>> q = Question("disk-edge-on", ["yes", "no"], depends_on="smooth-or-featured_featured-or-disk")
    >>> q.label_cols
    ['disk-edge-on_yes', 'disk-edge-on_no']
    """

    def __init__(
        self,
        name: str,
        answers: Sequence[str],
        depends_on: DependsOn = None,
        *,
        description: str = "",
    ):
        self.name = _check_name(name, "question name")
        if isinstance(answers, str) or not isinstance(answers, Iterable):
            raise TypeError(f"answers of question {name!r} must be a sequence of names, got {answers!r}")
        names = [a.name if isinstance(a, Answer) else a for a in answers]
        if len(names) < 2:
            raise ValueError(f"question {name!r} needs at least two answers, got {names!r}")
        self.answers: tuple[Answer, ...] = tuple(Answer(a, self) for a in names)
        seen: set[str] = set()
        dups = sorted({a for a in names if a in seen or seen.add(a)})
        if dups:
            raise ValueError(f"question {name!r} has duplicate answer names: {', '.join(map(repr, dups))}")
        if depends_on is not None and not isinstance(depends_on, Answer | str | tuple | list):
            raise TypeError(
                f"depends_on of question {name!r} must be an Answer, a label column, a (question, answer) "
                f"pair or None, got {type(depends_on).__name__}"
            )
        self.depends_on = depends_on
        self.description = description
        self.index: int | None = None
        self.start: int | None = None
        self.end: int | None = None

    @property
    def n_answers(self) -> int:
        """Number of answers."""
        return len(self.answers)

    @property
    def label_cols(self) -> list[str]:
        """The ``{question}_{answer}`` column of each answer."""
        return [a.label_col for a in self.answers]

    @property
    def slice(self) -> slice:
        """``slice(start, end)``: this question's outputs in its schema."""
        if self.start is None:
            raise ValueError(f"question {self.name!r} is not part of a schema, so it has no output slice")
        return slice(self.start, self.end)

    @property
    def dependency(self) -> str | None:
        """The label column of the answer this question depends on, or ``None``."""
        dep = self.depends_on
        if dep is None or isinstance(dep, str):
            return dep
        if isinstance(dep, Answer):
            return dep.label_col
        return f"{dep[0]}_{dep[1]}"

    def answer(self, name: str) -> Answer:
        """The answer called ``name``; unknown names raise ``ValueError`` with suggestions."""
        for a in self.answers:
            if a.name == name:
                return a
        names = [a.name for a in self.answers]
        raise ValueError(
            f"question {self.name!r} has no answer {name!r}{suggest(name, names)} "
            f"(answers: {', '.join(names)})"
        )

    def __iter__(self) -> Iterator[Answer]:
        return iter(self.answers)

    def __repr__(self) -> str:
        where = "" if self.start is None else f", outputs {self.start}:{self.end}"
        dep = "" if self.depends_on is None else f", depends_on={self.dependency!r}"
        return f"Question({self.name!r}, {[a.name for a in self.answers]!r}{dep}{where})"


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
        self.name = _check_name(name, "schema name")
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

    # -- files ----------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` (JSON / YAML ready) from which :meth:`from_dict` rebuilds the schema."""
        from galzoo_fm.schemas.io import schema_to_dict

        return schema_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str | None = None) -> Schema:
        """Build a schema from the output of :meth:`to_dict`; see :func:`.io.schema_from_dict`."""
        from galzoo_fm.schemas.io import schema_from_dict

        return schema_from_dict(data, name=name)

    @classmethod
    def from_file(cls, path: Any) -> Schema:
        """Read a schema from a ``.json`` file, or ``.yaml`` / ``.yml`` if PyYAML is installed."""
        from galzoo_fm.schemas.io import read_schema

        return read_schema(path)

    def to_file(self, path: Any) -> None:
        """Write the schema as JSON, or as YAML for a ``.yaml`` / ``.yml`` path (needs PyYAML)."""
        from galzoo_fm.schemas.io import write_schema

        write_schema(self, path)

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
        """Vote counts ``(N, n_answers)`` from a catalogue; see :func:`.votes.votes_from_table`."""
        from galzoo_fm.schemas.votes import votes_from_table

        return votes_from_table(self, table, **kwargs)

    def vote_fractions(self, votes: Any) -> np.ndarray:
        """Observed vote fractions per question; see :func:`.predictions.vote_fractions`."""
        from galzoo_fm.schemas.predictions import vote_fractions

        return vote_fractions(self, votes)

    def expected_fractions(self, concentrations: Any) -> np.ndarray:
        """Expected vote fractions ``α_a / Σα``; see :func:`.predictions.expected_fractions`."""
        from galzoo_fm.schemas.predictions import expected_fractions

        return expected_fractions(self, concentrations)

    def asked_probability(self, concentrations: Any = None, *, fractions: Any = None) -> np.ndarray:
        """Probability each question is asked; see :func:`.predictions.asked_probability`."""
        from galzoo_fm.schemas.predictions import asked_probability

        return asked_probability(self, concentrations, fractions=fractions)

    def answer_probability(self, concentrations: Any = None, *, fractions: Any = None) -> np.ndarray:
        """Probability of each answer overall; see :func:`.predictions.answer_probability`."""
        from galzoo_fm.schemas.predictions import answer_probability

        return answer_probability(self, concentrations, fractions=fractions)

    def most_likely_answers(self, concentrations: Any) -> np.ndarray:
        """Output index of each question's most likely answer; see :mod:`galzoo_fm.schemas.predictions`."""
        from galzoo_fm.schemas.predictions import most_likely_answers

        return most_likely_answers(self, concentrations)
