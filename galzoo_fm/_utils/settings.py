"""One typed configuration layer: a setting is declared once; validation, defaults and documentation follow.

A :class:`Setting` declares what a name accepts (types, bounds, choices), its default and a one-line doc. From
a table of them (``{name: Setting}``) come

- :func:`validate_table`: validation of a dict (a TOML table, or keyword arguments) with errors that name the
  key: unknown keys with a "did you mean", missing required keys, wrong types, out-of-range values, values
  outside the choices; the defaults of what is not given;
- :func:`describe`: the numpydoc entries of the table, for a docstring.

A dataclass whose fields are declared with :func:`setting` is the typed object the code uses; its
declarations give the configuration-file tables (:func:`table_of`), the conversion of validated tables into
the object (:func:`from_tables`) and the docstring's Attributes section (:func:`settings_class`).

Why dataclasses and a small validator rather than pydantic v2: the package's dependencies are the science
stack (astropy, photutils, torch) and pydantic is not among them; the checks needed (types, bounds, choices,
list lengths, a few domain rules) take ~200 lines; the error messages stay exactly those the tests and users
know (``train.steps must be an integer, got string '10' (run.toml)``), where pydantic would reword them; and
the configuration objects stay plain dataclasses (``dataclasses.replace``, ``asdict``, no metaclass).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import numbers
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from galzoo_fm._utils.checks import one_of

__all__ = ["REQUIRED", "Setting", "describe", "did_you_mean", "document", "from_tables", "setting", "settings_class",
           "suggest", "table_of", "type_name", "unknown_keys", "validate_table"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a setting that must be given.
REQUIRED: Any = _Required()
_SETTING = "galzoo_fm.setting"  # the dataclass field metadata key
_WANTED = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
           dict: "a table"}
_DOC_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}


def type_name(value: Any) -> str:
    """The configuration-file name of ``value``'s type (``"integer"``, ``"string"``, ``"table"``, ...)."""
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: what it accepts, its default and its doc.

    Parameters
    ----------
    types : type or tuple of type
        Accepted types (``int``: Python or NumPy integers, not bool; ``float``: any real number, converted to
        ``float``); empty: any value (``check`` or the owner checks it).
    default : object
        The default (deep-copied when used); :data:`REQUIRED`: the setting must be given.
    choices : tuple, optional
        Every allowed value.
    minimum, maximum : float, optional
        Inclusive bounds of a number.
    length : int, optional
        Entries of a list.
    items : type, optional
        Type of a list's entries.
    words : tuple of str, optional
        The allowed strings of a setting that also takes numbers (``"auto"``).
    doc : str
        One sentence for the documentation.
    positive : bool
        A number that must be > 0.
    finite : bool
        A number that must be finite.
    nullable : bool
        ``None`` is accepted (and means ``"none"`` when ``"none"`` is one of the ``choices``).
    check : callable, optional
        ``check(value, key) -> value``: a domain rule run after the declarative checks; it raises
        ``TypeError`` / ``ValueError`` naming ``key``.
    key : str, optional
        ``"table.name"`` of a :func:`setting` field in a configuration file.
    convert : callable, optional
        From the file's (validated) value to the field's value (e.g. ``tuple``).
    type_doc : str, optional
        The type as the documentation writes it (default: from ``types``, ``choices``, ``length``).
    """

    types: tuple[type, ...] = ()
    default: Any = REQUIRED
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    length: int | None = None
    items: type | None = None
    words: tuple[str, ...] | None = None
    doc: str = ""
    positive: bool = False
    finite: bool = False
    nullable: bool = False
    check: Callable[[Any, str], Any] | None = None
    key: str | None = None
    convert: Callable[[Any], Any] | None = None
    type_doc: str | None = None

    def __post_init__(self):
        if isinstance(self.types, type):
            object.__setattr__(self, "types", (self.types,))

    @property
    def required(self) -> bool:
        """Whether the setting must be given (no default)."""
        return self.default is REQUIRED

    def default_value(self) -> Any:
        """A fresh copy of the default."""
        return copy.deepcopy(self.default)

    def validate(self, value: Any, key: str) -> Any:
        """``value`` checked and normalised (``float`` for a number, ``int`` for a NumPy integer).

        Raises
        ------
        TypeError
            A value of the wrong type, naming ``key``.
        ValueError
            A value out of range or outside the choices, naming ``key``.
        """
        if value is None and self.nullable:
            return "none" if self.choices is not None and "none" in self.choices else None
        if self.types:
            value = self._typed(value, key)
        if self.words is not None and isinstance(value, str) and value not in self.words:
            raise ValueError(f"{key} must be a number or one of {', '.join(map(repr, self.words))}; got {value!r}")
        if self.choices is not None:
            one_of(value, self.choices, key)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if self.positive and value <= 0:
                raise ValueError(f"{key} must be positive, got {value!r}")
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"{key} must be >= {self.minimum}, got {value!r}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"{key} must be <= {self.maximum}, got {value!r}")
        if isinstance(value, list):
            if self.length is not None and len(value) != self.length:
                raise ValueError(f"{key} must have {self.length} entries, got {len(value)}")
            if self.items is not None:
                item = Setting((self.items,))
                value = [item.validate(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if self.check is not None:
            value = self.check(value, key)
        return value

    def _typed(self, value: Any, key: str) -> Any:
        types = self.types
        for t in types:
            if t is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
                return int(value)
            if (t is float and isinstance(value, numbers.Real) and not isinstance(value, bool)
                    and not (int in types and isinstance(value, numbers.Integral))):
                if self.finite and not math.isfinite(value):
                    raise TypeError(f"{key} must be a finite number, got {value!r}")
                return float(value)
            if t not in (int, float) and isinstance(value, t):
                return value
        wanted = " or ".join(("a finite number" if t is float and self.finite else _WANTED.get(t, t.__name__))
                             for t in types)
        raise TypeError(f"{key} must be {wanted}, got {type_name(value)} {value!r}")

    def describe_type(self) -> str:
        """The type for the documentation: ``int``, ``{'adamw', 'lars'}``, ``(float, float)``, ..."""
        if self.type_doc is not None:
            return self.type_doc
        if self.choices is not None:
            return "{" + ", ".join(map(repr, self.choices)) + "}"
        if self.length is not None and self.items is not None:
            return "(" + ", ".join([_DOC_TYPES.get(self.items, self.items.__name__)] * self.length) + ")"
        names = [_DOC_TYPES.get(t, t.__name__) for t in self.types]
        if self.items is not None:
            names = [f"list of {_DOC_TYPES.get(self.items, self.items.__name__)}" if n == "list" else n
                     for n in names]
        if self.words:
            names = [n for n in names if n != "str"] + [repr(w) for w in self.words]
        return " or ".join(names) or "object"



def suggest(name: str, candidates: Iterable[str], prefix: str = "") -> str:
    """``"; did you mean {prefix}{closest}?"``, or ``"; allowed: ..."`` when nothing is close."""
    candidates = list(candidates)
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean {prefix}{close[0]}?" if close else f"; allowed: {', '.join(candidates)}"


def did_you_mean(unknown: list[str], candidates: Iterable[str]) -> str:
    """``"; did you mean X?"`` when exactly one key is unknown and a known one is close to it, else ``""``."""
    hint = suggest(unknown[0], candidates) if len(unknown) == 1 else ""
    return hint if hint.startswith("; did you mean") else ""


def unknown_keys(given: Iterable[str], table: Mapping[str, Setting]) -> list[str]:
    """The keys of ``given`` that ``table`` does not declare, sorted."""
    return sorted(set(given) - set(table))


def validate_table(given: Mapping[str, Any], table: Mapping[str, Setting], *, prefix: str = "",
                   where: str | None = None) -> dict[str, Any]:
    """Every setting of ``table``: the validated value of ``given``, else the default.

    Parameters
    ----------
    given : mapping
        The values given (a TOML table, keyword arguments).
    table : mapping of str to Setting
        The declarations, in the order of the result.
    prefix : str
        Put before the keys in messages (``"train."``).
    where : str, optional
        The source (a file name, ``"<dict>"``), appended to messages in parentheses.

    Returns
    -------
    dict
        ``{name: value}`` in ``table`` order.

    Raises
    ------
    ValueError
        An unknown key (with the closest known one), a missing required key, a value out of range.
    TypeError
        A value of the wrong type.
    """
    at = f" ({where})" if where is not None else ""
    for key in given:
        if key not in table:
            raise ValueError(f"unknown key {prefix}{key}{at}" + suggest(key, table, prefix))
    out = {}
    for key, spec in table.items():
        if key in given:
            try:
                out[key] = spec.validate(given[key], f"{prefix}{key}")
            except (TypeError, ValueError) as exc:
                if not at:
                    raise
                raise type(exc)(f"{exc}{at}") from None
        elif spec.required:
            raise ValueError(f"missing required key {prefix}{key}{at}")
        else:
            out[key] = spec.default_value()
    return out


# ----------------------------------------------------------------------------------- typed objects
def setting(types: type | tuple[type, ...] = (), default: Any = REQUIRED, doc: str = "", **kw: Any) -> Any:
    """A dataclass field declared by a :class:`Setting` (same arguments).

    The field's default is ``convert(default)`` (``default`` is the configuration file's default).

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Run:
    ...     steps: int = setting(int, 10, "Steps.", minimum=1, key="train.steps")
    >>> table_of(Run, "train")["steps"].validate(0, "train.steps")
    Traceback (most recent call last):
    ...
    ValueError: train.steps must be >= 1, got 0
    """
    spec = Setting(types, default, doc=doc, **kw)
    value = spec.default if spec.convert is None or spec.required else spec.convert(spec.default)
    meta = {_SETTING: spec}
    if spec.required:
        return dataclasses.field(metadata=meta)
    if isinstance(value, list | dict | set):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(value), metadata=meta)
    return dataclasses.field(default=value, metadata=meta)


def _declared(cls: type) -> dict[str, Setting]:
    return {f.name: f.metadata[_SETTING] for f in dataclasses.fields(cls) if _SETTING in f.metadata}


def table_of(cls: type, table: str, *, exclude: Iterable[str] = (), **changes: dict[str, Any]) -> dict[str, Setting]:
    """The configuration-file table ``table`` of a dataclass declared with :func:`setting`.

    Parameters
    ----------
    cls : type
        The dataclass.
    table : str
        The table (the part before the dot of the fields' ``key``).
    exclude : iterable of str
        Keys of the table left out.
    **changes : dict
        Per key, :class:`Setting` attributes replaced (e.g. ``steps={"default": 500}``).

    Returns
    -------
    dict of str to Setting
        ``{key in the table: Setting}``, in field order.
    """
    out = {}
    for spec in _declared(cls).values():
        if spec.key is None or spec.key.partition(".")[0] != table:
            continue
        name = spec.key.partition(".")[2]
        if name in exclude:
            continue
        out[name] = dataclasses.replace(spec, **changes.pop(name, {}))
    if changes:
        raise KeyError(f"{cls.__name__} declares no {table}.{', '.join(changes)}")
    return out


def from_tables(cls: type, config: Mapping[str, Mapping[str, Any]]) -> Any:
    """An instance of ``cls`` from validated tables: each field from ``config[table][key]`` (converted), else
    its default."""
    kwargs = {}
    for name, spec in _declared(cls).items():
        table, _, key = (spec.key or "").partition(".")
        if key and key in (config.get(table) or {}):
            value = config[table][key]
            kwargs[name] = value if spec.convert is None else spec.convert(value)
    return cls(**kwargs)


def describe(table: Mapping[str, Setting], *, indent: int = 4, keys: bool = False) -> str:
    """Numpydoc entries ``name : type, default X`` with the doc indented below, one per setting.

    ``keys``: add the configuration-file key of each (``train.steps``).
    """
    pad = " " * indent
    lines = []
    for name, spec in table.items():
        kind = spec.describe_type()
        if spec.required:
            default = ""
        elif spec.default is None:
            default = "" if kind.endswith("optional") else ", optional"
        else:
            default = f", default {spec.default!r}"
        lines.append(f"{pad}{name} : {kind}{default}")
        doc = (f"``{spec.key}``: " if keys and spec.key else "") + spec.doc
        if doc:
            lines.append(textwrap.fill(doc, 116, initial_indent=pad + "    ", subsequent_indent=pad + "    ",
                                       break_on_hyphens=False, break_long_words=False))
    return "\n".join(lines)


def document(obj: Any, table: Mapping[str, Setting], *, placeholder: str = "{settings}", keys: bool = False) -> None:
    """Replace ``placeholder`` (alone on its line, indented as the entries) in ``obj.__doc__`` by
    :func:`describe` ``(table)``: the docstring's entries come from the declarations."""
    if obj.__doc__ and placeholder in obj.__doc__:
        line = next(ln for ln in obj.__doc__.splitlines() if placeholder in ln)
        indent = len(line) - len(line.lstrip())
        obj.__doc__ = obj.__doc__.replace(line, describe(table, indent=indent, keys=keys))


def settings_class(cls: type) -> type:
    """Make ``cls`` a dataclass and fill ``{attributes}`` in its docstring from its :func:`setting` fields."""
    cls = dataclasses.dataclass(cls)
    document(cls, _declared(cls), placeholder="{attributes}", keys=True)
    return cls
