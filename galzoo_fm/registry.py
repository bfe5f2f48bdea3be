"""Name → factory registries for backbones, losses, surveys and schemas.

One registry per kind of plugin item. Names are unique across plugins: a second registration of the same
name raises an error naming both plugins, so that a user never silently gets another plugin's object.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DuplicateNameError", "Registry", "RegistryEntry", "UnknownNameError"]


class DuplicateNameError(ValueError):
    """Two plugins registered the same name in one registry."""


class UnknownNameError(ValueError):
    """A name that no plugin registered; the message suggests close names and how to list them all.

    The message (``str``) points at the Python listing function (``galzoo_fm.list_surveys()``);
    ``cli_message`` at the command (```galzoo-fm surveys```).

    Attributes
    ----------
    name : str
        The unknown name.
    kind : str
        Singular noun of the registry, e.g. ``"survey"``.
    suggestions : list of str
        Close registered names, best first.
    """

    def __init__(self, name: str, kind: str, suggestions: list[str], count: int, plural: str,
                 command: str | None = None):
        self.name = name
        self.kind = kind
        self.suggestions = list(suggestions)
        self.count = count
        self.plural = plural
        self.command = command
        super().__init__(self._message(f"galzoo_fm.list_{plural}()"))

    def _message(self, listing: str) -> str:
        hint = f"; did you mean {', '.join(repr(c) for c in self.suggestions)}?" if self.suggestions else ""
        return (f"unknown {self.kind} {self.name!r}{hint} "
                f"({self.count} {self.plural} registered; list them with {listing})")

    def cli_message(self) -> str:
        """The same message for the command line: the listing command instead of the Python function."""
        return self._message(f"`{self.command}`" if self.command else f"galzoo_fm.list_{self.plural}()")


@dataclass(frozen=True)
class RegistryEntry:
    """One registered item.

    Attributes
    ----------
    name : str
        The registered name, as passed to ``get_*``.
    factory : callable
        Called with keyword arguments to build the item.
    plugin : str
        Name of the plugin that registered it.
    description : str
        One line for listings.
    metadata : dict
        Free-form extra facts declared by the plugin.
    """

    name: str
    factory: Callable[..., Any]
    plugin: str
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def _suggest(name: str, names: list[str], n: int = 5) -> list[str]:
    """Registered names close to ``name``: by spelling, then containing it, then sharing a word with it."""
    close = difflib.get_close_matches(name, names, n=n, cutoff=0.6)
    lower = name.lower()
    more = [k for k in names if lower in k.lower()]
    if not close and not more:  # 'gz_decal' -> 'decals_dr5', ...: a word of 3+ letters spelled alike
        words = [w for w in _words(name) if len(w) >= 3]
        more = [k for k in names
                if any(difflib.get_close_matches(w, _words(k), n=1, cutoff=0.8) for w in words)]
    return (close + [k for k in more if k not in close])[:n]


class Registry:
    """A mapping of names to factories, filled by plugins.

    Parameters
    ----------
    kind : str
        Singular noun used in messages, e.g. ``"backbone"``.
    plural : str, optional
        Plural noun, used to name the ``list_<plural>`` function in messages; ``kind + "s"`` by default.
    command : str, optional
        The command that lists the names (``"galzoo-fm surveys"``), named in the command-line message of an
        unknown name (``UnknownNameError.cli_message``).
    """

    def __init__(self, kind: str, plural: str | None = None, command: str | None = None):
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.command = command
        self._entries: dict[str, RegistryEntry] = {}

    def register(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        plugin: str,
        description: str = "",
        **metadata: Any,
    ) -> None:
        """Add ``name``; raise :class:`DuplicateNameError` if another registration holds it."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"plugin {plugin!r} registered a {self.kind} with an invalid name {name!r}")
        if not callable(factory):
            raise TypeError(
                f"plugin {plugin!r} registered {self.kind} {name!r} with a non-callable factory {factory!r}"
            )
        if name in self._entries:
            other = self._entries[name].plugin
            raise DuplicateNameError(
                f"{self.kind} {name!r} is registered by two plugins: {other!r} and {plugin!r}; "
                f"uninstall one of them or restrict plugins with GALZOO_FM_LOAD_PLUGINS"
            )
        self._entries[name] = RegistryEntry(name, factory, plugin, description, dict(metadata))

    def unregister_plugin(self, plugin: str) -> None:
        """Remove every entry registered by ``plugin``."""
        self._entries = {k: v for k, v in self._entries.items() if v.plugin != plugin}

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted names, optionally filtered by a shell-style ``pattern`` (``"convnext*"``)."""
        names = sorted(self._entries)
        if pattern is None:
            return names
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]

    def entry(self, name: str) -> RegistryEntry:
        """The :class:`RegistryEntry` for ``name``; unknown names raise :class:`UnknownNameError` (a
        ``ValueError``) with suggestions."""
        try:
            return self._entries[name]
        except KeyError:
            pass
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__}")
        close = _suggest(name, list(self._entries))
        raise UnknownNameError(name, self.kind, close, len(self._entries), self.plural, self.command)

    def create(self, name: str, **kwargs: Any) -> Any:
        """Build the item registered as ``name`` with ``kwargs``."""
        return self.entry(name).factory(**kwargs)

    def by_plugin(self, plugin: str) -> list[str]:
        """Names registered by one plugin."""
        return sorted(k for k, v in self._entries.items() if v.plugin == plugin)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
