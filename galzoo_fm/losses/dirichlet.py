"""Dirichlet-multinomial loss for Galaxy Zoo vote counts.

Each Galaxy Zoo question is answered by a varying number of volunteers. Following Walmsley et al.
(2022, MNRAS 509, 3966, "Galaxy Zoo DECaLS", arXiv 2102.08414) and Walmsley et al. (2022, arXiv
2206.11927), the model predicts Dirichlet concentrations ``α`` for the answers of each question and the
votes ``k`` are scored by the Dirichlet-multinomial likelihood; the loss is its negative logarithm summed
over questions. A question nobody answered (``N = Σ k = 0``) contributes exactly 0 and no gradient, which
is how unknown answers and other campaigns' questions drop out.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor, nn

from galzoo_fm.losses.base import LossOutput, Objective, resolve_question_groups
from galzoo_fm.losses.heads import DirichletHead

__all__ = [
    "DirichletObjective",
    "dirichlet_loss",
    "dirichlet_multinomial_nll",
    "expected_vote_fractions",
]


def _check_pair(concentrations: Tensor, counts: Tensor) -> None:
    for what, t in (("concentrations", concentrations), ("counts", counts)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim < 1:
            raise ValueError(f"{what} must have at least one dimension (answers last), got a scalar")
    if concentrations.shape != counts.shape:
        raise ValueError(
            f"concentrations {tuple(concentrations.shape)} and counts {tuple(counts.shape)} must have the "
            "same shape"
        )


def _check_concentrations(concentrations: Tensor) -> None:
    """Concentrations must be positive and finite (one host-device synchronisation)."""
    bad = ~((concentrations > 0) & torch.isfinite(concentrations))
    if bool(bad.any()):
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"concentrations must be positive and finite; found {concentrations[first].item()!r} at index "
            f"{first} ({int(bad.sum())} bad values). Use a head with a positive activation such as "
            "1 + 100·sigmoid(x) (galzoo_fm.losses.heads.DirichletHead)"
        )


def _compute_dtype(t: Tensor) -> torch.dtype:
    # float32 at least (bf16/fp16 lgamma differences are far too coarse); float64 stays float64
    return torch.promote_types(t.dtype, torch.float32) if t.is_floating_point() else torch.float32


def _nll(alpha: Tensor, k: Tensor, mask: Tensor | None = None) -> Tensor:
    """−log p over the last axis; ``mask`` (broadcastable, bool) selects the answers that exist."""
    lg = torch.lgamma
    per_answer = lg(k + 1) + lg(alpha) - lg(k + alpha)
    if mask is not None:
        alpha = alpha * mask  # padded answers have k = 0, so their per-answer term is exactly 0
    n = k.sum(-1)
    a = alpha.sum(-1)
    log_p = lg(n + 1) + lg(a) - lg(n + a) - per_answer.sum(-1)
    # exactly 0 and zero gradient (torch.where routes no gradient to the unselected branch)
    return torch.where(n > 0, -log_p, torch.zeros_like(log_p))


def dirichlet_multinomial_nll(concentrations: Tensor, counts: Tensor, *, validate: bool = True) -> Tensor:
    r"""Negative log Dirichlet-multinomial probability of vote counts for one question.

    .. math::

        -\log p(k \mid \alpha) = -\Big[\ln\Gamma(N+1) + \ln\Gamma(A) - \ln\Gamma(N+A)
            - \sum_a \big(\ln\Gamma(k_a+1) + \ln\Gamma(\alpha_a) - \ln\Gamma(k_a+\alpha_a)\big)\Big]

    with :math:`N = \sum_a k_a` and :math:`A = \sum_a \alpha_a`. Rows with :math:`N = 0` give exactly 0
    and exactly zero gradient. Computed in float32 (float64 inputs stay float64) with autocast disabled,
    so bf16 autocast upstream does not degrade it.

    Parameters
    ----------
    concentrations : torch.Tensor
        Positive Dirichlet concentrations, shape ``(N, A)`` (any leading shape; answers on the last axis).
    counts : torch.Tensor
        Non-negative vote counts, same shape.
    validate : bool
        Check that the concentrations are positive and finite (one host-device synchronisation); raise
        ``ValueError`` naming the first bad value otherwise.

    Returns
    -------
    torch.Tensor
        Shape ``(N,)``: ``−log p`` per galaxy.

    References
    ----------
    Walmsley et al. 2022, MNRAS 509, 3966 (Galaxy Zoo DECaLS), eq. 3; scipy's
    ``scipy.stats.dirichlet_multinomial.logpmf`` computes the same quantity.

    Examples
    --------
    >>> import torch
    >>> from galzoo_fm.losses import dirichlet_multinomial_nll
    >>> alpha = torch.tensor([[2.0, 3.0], [1.0, 1.0]])
    >>> votes = torch.tensor([[4.0, 1.0], [0.0, 0.0]])
    >>> dirichlet_multinomial_nll(alpha, votes)
    tensor([2.1282, 0.0000])
    """
    _check_pair(concentrations, counts)
    if validate:
        _check_concentrations(concentrations)
    dtype = _compute_dtype(concentrations)
    with torch.autocast(device_type=concentrations.device.type, enabled=False):
        return _nll(concentrations.to(dtype), counts.to(dtype))


@functools.lru_cache(maxsize=32)
def _padded_index(
    groups: tuple[tuple[int, int], ...], n_answers: int, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Index ``(Q, max_answers)`` into a vector with one extra padding column, and its validity mask.

    Cached, so that a training loop does not copy it to the device every step.
    """
    width = max(end - start for start, end in groups)
    index = torch.full((len(groups), width), n_answers, dtype=torch.long)
    for q, (start, end) in enumerate(groups):
        index[q, : end - start] = torch.arange(start, end)
    return index.to(device), (index < n_answers).to(device)


def dirichlet_loss(
    concentrations: Tensor, counts: Tensor, question_index_groups: Any, *, validate: bool = True
) -> Tensor:
    """Dirichlet-multinomial loss summed over the questions of a schema.

    All questions are evaluated at once (answers gathered into a padded ``(N, Q, max_answers)`` array), so
    the cost does not grow with the number of kernel launches per question.

    Parameters
    ----------
    concentrations : torch.Tensor
        Shape ``(N, n_answers)``, e.g. from :class:`galzoo_fm.losses.heads.DirichletHead`.
    counts : torch.Tensor
        Vote counts ``(N, n_answers)``; zeros where a question was not asked or not answered.
    question_index_groups : Schema or sequence of (int, int)
        A schema with ``question_index_groups``, or the ``(start, end)`` (end exclusive) answer indices of
        each question.
    validate : bool
        Check that the concentrations are positive and finite (one host-device synchronisation).

    Returns
    -------
    torch.Tensor
        Shape ``(N,)``: the summed ``−log p`` per galaxy (float32, or float64 for float64 inputs). A galaxy
        with no votes gives 0.

    Raises
    ------
    ValueError
        If the shapes disagree, or a question's answers lie outside ``n_answers``.

    Examples
    --------
    >>> import torch
    >>> from galzoo_fm.losses import dirichlet_loss
    >>> alpha = torch.tensor([[2.0, 3.0, 5.0, 1.0, 1.0]])
    >>> votes = torch.tensor([[4.0, 1.0, 0.0, 0.0, 0.0]])
    >>> dirichlet_loss(alpha, votes, [(0, 2), (2, 5)])
    tensor([2.1282])
    """
    _check_pair(concentrations, counts)
    if validate:
        _check_concentrations(concentrations)
    if concentrations.ndim != 2:
        raise ValueError(f"concentrations must have shape (N, n_answers), got {tuple(concentrations.shape)}")
    groups, _ = resolve_question_groups(question_index_groups)
    width = concentrations.shape[1]
    if max(end for _, end in groups) > width:
        raise ValueError(
            f"concentrations have {width} answers but the question groups reach answer index "
            f"{max(end for _, end in groups) - 1}"
        )
    dtype = _compute_dtype(concentrations)
    device = concentrations.device
    index, mask = _padded_index(tuple(groups), width, device)
    with torch.autocast(device_type=device.type, enabled=False):
        alpha = concentrations.to(dtype)
        k = counts.to(dtype)
        pad = torch.ones(alpha.shape[0], 1, dtype=dtype, device=device)
        alpha = torch.cat([alpha, pad], dim=1)[:, index]  # (N, Q, W); padding α = 1
        k = torch.cat([k, torch.zeros_like(pad)], dim=1)[:, index]  # padding k = 0
        return _nll(alpha, k, mask).sum(-1)


def expected_vote_fractions(concentrations: Tensor, question_index_groups: Any) -> Tensor:
    """Expected vote fraction of each answer, ``α_a / Σ_{a' in its question} α_a'``.

    Parameters
    ----------
    concentrations : torch.Tensor
        Shape ``(N, n_answers)``.
    question_index_groups : Schema or sequence of (int, int)
        As in :func:`dirichlet_loss`.

    Returns
    -------
    torch.Tensor
        Shape ``(N, n_answers)``; answers outside every question are NaN.
    """
    groups, _ = resolve_question_groups(question_index_groups)
    out = torch.full_like(concentrations, float("nan"), dtype=_compute_dtype(concentrations))
    alpha = concentrations.to(out.dtype)
    for start, end in groups:
        out[:, start:end] = alpha[:, start:end] / alpha[:, start:end].sum(-1, keepdim=True)
    return out


class DirichletObjective(Objective):
    """Supervised Galaxy Zoo loss: encoder → :class:`~galzoo_fm.losses.heads.DirichletHead` → Dirichlet-multinomial.

    The loss is the batch mean of :func:`dirichlet_loss` (summed over questions). Consumes one view and
    needs vote counts.

    Parameters
    ----------
    encoder : torch.nn.Module
        Online encoder, ``(N, C, H, W)`` → ``(N, num_features)``.
    schema : Schema, str or sequence of (int, int)
        Vote schema (required).
    dropout : float
        Dropout before the head's Linear layer (default 0.2, Zoobot's).
    concentration_scale : float
        ``α = min_concentration + concentration_scale·sigmoid(x)`` (default 100).
    min_concentration : float
        Default 1.

    References
    ----------
    Walmsley et al. 2022, MNRAS 509, 3966 (Galaxy Zoo DECaLS); Walmsley et al. 2022, arXiv 2206.11927.
    """

    n_views = 1
    needs_votes = True
    uses_votes = True
    has_ema_target = False

    def __init__(self, encoder: nn.Module, *, schema: Any = None, dropout: float = 0.2,
                 concentration_scale: float = 100.0, min_concentration: float = 1.0):
        super().__init__(encoder, schema=schema)
        self.head = DirichletHead(self.num_features, self.n_answers, dropout=dropout,
                                  scale=concentration_scale, min_concentration=min_concentration)

    def compute(self, views: list[Tensor], votes: Tensor | None) -> LossOutput:
        concentrations = self.head(self.encoder(views[0]))
        # the head's activation keeps α ≥ min_concentration > 0: skip the synchronising check
        per_galaxy = dirichlet_loss(concentrations, votes, self.question_index_groups, validate=False)
        loss = per_galaxy.mean()
        labelled = (votes.sum(1) > 0).float().mean()
        return LossOutput(loss, {"loss": loss.detach(), "labelled_fraction": labelled})
