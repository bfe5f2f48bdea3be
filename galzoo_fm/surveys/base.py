"""The survey interface: what every cutout source provides, and the result of one cutout.

A survey turns sky positions into cutouts. Each cutout is a float32 array ``(C, H, W)`` on the survey's
band order, the celestial WCS of its pixel grid, and a :class:`Status` with a reason. Surveys are built by
name through the plugin registry (``galzoo_fm.get_survey("legacy", layer="ls-dr9")``); third-party packages
register their own with the ``register_surveys`` hook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from galzoo_fm._utils.settings import Setting, did_you_mean, document
from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.surveys.options import DEFAULT, parse_bands, parse_bool, parse_float, parse_int

__all__ = [
    "Cutout",
    "Status",
    "Survey",
    "classify_coverage",
    "parse_bands",
    "parse_bool",
    "parse_float",
    "parse_int",
]


def classify_coverage(data: np.ndarray, bands: Sequence[str], *, threshold: float = 0.02,
                      dtype: Any = None) -> tuple[Status, str]:
    """Decide ok / partial / off_footprint from the missing pixels of each band.

    Parameters
    ----------
    data : numpy.ndarray
        ``(C, H, W)`` cutout; non-finite values are replaced by 0 in place.
    bands : sequence of str
        Band names, for the reason text.
    threshold : float
        Fraction of missing pixels in a band above which the cutout is ``partial``.
    dtype : numpy dtype or sequence of them, optional
        The pixels' dtype as the survey delivered them, before any conversion to float: one for all bands,
        or one per band. Default ``data.dtype``.

    Returns
    -------
    status, reason : Status, str

    Notes
    -----
    What counts as missing depends on the bit depth of the data as delivered:

    * **float** data: an exact 0.0 or a non-finite value. Coadds and resampled cutouts fill blank areas
      with exact zeros, and noise never lands on exactly 0.0.
    * **integer** data (8- or 16-bit, from JPEG, PNG or HiPS tiles): 0 is an ordinary quantised value —
      dark sky clipped at the black point — so a zero is missing only in a *blank area*: a 4-connected
      region of zeros that holds a row or column of the band that is zero from edge to edge, or that runs
      along the cutout's border for at least a quarter of a side without a break. That is what a
      footprint boundary leaves, straight or slanted; clipped sky gives scattered zeros and short runs.
      An all-zero band is blank.
    """
    bad = ~np.isfinite(data)
    if bad.any():
        data[bad] = 0.0
    zero = data == 0
    if isinstance(dtype, list | tuple):
        dtypes = [np.dtype(d) for d in dtype]
        if len(dtypes) != len(data):
            raise ValueError(f"classify_coverage: {len(dtypes)} dtypes for {len(data)} bands")
    else:
        dtypes = [np.dtype(data.dtype if dtype is None else dtype)] * len(data)
    for c, kind in enumerate(d.kind for d in dtypes):
        if kind in "iu" and zero[c].any() and not zero[c].all():
            zero[c] = _blank_area(zero[c])
    missing = zero.reshape(data.shape[0], -1).mean(axis=1)
    if np.all(missing >= 1.0):
        return Status.OFF_FOOTPRINT, "no data at this position (all pixels are zero or blank)"
    worst = [f"{b} {m:.0%}" for b, m in zip(bands, missing, strict=True) if m > threshold]
    if worst:
        return Status.PARTIAL, "missing pixels: " + ", ".join(worst)
    return Status.OK, ""


def _blank_area(zero: np.ndarray) -> np.ndarray:
    """The zeros of an ``(H, W)`` integer image that lie in a blank area (see :func:`classify_coverage`)."""
    seeds = np.zeros_like(zero)
    seeds[zero.all(axis=1)] = True
    seeds[:, zero.all(axis=0)] = True
    for line, target in ((zero[0], seeds[0]), (zero[-1], seeds[-1]), (zero[:, 0], seeds[:, 0]),
                         (zero[:, -1], seeds[:, -1])):
        target |= _long_runs(line, -(-len(line) // 4))
    if not seeds.any():
        return seeds
    from scipy import ndimage  # a dependency of scikit-image; imported only for integer data with zeros

    labels, _ = ndimage.label(zero)
    keep = np.unique(labels[seeds])
    return np.isin(labels, keep[keep > 0])


def _long_runs(line: np.ndarray, length: int) -> np.ndarray:
    """Where ``line`` (1-D bool) is inside a run of at least ``length`` consecutive ``True``."""
    edges = np.diff(np.r_[0, line.astype(np.int8), 0])
    out = np.zeros(len(line), bool)
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if stop - start >= length:
            out[start:stop] = True
    return out


class Survey:
    """Base class of cutout sources.

    Subclasses set the class attributes, declare their keyword options in ``options`` (see
    ``galzoo_fm.surveys.options``) and read them in ``__init__`` with :meth:`resolve_options`, and implement
    :meth:`fetch` (one position) or, for sources that can cut many positions at once, :meth:`fetch_batch`.
    Both must be thread-safe: the fetch engine calls them from several worker threads. A subclass that
    declares no options validates its own (the ``parse_*`` helpers of this module) and is listed without them.

    Attributes
    ----------
    name : str
        Registered name.
    all_bands : tuple of str
        Bands the survey can serve (over all layers).
    layers : tuple of str
        Named data releases / layers; empty if the survey has none.
    native_pixscale : float or None
        Native pixel scale in arcsec/pixel.
    max_size : int or None
        Largest cutout side in pixels the service accepts.
    batch_size : int
        How many positions the engine hands to one :meth:`fetch_batch` call.
    preprocessing : dict or None
        Preprocessing defaults for a model that recorded none (see :meth:`preprocessing_defaults`); ``None``
        when the survey has none (the arcsinh softening is then measured from each image's sky noise).
    options : dict of str to Setting
        The keyword options this class adds (or whose declaration it changes) over its bases';
        :meth:`~galzoo_fm.surveys.Survey.option_settings` merges them. A line ``{options}`` in a subclass's
        docstring becomes their numpydoc entries.
    """

    name: ClassVar[str] = "survey"
    description: ClassVar[str] = ""
    all_bands: ClassVar[tuple[str, ...]] = ()
    layers: ClassVar[tuple[str, ...]] = ()
    native_pixscale: ClassVar[float | None] = None
    max_size: ClassVar[int | None] = None
    batch_size: ClassVar[int] = 1
    #: Free text for listings when the band names are open-ended (HiPS ids, file keywords).
    bands_note: ClassVar[str] = ""
    #: Preprocessing defaults: ``bands`` (list of str), ``pixel_scale`` (arcsec/pixel), ``softening``
    #: (``{band: arcsinh softening in flux units per pixel}``) and ``description``; ``None`` for none.
    preprocessing: ClassVar[Mapping[str, Any] | None] = None
    #: Keyword options declared by this class (``{name: Setting}``), merged with its bases' ones.
    options: ClassVar[Mapping[str, Setting]] = {}

    #: Bands this instance returns, in order (set by ``__init__``).
    bands: tuple[str, ...] = ()
    #: Layer this instance uses, if any.
    layer: str | None = None
    #: Pixel scale of the returned cutouts in arcsec/pixel.
    pixscale: float | None = None
    #: Names of extra planes each cutout carries (e.g. ``("invvar",)``).
    extras: tuple[str, ...] = ()
    #: dtype of the pixels as the store keeps them (``"uint8"`` / ``"uint16"`` for 8/16-bit image files).
    dtype: str = "float32"
    #: Cutouts are found by catalogue row (:meth:`fetch_rows`), not by position: the user's own image files
    #: (:class:`~galzoo_fm.images.ImageFiles`). The fetch engine then asks for every row, whatever its position.
    row_keyed: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "__doc__" in cls.__dict__:
            document(cls, cls.option_settings(), placeholder="{options}")

    @classmethod
    def option_settings(cls) -> dict[str, Setting]:
        """Every keyword option of the class: its own ``options`` first, then those of its bases.

        A class that declares an option of a base again replaces the declaration in the base's place.

        Returns
        -------
        dict of str to Setting
            ``{name: Setting}`` in listing order.
        """
        table: dict[str, Setting] = {}
        for klass in reversed(cls.__mro__):
            own = klass.__dict__.get("options") or {}
            table.update({k: v for k, v in own.items() if k in table})
            table = {**{k: v for k, v in own.items() if k not in table}, **table}
        return table

    @classmethod
    def resolve_options(cls, **values: Any) -> dict[str, Any]:
        """The declared options ``values`` names, validated; those that are ``DEFAULT`` take the default.

        Strings convert as on the command line (``"0.5"``, ``"yes"``, ``"grz"``).

        Returns
        -------
        dict
            ``{name: value}`` in the order of ``values``.

        Raises
        ------
        ValueError, TypeError
            A value the declaration rejects, naming the option.
        """
        table = cls.option_settings()
        undeclared = [k for k in values if k not in table]
        if undeclared:
            raise TypeError(f"{cls.__name__} declares no option(s) {', '.join(undeclared)}; its options are: "
                            f"{', '.join(table)}" + did_you_mean(undeclared, table))
        return {k: table[k].default_value() if v is DEFAULT else table[k].validate(v, k) for k, v in values.items()}

    def check_size(self, size: int) -> int:
        """Validate a cutout side in pixels against :attr:`max_size`."""
        if isinstance(size, bool) or not isinstance(size, int | np.integer):
            raise TypeError(f"cutout size must be an integer number of pixels, got {size!r}")
        if size < 1:
            raise ValueError(f"cutout size must be >= 1 pixel, got {size}")
        if self.max_size is not None and size > self.max_size:
            raise ValueError(
                f"cutout size {size} px exceeds the {self.name} service limit of {self.max_size} px; "
                "ask for a smaller size or a coarser pixscale"
            )
        return int(size)

    def fetch(self, ra: float, dec: float, size: int) -> Cutout:
        """One ``size`` × ``size`` cutout centred on (``ra``, ``dec``) in degrees (ICRS)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither fetch nor fetch_batch")

    def fetch_batch(self, ra: np.ndarray, dec: np.ndarray, size: int) -> list[Cutout]:
        """Cutouts for arrays of positions ``(n,)``; the default calls :meth:`fetch` for each."""
        return [self.fetch(float(r), float(d), size) for r, d in zip(ra, dec, strict=True)]

    def fetch_rows(self, rows: np.ndarray, size: int) -> list[Cutout]:
        """Cutouts of catalogue ``rows`` ``(n,)``, for a :attr:`row_keyed` source (the others have none)."""
        raise NotImplementedError(f"{type(self).__name__} finds cutouts by position (fetch_batch), not by row")

    def provenance(self) -> dict[str, Any]:
        """JSON-serialisable facts recorded with the cutouts (survey, layer, bands, pixel scale, server)."""
        return {
            "survey": self.name,
            "layer": self.layer,
            "bands": list(self.bands),
            "pixscale": self.pixscale,
        }

    def cancel(self) -> None:
        """Ask in-flight fetches to give up soon (called on Ctrl-C); the default does nothing."""

    def close(self) -> None:
        """Release connections and open files."""

    @classmethod
    def preprocessing_defaults(cls) -> dict[str, Any] | None:
        """A copy of :attr:`preprocessing`, the defaults :func:`galzoo_fm.embedding.default_preprocessor` uses.

        Returns
        -------
        dict or None
            ``{"bands": [...], "pixel_scale": float, "softening": {band: float}, "description": str}``, or
            ``None`` when the survey has no defaults.

        Examples
        --------
        >>> from galzoo_fm.surveys import LegacySurvey
        >>> LegacySurvey.preprocessing_defaults()["softening"]["g"]
        0.0083
        """
        if cls.preprocessing is None:
            return None
        return {k: (dict(v) if isinstance(v, Mapping) else list(v) if isinstance(v, list | tuple) else v)
                for k, v in cls.preprocessing.items()}

    @classmethod
    def info(cls) -> dict[str, Any]:
        """Static facts for listings: bands, layers, native pixel scale, size limit, description, options.

        ``options`` lists the declared keyword options (:meth:`~galzoo_fm.surveys.Survey.option_settings`)
        as dicts with ``name``, ``type``, ``default`` and ``doc``; it is empty for a survey that declares none.
        """
        return {
            "name": cls.name,
            "description": cls.description,
            "bands": list(cls.all_bands),
            "layers": list(cls.layers),
            "pixscale": cls.native_pixscale,
            "max_size": cls.max_size,
            "bands_note": cls.bands_note,
            "options": [{"name": name, "type": spec.describe_type(), "default": spec.default, "doc": spec.doc}
                        for name, spec in cls.option_settings().items()],
        }

    def __repr__(self) -> str:
        layer = f", layer={self.layer!r}" if self.layer else ""
        return f"{type(self).__name__}(bands={list(self.bands)!r}{layer}, pixscale={self.pixscale})"
