"""Hook specifications of the ``galzoo_fm`` plugin system.

Every hook takes a ``register`` callback (the pattern of ``llm`` and ``tox``): a plugin calls it once per
thing it provides. Built-in backbones, losses, surveys, schemas and datasets are registered through these same
hooks, so built-in and third-party plugins are indistinguishable to the rest of the package.

A third-party package exposes its plugin module through the ``galzoo_fm`` entry-point group::

    [project.entry-points.galzoo_fm]
    myplugin = "my_package.plugin"

and implements any of the hooks below with :data:`galzoo_fm.hookimpl`.

Every ``galzoo-fm`` command, ``--help`` included, imports every plugin module (to find its commands), so a
plugin module should import nothing heavy at module level: register factories that import torch and the
model or loss classes when they are called, and declare a loss's metadata (``n_views``, ``needs_votes``,
...) in ``register`` rather than reading it from the class. The built-in plugins and the example plugin
(``examples/plugins/galzoo-fm-example``) are written this way. The hooks themselves are called when their
kind of registry is first used: ``register_backbones`` when backbones are listed or built, and so on.
"""

from __future__ import annotations

import pluggy

__all__ = [
    "hookimpl",
    "hookspec",
    "register_backbones",
    "register_commands",
    "register_datasets",
    "register_losses",
    "register_schemas",
    "register_surveys",
]

hookspec = pluggy.HookspecMarker("galzoo_fm")
#: Decorator for plugin hook implementations, re-exported as ``galzoo_fm.hookimpl``.
hookimpl = pluggy.HookimplMarker("galzoo_fm")


@hookspec
def register_backbones(register):
    """Register image backbones.

    Parameters
    ----------
    register : callable
        ``register(name, factory, *, description="", **metadata)``. ``factory(*, in_chans, image_size=None,
        pretrained=None, **kwargs)`` returns a :class:`torch.nn.Module` whose ``forward`` maps images
        ``(N, in_chans, H, W)`` to pooled features ``(N, num_features)`` and which has an integer
        attribute ``num_features``.
    """


@hookspec
def register_losses(register):
    """Register pretraining / finetuning losses.

    Parameters
    ----------
    register : callable
        ``register(name, factory, *, description="", **metadata)``; ``factory(**kwargs)`` returns the
        loss object. A loss declares what it consumes (number of views, whether it needs vote labels,
        whether it keeps an EMA target) so the trainer can run it unchanged.
    """


@hookspec
def register_surveys(register):
    """Register imaging surveys (cutout sources).

    Parameters
    ----------
    register : callable
        ``register(name, factory, *, description="", **metadata)``; ``factory(**options)`` returns a
        survey object that turns sky positions into cutouts.
    """


@hookspec
def register_schemas(register):
    """Register Galaxy Zoo label schemas (decision trees).

    Parameters
    ----------
    register : callable
        ``register(name, factory, *, description="", **metadata)``; ``factory(**kwargs)`` returns a schema.
    """


@hookspec
def register_datasets(register):
    """Register public data releases (downloadable, ready-to-train datasets).

    Parameters
    ----------
    register : callable
        ``register(name, factory, *, description="", **metadata)``; ``factory()`` returns a
        :class:`galzoo_fm.datasets.public.Release` whose ``name`` is ``name``.
    """


@hookspec
def register_commands(cli):
    """Add subcommands to the ``galzoo-fm`` command line.

    Parameters
    ----------
    cli : click.Group
        The top-level command group; decorate new commands with ``@cli.command()``.
    """
