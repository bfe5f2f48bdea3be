"""The :class:`Objective` contract that every pretraining / finetuning loss implements.

An objective owns the online encoder and whatever heads and EMA targets its loss needs, and declares in
class attributes what it consumes, so that a trainer runs any registered loss — built-in or third-party —
through this one interface:

* ``n_views`` — how many augmented views of each galaxy ``forward`` takes;
* ``needs_votes`` — vote counts are required;
* ``uses_votes`` — vote counts are used when given (a semi-supervised loss);
* ``has_ema_target`` — the objective keeps an exponential-moving-average target network, so the trainer
  calls :meth:`Objective.update_target` after every optimizer step.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from galzoo_fm.plugins import get_registry

__all__ = ["LossOutput", "Objective", "resolve_question_groups"]


@dataclass
class LossOutput:
    """What :meth:`Objective.forward` returns.

    Attributes
    ----------
    loss : torch.Tensor
        The scalar (0-d) loss to backpropagate.
    metrics : dict of str to float or torch.Tensor
        Named scalars for logging. Built-in objectives store detached 0-d tensors, so that computing them
        never forces a host-device synchronisation; :meth:`to_floats` converts them (one synchronisation)
        when the trainer actually logs.
    """

    loss: Tensor
    metrics: dict[str, float | Tensor] = field(default_factory=dict)

    def to_floats(self) -> dict[str, float]:
        """The metrics as plain Python floats (one device synchronisation for all tensor metrics)."""
        out = {k: float(v) for k, v in self.metrics.items() if not isinstance(v, Tensor)}
        by_device: dict[torch.device, list[str]] = {}
        for k, v in self.metrics.items():
            if isinstance(v, Tensor):
                by_device.setdefault(v.device, []).append(k)
        for names in by_device.values():
            values = torch.stack([self.metrics[k].detach().float().reshape(()) for k in names])
            out.update(zip(names, values.tolist(), strict=True))
        return {k: out[k] for k in self.metrics}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def resolve_question_groups(schema: Any) -> tuple[list[tuple[int, int]], int]:
    """Question index groups and number of answers from a schema, a schema name, or a list of groups.

    Parameters
    ----------
    schema : Schema, str or sequence of (int, int)
        An object with ``question_index_groups`` (a list of ``(start, end)`` pairs, end exclusive, one per
        question) and ``n_answers``; the name of a registered schema (see
        :func:`galzoo_fm.list_schemas`); or a plain sequence of ``(start, end)`` pairs, in which case the
        number of answers is the largest ``end``.

    Returns
    -------
    groups : list of (int, int)
        One ``(start, end)`` pair per question.
    n_answers : int
        Width of the vote / concentration vectors.

    Raises
    ------
    TypeError
        If ``schema`` is none of the above.
    ValueError
        If a group is empty, out of range, or overlaps another.
    """
    if isinstance(schema, str):

        schema = get_registry("schemas").create(schema)
    n_answers: int | None = None
    if hasattr(schema, "question_index_groups"):
        groups = schema.question_index_groups
        groups = groups() if callable(groups) else groups
        n_answers = getattr(schema, "n_answers", None)
        if not _is_int(n_answers):
            raise TypeError(f"schema {schema!r} must have an integer attribute n_answers, got {n_answers!r}")
    elif isinstance(schema, Sequence) and not isinstance(schema, str | bytes):
        groups = schema
    else:
        raise TypeError(
            "schema must be a Schema (with question_index_groups and n_answers), a registered schema name, "
            f"or a list of (start, end) answer-index pairs; got {type(schema).__name__}"
        )
    out: list[tuple[int, int]] = []
    for group in groups:
        try:
            start, end = group
        except (TypeError, ValueError):
            raise TypeError(f"question index groups must be (start, end) pairs, got {group!r}") from None
        try:
            start, end = operator.index(start), operator.index(end)
        except TypeError:
            raise TypeError(f"question index group {group!r} must hold integers") from None
        if not 0 <= start < end:
            raise ValueError(f"question index group ({start}, {end}) must satisfy 0 <= start < end")
        out.append((start, end))
    if not out:
        raise ValueError("the schema has no questions (empty question_index_groups)")
    if n_answers is None:
        n_answers = max(end for _, end in out)
    covered = sorted(out)
    for (s0, e0), (s1, e1) in itertools.pairwise(covered):
        if s1 < e0:
            raise ValueError(f"question index groups ({s0}, {e0}) and ({s1}, {e1}) overlap")
    if covered[-1][1] > n_answers:
        raise ValueError(
            f"question index group {covered[-1]} reaches past n_answers={n_answers} (end is exclusive)"
        )
    return out, int(n_answers)


class Objective(nn.Module):
    """Base class of all losses: owns the online encoder, its heads and any EMA target.

    Subclasses declare what they consume in the class attributes below, build their heads in
    ``__init__`` and implement :meth:`compute`; :meth:`forward` validates the inputs first.

    Parameters
    ----------
    encoder : torch.nn.Module
        The online encoder: maps images ``(N, C, H, W)`` to ``(N, encoder.num_features)``; becomes the
        submodule ``self.encoder`` (trained in place).
    schema : Schema, str or sequence of (int, int), optional
        The vote schema (see :func:`resolve_question_groups`); required when ``needs_votes`` or
        ``uses_votes`` is true.

    Attributes
    ----------
    n_views : int
        Number of views ``forward`` takes (class attribute).
    needs_votes : bool
        Vote counts are required (class attribute).
    uses_votes : bool
        Vote counts are used when present (class attribute; true whenever ``needs_votes`` is).
    has_ema_target : bool
        An EMA target is kept; call :meth:`update_target` after each optimizer step (class attribute).
    question_index_groups : list of (int, int) or None
        ``(start, end)`` answer indices of each question, if a schema was given.
    n_answers : int or None
        Vote vector width, if a schema was given.
    check_values : bool
        Check that votes are finite and non-negative (one host-device synchronisation per step); set to
        ``False`` when the data pipeline already guarantees it.
    """

    n_views: ClassVar[int] = 1
    needs_votes: ClassVar[bool] = False
    uses_votes: ClassVar[bool] = False
    has_ema_target: ClassVar[bool] = False

    def __init__(self, encoder: nn.Module, *, schema: Any = None):
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        nf = getattr(encoder, "num_features", None)
        if not _is_int(nf) or nf < 1:
            raise TypeError(f"encoder must have a positive integer attribute num_features, got {nf!r}")
        if not _is_int(self.n_views) or self.n_views < 1:
            raise TypeError(f"{type(self).__name__}.n_views must be a positive integer, got {self.n_views!r}")
        self.encoder = encoder
        self.question_index_groups: list[tuple[int, int]] | None = None
        self.n_answers: int | None = None
        if schema is not None:
            self.question_index_groups, self.n_answers = resolve_question_groups(schema)
        elif self.needs_votes or self.uses_votes:
            raise ValueError(
                f"{type(self).__name__} uses vote counts and needs a schema (a Schema, a registered schema "
                "name, or a list of (start, end) answer-index groups)"
            )
        self.check_values = True

    @property
    def num_features(self) -> int:
        """Width of the encoder's representation."""
        return int(self.encoder.num_features)

    # ------------------------------------------------------------------ inputs
    def validate_inputs(
        self, views: Sequence[Tensor], votes: Tensor | None
    ) -> tuple[list[Tensor], Tensor | None]:
        """Check ``views`` and ``votes`` against the declared contract.

        Returns the views as a list and the votes as a floating tensor (or ``None`` when the objective
        does not use votes or none were given).

        Raises
        ------
        TypeError
            If ``views`` is not a list/tuple of tensors or ``votes`` is not a tensor.
        ValueError
            Wrong number of views, mismatched shapes, votes missing when needed, wrong vote width, or
            (with ``check_values``) negative / non-finite votes.
        """
        name = type(self).__name__
        if isinstance(views, Tensor) or not isinstance(views, Sequence):
            raise TypeError(f"{name} takes views as a list of {self.n_views} tensors (N, C, H, W)")
        views = list(views)
        if len(views) != self.n_views:
            raise ValueError(f"{name} takes {self.n_views} view(s) per galaxy, got {len(views)}")
        for i, view in enumerate(views):
            if not isinstance(view, Tensor):
                raise TypeError(f"view {i} must be a torch.Tensor, got {type(view).__name__}")
            if view.ndim != 4:
                raise ValueError(f"view {i} must have shape (N, C, H, W), got {tuple(view.shape)}")
            if view.shape[0] != views[0].shape[0]:
                raise ValueError(
                    f"all views must hold the same galaxies: view 0 has {views[0].shape[0]} images, "
                    f"view {i} has {view.shape[0]}"
                )
            if view.shape != views[0].shape:
                raise ValueError(
                    f"all views must have the same shape: view 0 is {tuple(views[0].shape)}, "
                    f"view {i} is {tuple(view.shape)}"
                )
        n = views[0].shape[0]
        if self.n_views > 1 and n < 2:
            raise ValueError(f"{name} compares galaxies within a batch and needs at least 2, got {n}")
        if votes is None:
            if self.needs_votes:
                raise ValueError(f"{name} needs vote counts (votes of shape (N, {self.n_answers})), got None")
            return views, None
        if not (self.needs_votes or self.uses_votes):
            return views, None
        if not isinstance(votes, Tensor):
            raise TypeError(f"votes must be a torch.Tensor, got {type(votes).__name__}")
        if votes.ndim != 2 or votes.shape[0] != n:
            raise ValueError(f"votes must have shape (N={n}, {self.n_answers}), got {tuple(votes.shape)}")
        if votes.shape[1] != self.n_answers:
            raise ValueError(
                f"votes have {votes.shape[1]} columns but the schema has n_answers={self.n_answers}"
            )
        if not votes.is_floating_point():
            votes = votes.float()
        if self.check_values and bool(((votes < 0) | ~torch.isfinite(votes)).any()):
            raise ValueError(
                "votes must be finite, non-negative counts (store 0 votes, not NaN, for unanswered questions)"
            )
        return views, votes

    # ------------------------------------------------------------------- API
    def forward(self, views: Sequence[Tensor], votes: Tensor | None = None) -> LossOutput:
        """Validate the inputs and compute the loss.

        Parameters
        ----------
        views : list of torch.Tensor
            ``n_views`` augmented views of the same ``N`` galaxies, each ``(N, C, H, W)``.
        votes : torch.Tensor, optional
            Vote counts ``(N, n_answers)``; zeros for unanswered questions and unlabelled galaxies.

        Returns
        -------
        LossOutput
        """
        views, votes = self.validate_inputs(views, votes)
        return self.compute(views, votes)

    def compute(self, views: list[Tensor], votes: Tensor | None) -> LossOutput:
        """Compute the loss from validated inputs; implemented by subclasses."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute(views, votes)")

    def update_target(self, step: int, total_steps: int) -> None:
        """Update the EMA target after optimizer step ``step`` of ``total_steps`` (no-op by default)."""

    def optimizer_parameters(self) -> Iterable[nn.Parameter]:
        """Parameters the optimizer should train: every parameter with ``requires_grad`` (EMA targets
        are excluded because their parameters do not require gradients)."""
        return [p for p in self.parameters() if p.requires_grad]

    def lr_scales(self) -> dict[int, float]:
        """Learning-rate multipliers ``{id(parameter): factor}`` for parameters that train at a different
        rate (e.g. a BYOL predictor, Tian et al. 2021); empty by default (every parameter at the base rate)."""
        return {}
