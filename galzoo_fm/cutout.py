"""The shared vocabulary of the cutout stages: one cutout, and the outcome of one catalogue row.

Surveys make :class:`Cutout` objects, the store keeps their :class:`Status`, and every output table
carries it per row. This module sits at the bottom of the package: it imports nothing of galzoo_fm.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from astropy.wcs import WCS

__all__ = ["Cutout", "Status"]


class Status(enum.StrEnum):
    """Outcome of one catalogue row.

    ``ok``: full coverage; ``partial``: some pixels or bands have no data (kept, zero-filled);
    ``off_footprint``: the survey has no data there (no pixels stored); ``failed``: the service kept
    failing or answered garbage (retried by a later run); ``invalid``: the catalogue position is NaN or out
    of range (never sent to a service).
    """

    OK = "ok"
    PARTIAL = "partial"
    OFF_FOOTPRINT = "off_footprint"
    FAILED = "failed"
    INVALID = "invalid"

    @property
    def has_pixels(self) -> bool:
        """Whether a cutout with this status carries pixel data."""
        return self in (Status.OK, Status.PARTIAL)


@dataclass
class Cutout:
    """One cutout, or the reason there is none.

    Attributes
    ----------
    status : Status
        Outcome.
    data : numpy.ndarray or None
        ``(C, H, W)`` float32 pixels on the survey's band order; ``None`` without pixels.
    wcs : astropy.wcs.WCS or None
        Celestial WCS of the ``(H, W)`` grid (pixel ``(0, 0)`` is ``data[:, 0, 0]``).
    reason : str
        Why the status is not ``ok``; for an ``ok`` cutout empty, or a note of what was changed (an image
        file resized or converted to the store's geometry: :mod:`galzoo_fm.images`).
    extras : dict
        Further ``(C, H, W)`` planes, e.g. ``{"invvar": ...}``.
    """

    status: Status
    data: np.ndarray | None = None
    wcs: WCS | None = None
    reason: str = ""
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def failed(cls, reason: str) -> Cutout:
        """A ``failed`` cutout with ``reason``."""
        return cls(Status.FAILED, reason=reason)
