"""Survey options declared once, with the package's settings layer (:mod:`galzoo_fm._utils.settings`).

A survey class lists the keyword options it adds in its ``options`` class attribute, ``{name: Setting}``;
:meth:`Survey.option_settings() <galzoo_fm.surveys.Survey.option_settings>` merges them with those of its
bases (an HTTP survey inherits ``server``, ``cache_dir``, ``timeout``, ``retries``, ``backoff``,
``max_wait`` and ``per_host`` from :class:`~galzoo_fm.surveys.HTTPSurvey`). From that one declaration come
the validation and defaults (:meth:`Survey.resolve_options <galzoo_fm.surveys.Survey.resolve_options>`), the
``options`` of ``Survey.info()`` that ``galzoo-fm surveys`` lists, and the options section of the class
docstring (an ``{options}`` line).

Values from the command line (``--survey-opt key=value``) arrive as strings: the declarations below convert
them exactly as the ``parse_*`` helpers of :mod:`galzoo_fm.surveys.base` do (``"0.5"`` → 0.5, ``"yes"`` →
True, ``"grz"`` → ``("g", "r", "z")``) and raise their messages (``option pixscale='x' is not a number``).

A constructor keeps its keyword parameters, each defaulting to :data:`DEFAULT` ("not given"), and hands
them to ``resolve_options``, which fills the declared defaults::

    class MySurvey(HTTPSurvey):
        options = {"pixscale": number(0.262, "Arcsec per pixel.")}

        def __init__(self, pixscale=DEFAULT, **http_options):
            super().__init__(**http_options)
            self.pixscale = self.resolve_options(pixscale=pixscale)["pixscale"]

A survey that declares no options validates its own, with the ``parse_*`` helpers below (also importable
from :mod:`galzoo_fm.surveys.base`), as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from galzoo_fm._utils.settings import Setting

__all__ = ["DEFAULT", "band_list", "boolean", "integer", "number", "parse_bands", "parse_bool", "parse_float",
           "parse_int", "text"]


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


#: The default of a survey constructor's parameter: "not given", the declared default applies.
DEFAULT: Any = _Default()


# ------------------------------------------------------------- the conversions of strings
def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else value


def parse_bands(value: str | Iterable[str] | None, allowed: Sequence[str] | None = None, *, what: str = "band"
                ) -> tuple[str, ...] | None:
    """Band names from ``"grz"``, ``"g,r,z"`` or a list; unknown names raise ``ValueError`` listing ``allowed``.

    Without commas, a string is split into letters when every ``allowed`` band is one letter (``"grz"``).
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if "," in text:
            names = [p.strip() for p in text.split(",") if p.strip()]
        elif allowed is not None and text not in allowed and all(len(a) == 1 for a in allowed):
            names = list(text)
        else:
            names = [text] if text else []
    else:
        names = [str(v).strip() for v in value]
    if not names:
        raise ValueError(f"no {what}s given ({value!r})")
    if len(set(names)) != len(names):
        raise ValueError(f"{what}s {names} contain duplicates")
    if allowed is not None:
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise ValueError(f"unknown {what} {', '.join(map(repr, unknown))}; available: {', '.join(allowed)}")
    return tuple(names)


def parse_bool(value: Any, name: str) -> bool:
    """``True``/``False`` from a bool or a string such as ``"yes"``, ``"0"``, ``"true"``."""
    if isinstance(value, bool):
        return value
    text = str(_text(value)).lower()
    if text in {"1", "true", "yes", "on", "y"}:
        return True
    if text in {"0", "false", "no", "off", "n", ""}:
        return False
    raise ValueError(f"option {name}={value!r} is not a boolean (use true/false)")


def parse_float(value: Any, name: str, *, positive: bool = True) -> float:
    """A finite float from a number or string; ``ValueError`` naming the option otherwise."""
    try:
        out = float(_text(value))
    except (TypeError, ValueError):
        raise ValueError(f"option {name}={value!r} is not a number") from None
    if not math.isfinite(out) or (positive and out <= 0):
        raise ValueError(f"option {name}={value!r} must be a finite{' positive' if positive else ''} number")
    return out


def parse_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """An integer ``>= minimum`` from a number or string."""
    try:
        out = int(str(_text(value)))
    except (TypeError, ValueError):
        raise ValueError(f"option {name}={value!r} is not an integer") from None
    if out < minimum:
        raise ValueError(f"option {name}={value!r} must be >= {minimum}")
    return out


# ------------------------------------------------------------------------- declarations
def _then(first: Callable[[Any, str], Any], rule: Callable[[Any, str], Any] | None) -> Callable[[Any, str], Any]:
    if rule is None:
        return first
    return lambda value, key: rule(first(value, key), key)


def number(default: float | None, doc: str, *, positive: bool = True, nullable: bool | None = None,
           rule: Callable[[Any, str], Any] | None = None) -> Setting:
    """A finite float (from a number or a string), ``> 0`` unless ``positive=False``.

    ``nullable`` (default: when ``default`` is ``None``) accepts ``None`` for "the survey's default";
    ``rule(value, key)`` is a further check run on the float.
    """
    return Setting(default=default, doc=doc, type_doc="float", nullable=default is None if nullable is None
                   else nullable, check=_then(lambda v, k: parse_float(v, k, positive=positive), rule))


def integer(default: int | None, doc: str, *, minimum: int = 1, nullable: bool | None = None) -> Setting:
    """An integer ``>= minimum`` (from a number or a string)."""
    return Setting(default=default, doc=doc, type_doc="int", nullable=default is None if nullable is None
                   else nullable, check=lambda v, k: parse_int(v, k, minimum=minimum))


def boolean(default: bool, doc: str) -> Setting:
    """A bool, or a string such as ``"yes"``, ``"0"``, ``"true"``."""
    return Setting(default=default, doc=doc, type_doc="bool", check=parse_bool)


def text(default: str | None, doc: str, *, rule: Callable[[Any, str], Any] | None = None,
         type_doc: str = "str") -> Setting:
    """A string (or, with ``default=None``, nothing), passed on as given; ``rule(value, key)`` checks it."""
    return Setting(default=default, doc=doc, type_doc=type_doc, nullable=default is None, check=rule)


def band_list(default: Sequence[str] | None, doc: str, *, allowed: Sequence[str] | None = None,
              what: str = "band", parse: bool = True) -> Setting:
    """Band names from ``"grz"``, ``"g,r,z"`` or a list (:func:`~galzoo_fm.surveys.base.parse_bands`).

    ``allowed``: the bands the survey serves (unknown names are a ``ValueError`` listing them); ``parse=False``
    when the allowed bands depend on another option or on the data (the constructor then parses the value).
    ``None`` means the default.
    """
    default = tuple(default) if default is not None else None
    if not parse:
        return Setting(default=default, doc=doc, type_doc="str or sequence of str", nullable=True)
    return Setting(default=default, doc=doc, type_doc="str or sequence of str",
                   check=lambda v, k: parse_bands(v, allowed, what=what) or default)
