"""Listing registered surveys with their bands, layers, pixel scale, size limit and options (``galzoo-fm surveys``).

The options are those the survey class declares (:meth:`Survey.info() <galzoo_fm.surveys.Survey.info>`,
from :meth:`Survey.option_settings() <galzoo_fm.surveys.Survey.option_settings>`); a plugin survey that
declares none is listed without them.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from galzoo_fm.plugins import get_registry

__all__ = ["describe_surveys", "survey_info"]


def survey_info(name: str) -> dict[str, Any]:
    """Facts about a registered survey: registration metadata, else the factory's ``info()``."""

    entry = get_registry("surveys").entry(name)
    info: dict[str, Any] = {"name": name, "plugin": entry.plugin, "description": entry.description}
    static = getattr(entry.factory, "info", None)
    if callable(static):
        try:
            info.update({k: v for k, v in static().items() if k != "name" and v not in (None, "", [])})
        except Exception:  # a third-party factory with an unusual info(): list it anyway
            pass
    info.update(entry.metadata)
    info["description"] = entry.description or info.get("description", "")
    return info


def _fmt(value: Any) -> str:
    if value is None or value == [] or value == "":
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def _options(options: Any) -> list[str]:
    """``name=default`` (or ``name``) of each declared option, wrapped into lines."""
    if not isinstance(options, list) or not options:
        return []
    words = []
    for option in options:
        if not isinstance(option, dict) or "name" not in option:
            return []
        default = option.get("default")
        default = str(default).lower() if isinstance(default, bool) else default  # as on the command line
        words.append(str(option["name"]) if default is None else f"{option['name']}={_fmt(default)}")
    return textwrap.wrap("options: " + " ".join(words), 116, initial_indent="  ", subsequent_indent="    ",
                         break_on_hyphens=False, break_long_words=False)


def describe_surveys(pattern: str | None = None, *, as_json: bool = False) -> str:
    """Text (or JSON) listing of the registered surveys matching a shell ``pattern``."""

    infos = [survey_info(n) for n in get_registry("surveys").names(pattern)]
    if as_json:
        return json.dumps(infos, indent=2, default=str)
    if not infos:
        return f"no surveys{f' matching {pattern!r}' if pattern else ''}"
    lines = []
    for info in infos:
        lines.append(f"{info['name']}  [{info['plugin']}]  {info.get('description', '')}")
        bands = _fmt(info.get("bands")) if info.get("bands") else info.get("bands_note") or "-"
        scale = f"{info['pixscale']}\"/px" if info.get("pixscale") else "set by pixscale= or the data"
        lines.append(f"  bands: {bands}   pixel scale: {scale}   max size: {_fmt(info.get('max_size'))} px")
        if info.get("bands") and info.get("bands_note"):
            lines.append(f"  per layer: {info['bands_note']}")
        if info.get("layers"):
            lines.append(f"  layers: {_fmt(info['layers'])}")
        lines.extend(_options(info.get("options")))
    return "\n".join(lines)
