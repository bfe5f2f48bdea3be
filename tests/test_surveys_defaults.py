"""Preprocessing defaults on the Survey class: built-ins, SURVEY_DEFAULTS, and a plugin survey's own."""

from types import SimpleNamespace
from typing import ClassVar

import pytest

from galzoo_fm.embedding import default_preprocessor
from galzoo_fm.preprocess import SURVEY_DEFAULTS, survey_defaults
from galzoo_fm.surveys import LegacySurvey, PanSTARRSSurvey, SDSSSurvey, Survey


class PluginSurvey(Survey):
    name: ClassVar[str] = "plugin_hst"
    all_bands: ClassVar[tuple[str, ...]] = ("F606W", "F814W")
    preprocessing: ClassVar[dict] = {"bands": ["F606W", "F814W"], "pixel_scale": 0.05,
                                     "softening": {"F606W": 0.002, "F814W": 0.003}, "description": "test"}

    def __init__(self, bands=("F606W", "F814W")):
        self.bands, self.pixscale = tuple(bands), 0.05


def encoder(in_chans, bands=None):  # what default_preprocessor reads of an Encoder
    return SimpleNamespace(in_chans=in_chans, bands=bands, image_size=32)


@pytest.mark.parametrize("cls", [LegacySurvey, PanSTARRSSurvey, SDSSSurvey])
def test_builtin_defaults_are_the_classes(cls):
    assert cls.preprocessing_defaults() == SURVEY_DEFAULTS[cls.name] == survey_defaults(cls.name)
    copy = cls.preprocessing_defaults()
    copy["softening"]["g"] = -1.0  # a copy: the class's defaults are untouched
    assert cls.preprocessing["softening"]["g"] > 0
    assert Survey.preprocessing_defaults() is None


def test_default_preprocessor_asks_the_survey():
    legacy = LegacySurvey(bands="grz")
    pre = default_preprocessor(encoder(3), legacy).to_dict()
    assert pre["survey"] == "legacy"  # recorded by name, as before
    assert pre["softening"] == [SURVEY_DEFAULTS["legacy"]["softening"][b] for b in "grz"]
    plugin = default_preprocessor(encoder(2), PluginSurvey()).to_dict()
    assert plugin["survey"] is None and plugin["softening"] == [0.002, 0.003]
    assert plugin["input_pixel_scale"] == 0.05 and plugin["bands"] == ["F606W", "F814W"]

    class NoDefaults(PluginSurvey):
        preprocessing = None

    assert default_preprocessor(encoder(2), NoDefaults()).to_dict()["softening"] == "noise"
