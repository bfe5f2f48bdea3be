"""Survey options: declared once per class, HTTP options inherited, validation, defaults and listings from it."""

import inspect
import json
from typing import ClassVar

import pytest

import galzoo_fm
from galzoo_fm.datasets.sim.survey import SyntheticSurvey
from galzoo_fm.fetch import survey_option_names
from galzoo_fm.surveys import (
    HiPSSurvey,
    HTTPSurvey,
    LegacySurvey,
    LocalSurvey,
    PanSTARRSSurvey,
    SDSSSurvey,
    SkyViewSurvey,
    Survey,
    describe_surveys,
    survey_info,
)
from galzoo_fm.surveys.options import DEFAULT, band_list, boolean, integer, number, text

HTTP = ["server", "cache_dir", "timeout", "retries", "backoff", "max_wait", "per_host"]
BUILTIN = [LegacySurvey, PanSTARRSSurvey, SDSSSurvey, HiPSSurvey, SkyViewSurvey, LocalSurvey, SyntheticSurvey]
URL = "http://127.0.0.1:9/x"


def test_http_options_are_declared_once_on_the_base_and_inherited():
    assert list(HTTPSurvey.option_settings()) == HTTP
    for cls in (LegacySurvey, PanSTARRSSurvey, SDSSSurvey, HiPSSurvey, SkyViewSurvey):
        table = cls.option_settings()
        assert list(table)[-len(HTTP):] == HTTP  # the survey's own options first
        assert all(table[k] is HTTPSurvey.options[k] for k in HTTP if k != "per_host")
        assert table["per_host"].default == cls.default_per_host
        assert not set(HTTP) & set(cls.__dict__["options"])  # not declared again
    assert list(LegacySurvey.option_settings())[:4] == ["layer", "bands", "pixscale", "invvar"]
    assert list(LocalSurvey.option_settings()) == ["path", "bands", "hdu", "layout", "index", "max_open"]  # no HTTP


@pytest.mark.parametrize("cls", BUILTIN, ids=lambda c: c.name)
def test_declarations_match_the_constructor_signatures(cls):
    # the names fetch's error messages list (from the signatures) are the declared options, in order
    assert survey_option_names(cls) == list(cls.option_settings())
    for klass in cls.__mro__:
        if "__init__" in klass.__dict__ and klass is not object:
            params = list(inspect.signature(klass.__dict__["__init__"]).parameters.values())[1:]
            assert all(p.default is DEFAULT for p in params if p.kind is not p.VAR_KEYWORD)


def test_strings_convert_as_on_the_command_line():
    s = LegacySurvey(server=URL, layer="ls-dr9", bands="g,z", pixscale=" 0.5 ", invvar="yes", timeout="7",
                     retries="0", backoff="0.25", max_wait="3", per_host="2")
    assert (s.layer, s.bands, s.pixscale, s.invvar, s.extras) == ("ls-dr9", ("g", "z"), 0.5, True, ("invvar",))
    assert (s.timeout, s.session.policy.retries, s.session.policy.backoff, s.session.policy.max_wait) == (
        7.0, 0, 0.25, 3.0)
    p = PanSTARRSSurvey(server=URL, bands="zy", per_exptime="0")
    assert (p.bands, p.per_exptime, p.server) == (("z", "y"), False, URL + "/")
    q = SDSSSurvey(server=URL, data_release="16", radius="12.5", frames_in_memory="3", pixscale="0.5")
    assert (q.data_release, q.layer, q.radius, q._frames_max, q.pixscale) == (16, "dr16", 12.5, 3, 0.5)
    synth = galzoo_fm.get_survey("synthetic", seed="4", n="20", bands="gi", noise="off", ra0="-10.5",
                                 spacing="12", columns="5")
    assert (synth.n, synth.bands, synth.noise) == (20, ("g", "i"), False)
    assert (synth.config.seed, synth.config.ra0, synth.config.spacing, synth.config.columns) == (4, -10.5, 12.0, 5)


def test_defaults_come_from_the_declarations():
    s = LegacySurvey(server=URL)
    assert (s.layer, s.bands, s.pixscale, s.invvar, s.timeout) == ("ls-dr10", ("g", "r", "i", "z"), 0.262, False,
                                                                    60.0)
    assert PanSTARRSSurvey(server=URL).bands == ("g", "r", "i")
    assert PanSTARRSSurvey(server=URL, bands=None).bands == ("g", "r", "i")  # None: the default, as before
    h = HiPSSurvey(server=URL)
    assert (h.pixscale, h.projection, len(h.bands)) == (0.262, "TAN", 3)
    assert SkyViewSurvey(server=URL).bands == ("SDSSg", "SDSSr", "SDSSi")
    q = SDSSSurvey(server=URL)
    assert (q.bands, q.pixscale, q.data_release, q.radius, q._frames_max) == (("g", "r", "i"), 0.396, 17, 30.0, 16)
    synth = SyntheticSurvey()
    assert (synth.n, synth.bands, synth.config.ra0, synth.config.columns) == (100_000, ("g", "r", "z"), 150.0, 250)
    assert SyntheticSurvey(ra0=None, columns=None).config.columns == 250  # None: the default, as before


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"timeout": "x"}, ValueError, "option timeout='x' is not a number"),
    ({"timeout": "-1"}, ValueError, "option timeout='-1' must be a finite positive number"),
    ({"retries": "-1"}, ValueError, "option retries='-1' must be >= 0"),
    ({"per_host": "0"}, ValueError, "option per_host='0' must be >= 1"),
    ({"invvar": "maybe"}, ValueError, "option invvar='maybe' is not a boolean (use true/false)"),
    ({"invvar": None}, ValueError, "option invvar=None is not a boolean"),
    ({"layer": None}, ValueError, "unknown legacy layer None; available: ls-dr10"),
    ({"server": "ftp://x"}, ValueError, "must start with http:// or https://"),
    ({"colour": "red"}, TypeError, "unexpected keyword argument 'colour'"),
])
def test_bad_values_name_the_option(options, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        LegacySurvey(**{"server": URL, **options})


def test_survey_specific_rules():
    with pytest.raises(ValueError, match="option radius=200.0 arcsec exceeds astroquery's CrossID limit of 180"):
        SDSSSurvey(server=URL, radius="200")
    with pytest.raises(ValueError, match="unknown SDSS band 'y'"):
        SDSSSurvey(server=URL, bands="gy")
    with pytest.raises(ValueError, match="option seed='-1' must be >= 0"):
        SyntheticSurvey(seed="-1")
    with pytest.raises(ValueError, match="option spacing='0' must be a finite positive number"):
        SyntheticSurvey(spacing="0")
    assert SyntheticSurvey(dec0="-5").config.dec0 == -5.0  # positions may be negative
    with pytest.raises(ValueError, match="the synthetic survey has no layers, got layer='ls-dr9'"):
        SyntheticSurvey(layer="ls-dr9")
    assert SyntheticSurvey(layer="").layer is None
    with pytest.raises(TypeError, match="unknown synthetic survey options: colour .known: seed, n, bands, "):
        SyntheticSurvey(colour="red")
    known = r"known: path, bands, hdu, layout, index, max_open"
    with pytest.raises(TypeError, match=rf"unknown local survey options: zz \({known}\)"):
        LocalSurvey(path=__file__, zz=1)


def test_info_listing_and_docstrings_come_from_the_declarations():
    info = LegacySurvey.info()
    options = {o["name"]: o for o in info["options"]}
    assert list(options) == list(LegacySurvey.option_settings())
    assert options["layer"]["default"] == "ls-dr10" and options["invvar"]["type"] == "bool"
    assert options["per_host"]["default"] == 4 and "host" in options["per_host"]["doc"]
    assert [o["name"] for o in survey_info("panstarrs")["options"]][:2] == ["bands", "per_exptime"]
    json.loads(describe_surveys("sdss", as_json=True))  # serialisable
    text_listing = describe_surveys("legacy")
    assert "options: layer=ls-dr10 bands pixscale invvar=false server cache_dir timeout=60.0 retries=5" in text_listing
    assert "per_host=4" in text_listing
    assert "per_host : int, default 3" in PanSTARRSSurvey.__doc__
    assert "{options}" not in (LegacySurvey.__doc__ + HTTPSurvey.__doc__ + SyntheticSurvey.__doc__)
    for cls in BUILTIN:
        for name in cls.option_settings():
            assert f"    {name} : " in cls.__doc__, (cls.name, name)


def test_a_plugin_survey_declares_options_and_inherits_the_http_ones():
    class Deep(HTTPSurvey):
        """A plugin survey.

        Parameters
        ----------
        {options}
        """

        name = "deep"
        all_bands = ("g", "r")
        native_pixscale = 0.2
        default_per_host = 1
        options: ClassVar = {
            "bands": band_list("gr", "Bands.", allowed=all_bands, what="deep band"),
            "pixscale": number(None, "Arcsec per pixel."),
            "deep": boolean(False, "Deep stacks."),
            "depth": integer(3, "Depth.", minimum=2),
            "mode": text("fast", "Mode.", rule=lambda v, k: v.lower()),
            "timeout": number(5.0, "A shorter timeout."),  # a declaration of the base changed, in its place
        }

        def __init__(self, bands=DEFAULT, pixscale=DEFAULT, deep=DEFAULT, depth=DEFAULT, mode=DEFAULT,
                     **http_options):
            super().__init__(**http_options)
            o = self.resolve_options(bands=bands, pixscale=pixscale, deep=deep, depth=depth, mode=mode)
            self.bands, self.deep, self.depth, self.mode = o["bands"], o["deep"], o["depth"], o["mode"]
            self.pixscale = o["pixscale"] or self.native_pixscale

    assert list(Deep.option_settings()) == ["bands", "pixscale", "deep", "depth", "mode", *HTTP]
    s = Deep(server=URL, bands="r", deep="true", mode="SLOW")
    assert (s.bands, s.deep, s.depth, s.mode, s.pixscale, s.timeout) == (("r",), True, 3, "slow", 0.2, 5.0)
    assert s.session.per_host == 1
    assert "depth : int, default 3" in Deep.__doc__ and "timeout : float, default 5.0" in Deep.__doc__
    with pytest.raises(ValueError, match="option depth='1' must be >= 2"):
        Deep(server=URL, depth="1")
    with pytest.raises(ValueError, match="unknown deep band 'z'; available: g, r"):
        Deep(server=URL, bands="z")
    with pytest.raises(TypeError, match="declares no option"):
        Deep.resolve_options(colour=1)


def test_a_plugin_survey_without_declarations_works_as_before():
    from galzoo_fm.surveys.base import parse_bands, parse_bool, parse_float, parse_int

    class Old(Survey):
        name = "old"
        all_bands = ("g",)

        def __init__(self, bands="g", scale="1", fast="no", depth="2"):
            self.bands = parse_bands(bands, self.all_bands)
            self.pixscale = parse_float(scale, "scale")
            self.fast = parse_bool(fast, "fast")
            self.depth = parse_int(depth, "depth")

    old = Old()
    assert (old.bands, old.pixscale, old.fast, old.depth) == (("g",), 1.0, False, 2)
    assert Old.option_settings() == {} and Old.info()["options"] == []
    assert survey_option_names(Old) == ["bands", "scale", "fast", "depth"]


def test_fetch_names_the_declared_options_of_a_survey_that_takes_them_as_kwargs():
    class Open(Survey):
        name = "open"
        options: ClassVar = {"depth": integer(3, "Depth."), "mode": text("fast", "Mode.")}

        def __init__(self, **options):
            o = self.resolve_options(**{"depth": DEFAULT, "mode": DEFAULT, **options})
            self.depth, self.mode = o["depth"], o["mode"]

    assert survey_option_names(Open) == ["depth", "mode"]
    assert (Open(depth="4").depth, Open().mode) == (4, "fast")
    with pytest.raises(TypeError, match="declares no option"):
        Open(colour="red")
