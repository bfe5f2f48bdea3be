"""Text and JSON descriptions of the registered releases, for ``galzoo-fm datasets list`` and ``info``."""

from __future__ import annotations

import json
import os
import textwrap

from galzoo_fm.datasets.public.base import Release, open_release
from galzoo_fm.datasets.public.download import _human, release_dir, status

__all__ = ["describe_dataset", "describe_datasets", "open_release"]


def _state(release: Release, data: str | os.PathLike | None) -> str:
    states = [s.state for s in status(release, release_dir(release, data))]
    if not states:
        return "no files listed"
    if all(s == "ok" for s in states):
        return "downloaded"
    if all(s == "missing" for s in states):
        return "not downloaded"
    return f"{sum(s in ('ok', 'unverified') for s in states)}/{len(states)} files"


def describe_datasets(pattern: str | None = None, *, data: str | os.PathLike | None = None,
                      as_json: bool = False) -> str:
    """One line per registered release: name, title, schema, size and its state in the data folder.

    Parameters
    ----------
    pattern : str, optional
        Shell-style filter on names.
    data : path, optional
        The data folder (default :func:`~galzoo_fm.datasets.public.download.data_dir`).
    as_json : bool
        A JSON list instead of text.
    """
    from galzoo_fm.plugins import get_registry

    rows = []
    for name in get_registry("datasets").names(pattern):
        release = open_release(name)
        rows.append({"name": name, "title": release.title, "schema": release.schema,
                     "size": release.size_on_disk, "state": _state(release, data),
                     "folder": str(release_dir(release, data))})
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return "no datasets" + (f" matching {pattern!r}" if pattern else "")
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        r["schema"] = r["schema"] or "-"  # an unlabelled release
    ws = max(len(r["schema"]) for r in rows)
    wt = max(len(r["state"]) for r in rows)
    return "\n".join(f"{r['name']:<{w}}  {r['schema']:<{ws}}  {r['state']:<{wt}}  {r['title']} [{r['size']}]"
                     for r in rows)


def describe_dataset(release: Release | str, *, data: str | os.PathLike | None = None) -> str:
    """Everything about one release: description, citation, licence, schema, and each file with its state.

    ``release`` is a :class:`~galzoo_fm.datasets.public.Release` or a registered name
    (:func:`~galzoo_fm.datasets.public.open_release`).
    """
    release = open_release(release)
    folder = release_dir(release, data)
    lines = [f"{release.name}: {release.title}", ""]
    lines += [*textwrap.wrap(release.description, 100), ""] if release.description else []
    schema = (f"{release.schema} (vote columns {{question}}_{{answer}}; `galzoo-fm schemas {release.schema}`)"
              if release.schema else "none (unlabelled: no vote columns)")
    lines += [f"schema:   {schema}", f"bands:    {', '.join(release.bands)}"
              + (f"; {release.pixscale} arcsec/pixel" if release.pixscale else ""),
              f"size:     {release.size_on_disk}", f"licence:  {release.licence}",
              f"homepage: {release.homepage}", "cite:"]
    lines += ["  " + line for line in release.citation.splitlines() if line.strip()]
    lines += ["", f"files (in {folder}):"]
    for f, s in zip(release.files, status(release, folder), strict=True):
        state = s.state if s.state != "partial" else f"partial, {_human(s.nbytes)}"
        opt = "" if f.required else ", optional"
        lines.append(f"  {f.name}  [{state}{opt}]  {_human(f.size)}  {f.checksum or 'no published checksum'}")
        lines.append(f"      {f.url}")
        if f.description:
            lines.append(f"      {f.description}")
    lines += ["", f"Without network, place the files at the paths above (folder {folder}) and run "
              f"`galzoo-fm datasets prepare {release.name} --out STORE --no-download`."]
    return "\n".join(lines)
