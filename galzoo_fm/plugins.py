"""The plugin manager: built-in plugins, entry-point discovery and the registries they fill.

Plugins are found in two places:

* the built-in modules listed in :data:`BUILTIN_PLUGINS`, always loaded;
* the ``galzoo_fm`` entry-point group of installed distributions. The environment variable
  ``GALZOO_FM_LOAD_PLUGINS`` (a comma-separated list of entry-point or distribution names) restricts
  which of these load; set it to an empty string to load none.

A plugin that fails to import, or whose hook raises, is reported with a :class:`PluginLoadWarning` and in
:func:`plugin_info` (``galzoo-fm plugins``); the other plugins load normally. Two plugins that register the
same name raise :class:`~galzoo_fm.registry.DuplicateNameError` naming both.

:func:`describe_plugins` and :func:`describe_registry` word these for the command line (``galzoo-fm
plugins``, ``galzoo-fm backbones``, ...).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from functools import partial
from types import ModuleType
from typing import Any

import pluggy

import galzoo_fm.hookspecs as hookspecs
from galzoo_fm.registry import DuplicateNameError, Registry

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "KINDS",
    "PluginInfo",
    "PluginLoadWarning",
    "add_plugin_commands",
    "describe_plugins",
    "describe_registry",
    "get_plugin_manager",
    "get_registry",
    "plugin_info",
    "register_plugin",
    "reset",
    "unregister_plugin",
]

ENTRY_POINT_GROUP = "galzoo_fm"
LOAD_ENV = "GALZOO_FM_LOAD_PLUGINS"
#: The kinds of registry, each filled by the hook ``register_<kind>``.
KINDS = ("backbones", "losses", "surveys", "schemas", "datasets")
_SINGULAR = {"backbones": "backbone", "losses": "loss", "surveys": "survey", "schemas": "schema",
             "datasets": "dataset"}
#: The command that lists each kind, named in command-line messages about an unknown name.
_LISTING = {"backbones": "galzoo-fm backbones", "losses": "galzoo-fm losses", "surveys": "galzoo-fm surveys",
            "schemas": "galzoo-fm schemas", "datasets": "galzoo-fm datasets list"}
#: Modules that make up the built-in plugins, registered through the same hooks as third-party ones.
BUILTIN_PLUGINS = (
    "galzoo_fm.models.backbones.timm_backbones",
    "galzoo_fm.losses.builtin",
    "galzoo_fm.schemas.builtin",
    "galzoo_fm.surveys.builtin",
    "galzoo_fm.datasets.sim.builtin",
    "galzoo_fm.datasets.public.builtin",
)


class PluginLoadWarning(UserWarning):
    """A plugin could not be imported, or one of its hooks raised."""


@dataclass
class PluginInfo:
    """What is known about one plugin.

    Attributes
    ----------
    name : str
        Plugin name (the entry-point name, or the module name of a built-in plugin).
    source : str
        ``"builtin"``, ``"entry point"`` or ``"registered"`` (added at run time).
    module : str
        Import path of the plugin module.
    distribution : str or None
        The installed distribution that provides it.
    version : str or None
        That distribution's version.
    error : str or None
        Why the plugin, or one of its hooks, failed.
    registered : dict
        ``{kind: [names]}`` for each kind of registry.
    """

    name: str
    source: str
    module: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)


class _State:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        #: the registries filled so far, by kind
        self.registries: dict[str, Registry] = {}


_lock = threading.RLock()
_state: _State | None = None


def _package_version() -> str | None:
    try:
        return importlib.metadata.version("galzoo-fm")
    except importlib.metadata.PackageNotFoundError:
        return None


def _report(info: PluginInfo, what: str, exc: BaseException) -> None:
    info.error = f"{what}: {type(exc).__name__}: {exc}"
    warnings.warn(
        f"galzoo_fm plugin {info.name!r} ({info.module}) failed and was skipped: {info.error}",
        PluginLoadWarning,
        stacklevel=3,
    )


def _allowed_entry_points() -> set[str] | None:
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _load(state: _State) -> None:
    version = _package_version()
    for modname in BUILTIN_PLUGINS:
        info = PluginInfo(modname, "builtin", modname, "galzoo-fm", version)
        state.infos[modname] = info
        try:
            state.pm.register(importlib.import_module(modname), name=modname)
        except Exception as exc:  # a broken built-in must not take the package down either
            _report(info, "import failed", exc)
    allowed = _allowed_entry_points()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else None
        if allowed is not None and ep.name not in allowed and (dist is None or dist not in allowed):
            continue
        if ep.name in state.infos:
            continue  # the same distribution seen twice on sys.path
        info = PluginInfo(ep.name, "entry point", ep.value, dist, ep.dist.version if ep.dist else None)
        state.infos[ep.name] = info
        try:
            state.pm.register(ep.load(), name=ep.name)
        except Exception as exc:
            _report(info, "import failed", exc)
    _drop_unknown_hooks(state)


def _drop_unknown_hooks(state: _State) -> None:
    """Skip, as a whole and with a warning, each plugin that implements a hook no specification declares
    (a typo such as ``register_loss``, or a hook of a newer galzoo_fm): ``pluggy``'s ``check_pending``."""
    while True:
        try:
            state.pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = state.pm.get_name(exc.plugin)
            state.pm.unregister(exc.plugin)
            info = state.infos.get(name)
            if info is None:  # not one of ours (cannot happen through _load); do not loop forever
                raise
            _report(info, "unknown hook", exc)


def _fill_kind(state: _State, kind: str) -> Registry:
    """Call every plugin's ``register_<kind>`` hook into a new registry of that kind.

    Kinds are filled one at a time, on first use, so that listing surveys does not call the backbone hooks
    (the built-in one imports timm, and with it torch).
    """
    registry = Registry(_SINGULAR[kind], kind, _LISTING[kind])
    hook = getattr(state.pm.hook, f"register_{kind}")
    # call each plugin's implementation on its own, so that we know who registered what and
    # one plugin's failure does not stop the others
    for impl in hook.get_hookimpls():  # registration order: built-ins first
        info = state.infos.get(impl.plugin_name)
        if info is None or info.error is not None:
            continue
        try:
            impl.function(register=partial(registry.register, plugin=impl.plugin_name))
        except DuplicateNameError:
            raise
        except Exception as exc:
            registry.unregister_plugin(impl.plugin_name)
            # a failed plugin is skipped as a whole, whichever kind was filled first
            for other in state.registries.values():
                other.unregister_plugin(impl.plugin_name)
            info.registered = {}
            _report(info, f"register_{kind} raised", exc)
            info.error += "\n" + traceback.format_exc(limit=3)
    for info in state.infos.values():
        names = registry.by_plugin(info.name)
        if names:
            info.registered[kind] = names
        else:
            info.registered.pop(kind, None)
    return registry


def _get_state() -> _State:
    global _state
    with _lock:
        if _state is None:
            state = _State()
            _load(state)
            _state = state
        return _state


def get_plugin_manager() -> pluggy.PluginManager:
    """The :class:`pluggy.PluginManager` of ``galzoo_fm``, with all plugins loaded."""
    return _get_state().pm


def get_registry(kind: str) -> Registry:
    """The registry of one kind (``"backbones"``, ``"losses"``, ``"surveys"``, ``"schemas"`` or ``"datasets"``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown registry kind {kind!r}; expected one of {', '.join(KINDS)}")
    with _lock:
        state = _get_state()
        if kind not in state.registries:
            state.registries[kind] = _fill_kind(state, kind)
        return state.registries[kind]


def plugin_info() -> list[PluginInfo]:
    """Every plugin found, loaded or failed, with what it registered."""
    for kind in KINDS:
        get_registry(kind)
    return list(_get_state().infos.values())


def register_plugin(plugin: ModuleType | Any, name: str | None = None) -> str:
    """Register a plugin object (a module or any object with hook implementations) at run time.

    Useful in notebooks and tests; installed packages should use the ``galzoo_fm`` entry-point group.
    Returns the name it was registered under.
    """
    with _lock:
        state = _get_state()
        name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
        if name in state.infos:
            raise ValueError(f"a plugin named {name!r} is already registered")
        state.pm.register(plugin, name=name)
        module = getattr(plugin, "__name__", type(plugin).__name__)
        state.infos[name] = PluginInfo(name, "registered", module)
        state.registries = {}
        try:
            for kind in KINDS:
                get_registry(kind)
        except Exception:
            unregister_plugin(name)
            raise
        return name


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with :func:`register_plugin` (or any loaded plugin) by name."""
    with _lock:
        state = _get_state()
        if name not in state.infos:
            raise ValueError(f"no plugin named {name!r}; loaded plugins: {', '.join(state.infos)}")
        if state.pm.get_plugin(name) is not None:
            state.pm.unregister(name=name)
        del state.infos[name]
        state.registries = {}


def reset() -> None:
    """Forget all plugins; they are discovered again on next use (re-reads ``GALZOO_FM_LOAD_PLUGINS``)."""
    global _state
    with _lock:
        _state = None


def add_plugin_commands(cli: Any) -> None:
    """Call every plugin's ``register_commands(cli)``; a failing plugin is reported, not fatal.

    A command whose name the group holds already (a built-in command, or an earlier plugin's) is not
    replaced: the one there is kept and the plugin's is reported with a :class:`PluginLoadWarning`. The
    command line runs its built-in commands without loading the plugins, so a plugin's command of the same
    name could not be relied on anyway.

    Parameters
    ----------
    cli : click.Group
        The group to add the commands to.
    """
    state = _get_state()
    for impl in state.pm.hook.register_commands.get_hookimpls():
        info = state.infos.get(impl.plugin_name)
        if info is None or info.error is not None:
            continue
        before = dict(getattr(cli, "commands", {}))
        try:
            impl.function(cli=cli)
        except Exception as exc:
            _report(info, "register_commands raised", exc)
        for name, command in before.items():
            if cli.commands.get(name) is not command:
                cli.commands[name] = command
                warnings.warn(f"galzoo_fm plugin {info.name!r} ({info.module}) adds a command {name!r}, which "
                              "exists already; the existing command is kept", PluginLoadWarning, stacklevel=2)


# -- descriptions for the command line (`galzoo-fm plugins`, `galzoo-fm backbones`, ...) -----------------
_SHOW = 6  # names shown per kind before "... and N more"


def describe_plugins(*, as_json: bool = False, verbose: bool = False) -> str:
    """Every plugin: name, source, version, what it registered, and its error if it failed.

    Parameters
    ----------
    as_json : bool
        Return a JSON list (all names, machine-readable) instead of text.
    verbose : bool
        In text, list every registered name rather than the first few of each kind.
    """
    infos = plugin_info()
    if as_json:
        return json.dumps(
            [
                {
                    "name": i.name,
                    "source": i.source,
                    "module": i.module,
                    "distribution": i.distribution,
                    "version": i.version,
                    "error": i.error,
                    "registered": i.registered,
                }
                for i in infos
            ],
            indent=2,
        )
    lines = []
    for info in infos:
        dist = f"{info.distribution} {info.version}" if info.distribution else "no distribution"
        lines.append(f"{info.name}  [{info.source}; {dist}; {info.module}]")
        if info.error:
            lines.append(f"  FAILED: {info.error.splitlines()[0]}")
        for kind in KINDS:
            names = info.registered.get(kind, [])
            if not names:
                continue
            shown = names if verbose else names[:_SHOW]
            more = f" ... and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
            lines.append(f"  {kind} ({len(names)}): {', '.join(shown)}{more}")
        if not info.error and not info.registered:
            lines.append("  (registers no backbones, losses, surveys, schemas or datasets; may add commands)")
    return "\n".join(lines)


def describe_registry(kind: str, pattern: str | None = None, *, as_json: bool = False) -> str:
    """Names registered in one registry, with the plugin that registered each.

    Parameters
    ----------
    kind : {"backbones", "losses", "surveys", "schemas", "datasets"}
        Which registry.
    pattern : str, optional
        Shell-style filter, e.g. ``"convnext*"``.
    as_json : bool
        Return JSON instead of text.
    """
    registry = get_registry(kind)
    names = registry.names(pattern)
    entries = [registry.entry(n) for n in names]
    if as_json:
        return json.dumps([{"name": e.name, "plugin": e.plugin, "description": e.description} for e in entries])
    if not entries:
        where = f" matching {pattern!r}" if pattern else ""
        return f"no {kind}{where}"
    width = max(len(e.name) for e in entries)
    return "\n".join(f"{e.name:<{width}}  {e.plugin}" for e in entries)
