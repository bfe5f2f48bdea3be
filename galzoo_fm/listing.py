"""Text and JSON descriptions of plugins and registries, for the command line."""

from __future__ import annotations

import json

from galzoo_fm.plugins import KINDS, get_registry, plugin_info

__all__ = ["describe_plugins", "describe_registry"]

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
