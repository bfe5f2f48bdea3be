"""galzoo_fm: galaxy foundation models for astronomical catalogues.

Fetch survey cutouts, pretrain encoders on Galaxy Zoo votes and augmentation invariance, and embed
catalogues on GPU. Backbones, losses, surveys, label schemas and public datasets are plugins (see
:mod:`galzoo_fm.plugins`).
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from galzoo_fm.hookspecs import hookimpl

try:
    __version__ = importlib.metadata.version("galzoo-fm")
except importlib.metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Encoder",
    "__version__",
    "get_backbone",
    "get_dataset",
    "get_loss",
    "get_schema",
    "get_survey",
    "hookimpl",
    "list_backbones",
    "list_datasets",
    "list_losses",
    "list_schemas",
    "list_surveys",
]


def __getattr__(name: str) -> Any:
    # the Encoder pulls in torch and timm: import it on first use so that `galzoo-fm --help` stays fast
    if name == "Encoder":
        from galzoo_fm.models.encoder import Encoder

        return Encoder
    raise AttributeError(f"module 'galzoo_fm' has no attribute {name!r}")


def _names(kind: str, pattern: str | None) -> list[str]:
    from galzoo_fm.plugins import get_registry

    return get_registry(kind).names(pattern)


def list_backbones(pattern: str | None = None) -> list[str]:
    """Names of registered backbones, sorted, optionally filtered by a shell pattern (``"convnext*"``)."""
    return _names("backbones", pattern)


def list_losses(pattern: str | None = None) -> list[str]:
    """Names of registered losses, sorted, optionally filtered by a shell pattern."""
    return _names("losses", pattern)


def list_surveys(pattern: str | None = None) -> list[str]:
    """Names of registered surveys, sorted, optionally filtered by a shell pattern."""
    return _names("surveys", pattern)


def list_schemas(pattern: str | None = None) -> list[str]:
    """Names of registered label schemas, sorted, optionally filtered by a shell pattern."""
    return _names("schemas", pattern)


def list_datasets(pattern: str | None = None) -> list[str]:
    """Names of registered public data releases (``galzoo-fm datasets list``), sorted, optionally filtered."""
    return _names("datasets", pattern)


def get_dataset(name: str, **kwargs: Any):
    """The public data release registered as ``name``: a :class:`galzoo_fm.datasets.public.Release`.

    Download it with :func:`galzoo_fm.datasets.public.download` and turn it into a training set with
    :func:`galzoo_fm.datasets.public.prepare`. Unknown names raise ``ValueError`` suggesting close names.
    """
    from galzoo_fm.plugins import get_registry

    return get_registry("datasets").create(name, **kwargs)


def get_backbone(name: str, **kwargs: Any):
    """Build a registered backbone: a module mapping ``(N, in_chans, H, W)`` to ``(N, num_features)``.

    Keyword arguments are those of :func:`galzoo_fm.models.backbones.build_backbone` (``in_chans``,
    ``image_size``, ``pretrained``) plus any the backbone's factory takes. Unknown names raise
    ``ValueError`` suggesting close names.
    """
    from galzoo_fm.models.backbones.base import build_backbone

    return build_backbone(name, **kwargs)


def get_loss(name: str, **kwargs: Any):
    """Build the loss registered as ``name`` with ``kwargs``."""
    from galzoo_fm.plugins import get_registry

    return get_registry("losses").create(name, **kwargs)


def get_survey(name: str, **kwargs: Any):
    """Build the survey registered as ``name`` with ``kwargs`` (its options)."""
    from galzoo_fm.plugins import get_registry

    return get_registry("surveys").create(name, **kwargs)


def get_schema(name: str, **kwargs: Any):
    """Build the label schema registered as ``name`` with ``kwargs``."""
    from galzoo_fm.plugins import get_registry

    return get_registry("schemas").create(name, **kwargs)
