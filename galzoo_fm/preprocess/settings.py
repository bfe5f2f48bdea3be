"""The settings of :class:`~galzoo_fm.preprocess.Preprocessor`, each declared once, and their resolution.

:data:`PREPROCESS_SETTINGS` declares every keyword (default, type, bounds or choices, doc); the
Preprocessor's validation, defaults and docstring come from it. :func:`resolve_settings` adds the rules that
join settings: the survey's defaults (input bands, pixel scale, softening), the band mapping and the softening
per model band.

A survey's defaults (:func:`survey_preprocessing`) come from the built-in table
(:data:`~galzoo_fm.preprocess.SURVEY_DEFAULTS`, no import of the survey adapters) or, for another name, from
the class of the survey registered under it (``Survey.preprocessing``), looked up in the plugin registry
without building the survey.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from galzoo_fm._utils.settings import Setting, did_you_mean, unknown_keys, validate_table
from galzoo_fm.plugins import get_registry
from galzoo_fm.preprocess.bands import MISSING_BAND_RULES, band_mapping, check_band_names, survey_defaults
from galzoo_fm.preprocess.geometry import INTERPOLATIONS
from galzoo_fm.preprocess.sources import CENTROID_METHODS, NEIGHBOUR_MODES
from galzoo_fm.preprocess.steps import BACKGROUND_METHODS

__all__ = ["PREPROCESS_PRESETS", "PREPROCESS_SETTINGS", "STRETCHES", "pixel_scale_value", "preset_settings",
           "resolve_settings", "survey_preprocessing"]

STRETCHES = ("asinh", "none")


def pixel_scale_value(value: Any, what: str) -> float:
    """``value`` as a ``float`` if it is a positive finite number of arcsec per pixel.

    Raises
    ------
    TypeError
        Not a real number.
    ValueError
        Not positive and finite.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number of arcsec per pixel, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a positive number of arcsec per pixel, got {value!r}")
    return float(value)


def _truth(value: Any, key: str) -> bool:
    return bool(value)


def _clip(value: Any, key: str) -> list[float]:
    number = Setting(float, finite=True)
    lo, hi = (number.validate(v, key) for v in value) if len(value) == 2 else (None, None)
    if lo is None or not lo < hi:
        raise ValueError(f"{key} must be (low, high) with low < high, or None; got {value!r}")
    return [lo, hi]


def _int(default: int, doc: str, **bounds: Any) -> Setting:
    return Setting(int, default, doc=doc, **bounds)


def _float(default: float | None, doc: str, **bounds: Any) -> Setting:
    return Setting(float, default, doc=doc, finite=True, **bounds)


#: Every keyword of :class:`~galzoo_fm.preprocess.Preprocessor` (besides ``bands``), in the order of its
#: :meth:`~galzoo_fm.preprocess.Preprocessor.to_dict`.
PREPROCESS_SETTINGS: dict[str, Setting] = {
    "image_size": _int(64, "Output side in pixels.", positive=True),
    "input_scale": _float(1.0, "Every input value is multiplied by this factor first (``1/255``: 8-bit RGB "
                          "images to [0, 1]); ``saturation`` and ``softening`` are in the scaled units.",
                          positive=True),
    "crop_fraction": _float(1.0, "With ``pixel_scale=None``: keep the central ``int(crop_fraction * "
                            "min(H, W))`` pixels (a centre crop placed as torchvision's ``center_crop`` places "
                            "it) and resize them to ``image_size``; ``1/1.2`` is Zoobot's fixed 1.2x zoom.",
                            positive=True, maximum=1.0),
    "pixel_scale": Setting(default=None, type_doc="float", check=pixel_scale_value, nullable=True,
                           doc="Output pixel scale in arcsec/pixel; the field of view is ``image_size * "
                           "pixel_scale``. ``None`` resizes the whole cutout (its shorter side) to ``image_size``, "
                           "ignoring the angular scale."),
    "survey": Setting(str, None, nullable=True, doc="A key of :data:`~galzoo_fm.preprocess.SURVEY_DEFAULTS` "
                      "(``\"legacy\"``, ``\"panstarrs\"``, ``\"sdss\"``) or a registered plugin survey whose "
                      "class has ``preprocessing`` defaults: fills ``input_bands``, ``input_pixel_scale`` and "
                      "``softening`` when they are not given."),
    "input_bands": Setting(default=None, type_doc="list of str", doc="Band names of the input arrays' channels "
                           "(default: the survey's bands). Overridable per call."),
    "input_pixel_scale": Setting(default=None, type_doc="float", check=pixel_scale_value, nullable=True,
                                 doc="Input pixel scale in arcsec/pixel (default: the survey's). Overridable per "
                                 "call."),
    "missing_band": Setting(default="error", choices=MISSING_BAND_RULES, doc="Rule for a model band the input "
                            "lacks (see :data:`~galzoo_fm.preprocess.MISSING_BAND_RULES`)."),
    "saturation": _float(None, "Flux at which a pixel is saturated (flag only).", nullable=True),
    "plateau_pixels": _int(5, "Flag a band whose maximum is shared by at least this many pixels (flat-topped; "
                           "0: no test).", minimum=0),
    "max_masked_fraction": _float(0.5, "Flag cutouts with more bad pixels than this fraction.", minimum=0),
    "background": Setting(default="sigma_clip", choices=BACKGROUND_METHODS, nullable=True,
                          doc="Sky subtraction: the sigma-clipped level, a ``Background2D`` map "
                          "(:func:`~galzoo_fm.preprocess.estimate_background`), or none."),
    "background_sigma": _float(3.0, "Sigma-clipping threshold.", positive=True),
    "background_maxiters": _int(5, "Sigma-clipping iterations.", positive=True),
    "background_box": _int(16, "``Background2D`` mesh in pixels.", positive=True),
    "background_pixels": _int(1024, "The sigma-clipped sky level and noise come from a regular grid of at most "
                              "this many pixels per band (0: every pixel).", minimum=0),
    "neighbours": Setting(default="none", choices=NEIGHBOUR_MODES, nullable=True,
                          doc="Replace sources other than the central galaxy (segmentation of the S/N image over "
                          "all bands, smoothed by a 1-pixel Gaussian; :func:`~galzoo_fm.preprocess."
                          "replace_neighbours`)."),
    "recentre": Setting(default="none", choices=CENTROID_METHODS, nullable=True,
                        doc="Recentre on the central source (photutils ``centroid_com`` over its segment, or "
                        "``centroid_quadratic``)."),
    "detect_threshold": _float(3.0, "Detection threshold in sigma.", positive=True),
    "detect_npixels": _int(5, "Connected pixels of a detection.", positive=True),
    "deblend": Setting(default=True, type_doc="bool", check=_truth, doc="Deblend the detections."),
    "deblend_contrast": _float(0.005, "Deblending contrast.", positive=True),
    "central_radius": _int(3, "The central source is the commonest label within this many pixels of the "
                           "centre.", minimum=0),
    "neighbour_dilate": _int(2, "Grow the neighbours' mask by this many pixels.", minimum=0),
    "max_shift": _float(5.0, "Recentring shifts beyond this many input pixels are refused and flagged.",
                        positive=True),
    "interpolation": Setting(default="bilinear", choices=INTERPOLATIONS,
                             doc="Resampling kernel (antialiased bilinear, or flux-conserving area mean)."),
    "stretch": Setting(default="asinh", choices=STRETCHES, nullable=True,
                       doc="``\"none\"`` leaves background-subtracted fluxes (no clip either)."),
    "softening": Setting(default=None, type_doc="list of float or 'noise'", doc="Arcsinh softening per model "
                         "band in input flux units (default: the survey's); ``\"noise\"`` uses each image's "
                         "measured sky noise per band."),
    "dynamic_range": _float(1000.0, "Flux, in units of the softening, that maps to 1.", positive=True),
    "clip": Setting(default=[-0.5, 1.5], type_doc="(float, float) or None", check=_clip, nullable=True,
                    doc="Range of the stretched values (``None``: no clipping)."),
    "mask_channel": Setting(default=False, type_doc="bool", check=_truth,
                            doc="Append the filled-pixel fraction as an extra channel."),
    "seed": _int(0, "Seed of the noise used for in-painting (reproducible output).", minimum=0),
}


#: Named preprocessing conventions: ``{name: {"bands": [...], setting: value, ...}}``, used by
#: :meth:`~galzoo_fm.preprocess.Preprocessor.preset` (every other setting keeps its default).
#:
#: ``"zoobot"``: Zoobot's inference convention for RGB images (bands ``R``, ``G``, ``B``; e.g. the 424x424
#: Galaxy Zoo JPGs): values 0-255 (uint8, or float in the same range) divided by 255 (``input_scale``), no
#: background subtraction, no stretch, no mean/std normalisation; the central ``1/1.2`` of the image
#: (``crop_fraction``: 353 of 424 pixels, a centre crop as torchvision's ``center_crop`` places it) resized
#: to 224 pixels with the antialiased bilinear kernel of torchvision's ``Resize``. The 1.2x zoom is that of
#: galaxy-datasets' ``minimal_view_config`` (``galaxy_datasets/transforms.py``, the test/predict transform of
#: Zoobot 2: ``RandomAffine(degrees=0, scale=(1.2, 1.2))`` at the input resolution, then
#: ``Resize(224, antialias=True)``, then ``ConvertImageDtype(float32)``); see docs/encoder.rst, "Zoobot
#: encoders", for how close the crop + resize is to that affine zoom.
PREPROCESS_PRESETS: dict[str, dict[str, Any]] = {
    "zoobot": {
        "bands": ["R", "G", "B"], "input_bands": ["R", "G", "B"], "image_size": 224, "input_scale": 1 / 255,
        "crop_fraction": 1 / 1.2, "pixel_scale": None, "background": None, "stretch": "none", "clip": None,
        "plateau_pixels": 0, "interpolation": "bilinear",
    },
}


def preset_settings(name: str, **overrides: Any) -> dict[str, Any]:
    """The settings of the preset ``name`` (:data:`PREPROCESS_PRESETS`), updated with ``overrides``.

    Returns
    -------
    dict
        ``bands`` and the preset's :class:`~galzoo_fm.preprocess.Preprocessor` keywords.

    Raises
    ------
    ValueError
        An unknown preset name (the message lists the known ones).
    """
    if not isinstance(name, str) or name.lower() not in PREPROCESS_PRESETS:
        raise ValueError(f"unknown preprocessing preset {name!r}; known presets: {', '.join(PREPROCESS_PRESETS)}"
                         + (did_you_mean([name], PREPROCESS_PRESETS) if isinstance(name, str) else ""))
    out = {k: list(v) if isinstance(v, list) else v for k, v in PREPROCESS_PRESETS[name.lower()].items()}
    out.update(overrides)
    return out


def _survey_class(factory: Any) -> Any:
    """The class a survey factory builds, without building one: the factory itself if it is a class, else
    its ``target()`` (:func:`galzoo_fm.surveys.builtin.lazy_survey`); ``None`` when it does not tell."""
    if isinstance(factory, type):
        return factory
    target = getattr(factory, "target", None)
    return target() if callable(target) else None


def _registered_preprocessing(name: str) -> tuple[str, dict[str, Any]] | None:
    """``(registered name, defaults)`` of the plugin survey ``name``; ``None`` if no survey has that name."""
    registry = get_registry("surveys")
    if name in registry:
        key = name
    else:  # case-insensitively, as the built-in names are, if only one name matches
        matches = [n for n in registry.names() if n.lower() == name.lower()]
        if len(matches) != 1:
            return None
        key = matches[0]
    factory = registry.entry(key).factory
    cls = _survey_class(factory)
    if cls is None:  # a plain function: its class (and defaults) are known only from what it builds
        try:
            survey = factory()
        except TypeError as exc:
            raise ValueError(f"survey {key!r} is registered with a factory that needs options ({exc}), so its "
                             "preprocessing defaults are unknown; register the Survey class itself, or give "
                             "input_bands=, input_pixel_scale= and softening= instead of survey=") from exc
        try:
            cls = type(survey)
        finally:
            close = getattr(survey, "close", None)
            if callable(close):
                close()
    getter = getattr(cls, "preprocessing_defaults", None)
    defaults = getter() if callable(getter) else None
    if defaults is None:
        raise ValueError(f"survey {key!r} ({getattr(cls, '__name__', cls)}) has no preprocessing defaults "
                         "(its class's preprocessing is None); give input_bands=, input_pixel_scale= and "
                         "softening= instead of survey=")
    missing = [k for k in ("bands", "pixel_scale", "softening") if k not in defaults]
    if missing or not isinstance(defaults["softening"], dict):
        raise ValueError(f"the preprocessing defaults of survey {key!r} need 'bands', 'pixel_scale' and "
                         f"'softening' ({{band: value}}); got {defaults!r}")
    return key, defaults


def survey_preprocessing(survey: str) -> tuple[str, dict[str, Any]]:
    """The name to record and the preprocessing defaults of ``survey``: a built-in or a plugin survey.

    Built-in names (:data:`~galzoo_fm.preprocess.SURVEY_DEFAULTS`, any case) are read from the table, without
    loading plugins; another name is looked up in the survey registry
    (:func:`galzoo_fm.plugins.get_registry`; exactly, else the one name that matches it ignoring case), and
    its class's
    :meth:`~galzoo_fm.surveys.Survey.preprocessing_defaults` are used. The class comes from the registered
    factory (a class, or a factory's ``target()``) without building a survey; only a factory that is a plain
    function is called, without options, to find its class.

    Parameters
    ----------
    survey : str
        Survey name.

    Returns
    -------
    name : str
        The built-in name in lower case, or the name the plugin survey is registered under.
    defaults : dict
        ``bands`` (list of str), ``pixel_scale`` (arcsec/pixel), ``softening`` (``{band: float}``), and
        ``description`` when the survey gives one.

    Raises
    ------
    ValueError
        An unknown name (the message lists the built-in ones), or a registered survey without defaults.

    Examples
    --------
    >>> name, defaults = survey_preprocessing("Legacy")
    >>> name, defaults["pixel_scale"]
    ('legacy', 0.262)
    """
    try:
        defaults = survey_defaults(survey)
        return survey.lower(), defaults
    except ValueError:
        found = _registered_preprocessing(survey) if isinstance(survey, str) and survey else None
        if found is None:
            raise
        return found


def resolve_settings(bands: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """Every setting explicit: ``settings`` validated, defaults and the survey's defaults filled in.

    Parameters
    ----------
    bands : list of str
        The model's bands.
    settings : dict
        :class:`~galzoo_fm.preprocess.Preprocessor` keywords.

    Returns
    -------
    dict
        Every key of :data:`PREPROCESS_SETTINGS` in order, then ``"bands"``.

    Raises
    ------
    TypeError
        An unknown setting, or a value of the wrong type.
    ValueError
        A value out of range, an unknown survey, bands the input or the survey lacks, a softening that does
        not fit the bands.
    """
    unknown = unknown_keys(settings, PREPROCESS_SETTINGS)
    if unknown:
        raise TypeError(f"unknown Preprocessor setting(s) {', '.join(unknown)}; known settings: bands, "
                        f"{', '.join(PREPROCESS_SETTINGS)}" + did_you_mean(unknown, PREPROCESS_SETTINGS))
    bands = check_band_names(bands, "bands")
    given = dict(settings)
    survey = None
    if given.get("survey") is not None:  # the survey's defaults, then the band mapping: the first checks
        given["survey"], survey = survey_preprocessing(given["survey"])
        if given.get("input_bands") is None:
            given["input_bands"] = survey["bands"]
        if given.get("input_pixel_scale") is None:
            given["input_pixel_scale"] = survey["pixel_scale"]
    if given.get("input_bands") is not None:
        given["input_bands"] = check_band_names(given["input_bands"], "input_bands")
        missing = given.get("missing_band", PREPROCESS_SETTINGS["missing_band"].default)
        band_mapping(bands, given["input_bands"], missing)  # fail now, not on first call
    s = validate_table(given, PREPROCESS_SETTINGS)
    if s["crop_fraction"] != 1.0 and s["pixel_scale"] is not None:
        raise ValueError(f"crop_fraction={s['crop_fraction']!r} applies only with pixel_scale=None (the field of "
                         f"view is image_size * pixel_scale otherwise); got pixel_scale={s['pixel_scale']!r}")
    s["bands"] = bands
    s["softening"] = _softening(s, survey)
    return s


def _softening(s: dict[str, Any], survey: dict[str, Any] | None) -> list[float] | str | None:
    soft = s["softening"]
    if s["stretch"] == "none" and soft is None:
        return None
    if soft == "noise":
        return "noise"
    if soft is None:
        if survey is None:
            raise ValueError("softening is needed for the arcsinh stretch: give survey=, softening=[...] per band, "
                             "or softening='noise'")
        missing = [b for b in s["bands"] if b not in survey["softening"]]
        if missing:
            raise ValueError(
                f"band(s) {', '.join(map(repr, missing))} are not bands of survey {s['survey']!r} "
                f"({', '.join(survey['bands'])}); give softening=[...] for every model band"
            )
        return [float(survey["softening"][b]) for b in s["bands"]]
    if isinstance(soft, str) or len(soft) != len(s["bands"]):
        raise ValueError(f"softening must be 'noise' or one value per band {s['bands']}, got {soft!r}")
    number = Setting(float, finite=True, positive=True)
    return [number.validate(v, "softening") for v in soft]
