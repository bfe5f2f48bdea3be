"""Questions and answers: the pieces of a Galaxy Zoo decision tree, before they are put into a schema.

A :class:`Question` has two or more :class:`Answer` objects and may depend on one answer of another
question; a :class:`~galzoo_fm.schemas.Schema` gives each answer its position in the model output and
resolves the dependencies. Each answer is one column of a vote catalogue, ``{question}_{answer}``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeAlias

__all__ = ["Answer", "DependsOn", "Question", "SchemaLike", "check_name", "suggest"]

#: How a question names the answer it depends on: an :class:`Answer`, a label column
#: (``"smooth-or-featured_featured-or-disk"``), a ``(question, answer)`` pair, or ``None`` (always asked).
DependsOn: TypeAlias = "Answer | str | tuple[str, str] | None"


def suggest(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'a', 'b'?"`` for the candidates close to ``name`` (empty if none are)."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def check_name(value: Any, what: str) -> str:
    """``value`` if it is a non-empty string without surrounding spaces; ``TypeError``/``ValueError`` naming
    ``what`` otherwise."""
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
        self.name = check_name(name, f"answer name of question {question.name!r}")
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
        self.name = check_name(name, "question name")
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


class SchemaLike(Protocol):
    """What the vote, prediction and file functions read of a :class:`~galzoo_fm.schemas.Schema`.

    For type annotations only: those modules sit below ``schemas.base`` and must not import it.
    """

    name: str
    description: str

    @property
    def questions(self) -> list[Question]: ...

    @property
    def question_order(self) -> tuple[Question, ...]: ...

    @property
    def answers(self) -> list[Answer]: ...

    @property
    def n_questions(self) -> int: ...

    @property
    def n_answers(self) -> int: ...

    @property
    def question_index_groups(self) -> list[tuple[int, int]]: ...

    @property
    def label_cols(self) -> list[str]: ...

    @property
    def answer_question_index(self) -> Any: ...
