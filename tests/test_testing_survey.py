"""galzoo_fm.testing.check_survey: passes on built-in surveys, fails clearly on broken ones."""

from typing import ClassVar

import numpy as np
import pytest
from _survey_servers import FAST, ps1_server
from astropy.io import fits
from astropy.wcs import WCS

import galzoo_fm
from galzoo_fm.cutout import Cutout, Status
from galzoo_fm.surveys.base import Survey
from galzoo_fm.surveys.grid import tan_grid
from galzoo_fm.testing import check_survey

SYNTHETIC = [(150.0, 2.0), (150.0 + 30 / 3600, 2.0), (150.0, 2.0 + 30 / 3600)]


def local_file(path, n=80):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [30.0, -10.0]
    w.wcs.crpix = [(n + 1) / 2, (n + 1) / 2]
    w.wcs.cdelt = [-0.262 / 3600, 0.262 / 3600]
    header = w.to_header()
    header["BANDS"] = "gr"
    data = np.random.default_rng(0).normal(1.0, 0.1, (2, n, n)).astype(np.float32)
    fits.PrimaryHDU(data, header).writeto(path)
    return path


def test_synthetic_passes():
    check_survey("synthetic", SYNTHETIC, outside=(10.0, -40.0), size=24, n=50, seed=3)


def test_local_passes_by_name_and_object(tmp_path):
    path = local_file(tmp_path / "field.fits")
    positions = [(30.0, -10.0), (30.0 + 2 / 3600, -10.0 - 3 / 3600)]
    check_survey("local", positions, outside=(31.0, -10.0), path=str(path))
    survey = galzoo_fm.get_survey("local", path=str(path), bands="rg")
    try:
        check_survey(survey, positions, size=9)
    finally:
        survey.close()
    with pytest.raises(TypeError, match="only for a survey given by name"):
        check_survey(survey, positions, path=str(path))


def test_panstarrs_against_a_loopback_server_passes(tmp_path):
    srv = ps1_server()
    try:
        s = galzoo_fm.get_survey("panstarrs", server=srv.url + "/cgi-bin/", cache_dir=tmp_path, bands="gri", **FAST)
        check_survey(s, [(150.0, 2.0), (150.01, 2.01)], outside=(10.0, -50.0), size=12)
        s.close()
    finally:
        srv.close()


class Good(Survey):
    """A small correct survey: a constant per band on a TAN grid, nothing south of dec -30."""

    name: ClassVar[str] = "toy"
    all_bands: ClassVar[tuple[str, ...]] = ("g", "r")
    native_pixscale: ClassVar[float] = 0.5
    max_size: ClassVar[int] = 64

    def __init__(self):
        self.bands, self.pixscale = ("g", "r"), 0.5

    def fetch(self, ra, dec, size):
        size = self.check_size(size)
        if dec < -30:
            return Cutout(Status.OFF_FOOTPRINT, reason="south of the footprint")
        data = np.stack([np.full((size, size), ra + k, np.float32) for k in range(2)])
        return Cutout(Status.OK, data, tan_grid(ra, dec, size, self.pixscale))


class Float64(Good):
    def fetch(self, ra, dec, size):
        cut = super().fetch(ra, dec, size)
        return Cutout(cut.status, cut.data.astype(np.float64), cut.wcs) if cut.data is not None else cut


class ChannelsLast(Good):
    def fetch(self, ra, dec, size):
        cut = super().fetch(ra, dec, size)
        return Cutout(cut.status, np.moveaxis(cut.data, 0, -1).copy(), cut.wcs) if cut.data is not None else cut


class NoWCS(Good):
    def fetch(self, ra, dec, size):
        cut = super().fetch(ra, dec, size)
        return Cutout(cut.status, cut.data) if cut.data is not None else cut


class WrongCentre(Good):
    def fetch(self, ra, dec, size):
        cut = super().fetch(ra, dec, size)
        return Cutout(cut.status, cut.data, tan_grid(ra + 0.01, dec, size, 0.5))


class Shuffled(Good):
    def fetch_batch(self, ra, dec, size):
        return [self.fetch(float(r), float(d), size) for r, d in sorted(zip(ra, dec, strict=True))]


class Dropping(Good):
    def fetch_batch(self, ra, dec, size):
        return [self.fetch(float(r), float(d), size) for r, d in zip(ra[:-1], dec[:-1], strict=True)]


class StatusString(Good):
    def fetch(self, ra, dec, size):
        cut = super().fetch(ra, dec, size)
        cut.status = "ok"
        return cut


class PixelsOffFootprint(Good):
    def fetch(self, ra, dec, size):
        cut = super().fetch(ra, abs(dec), size)
        return Cutout(cut.status, cut.data, tan_grid(ra, dec, size, self.pixscale))


class NoReason(Good):
    def fetch(self, ra, dec, size):
        cut = super().fetch(ra, dec, size)
        return Cutout(cut.status, cut.data, cut.wcs) if cut.data is not None else Cutout(cut.status)


class BadInfo(Good):
    @classmethod
    def info(cls):
        return {"name": "toy", "bands": ["g", "r"]}


class BandsNotInAllBands(Good):
    def __init__(self):
        super().__init__()
        self.bands = ("g", "u")


class BadDefaults(Good):
    preprocessing: ClassVar[dict] = {"bands": ["g", "r"], "pixel_scale": 0.5, "softening": {"g": 0.01, "r": -1.0}}


class AcceptsAnySize(Good):
    def check_size(self, size):
        return int(size)


class Unsafe(Good):
    """Gives different pixels at every call: a batch never matches single fetches."""

    calls = 0

    def fetch(self, ra, dec, size):
        type(self).calls += 1
        cut = super().fetch(ra, dec, size)
        if cut.data is not None:
            cut.data += type(self).calls
        return cut


POSITIONS = [(10.0, 1.0), (10.01, 1.0), (10.02, 1.02)]


def test_good_toy_passes():
    check_survey(Good(), POSITIONS, outside=(10.0, -40.0))


@pytest.mark.parametrize("cls, message", [
    (Float64, r"data must be a float32 array \(C, H, W\) = \(2, 16, 16\), got \(2, 16, 16\) float64"),
    (ChannelsLast, r"data must be a float32 array \(C, H, W\) = \(2, 16, 16\), got \(16, 16, 2\) float32"),
    (NoWCS, "needs the 2-D celestial WCS of its"),
    (WrongCentre, r"the WCS puts the requested position at pixel .* not at the centre \(7.5, 7.5\)"),
    (Shuffled, "a batch must keep the order of its positions"),
    (Dropping, "fetch_batch must return a list of 3 cutouts, got 2"),
    (StatusString, "status must be a Status member, got 'ok'"),
    (PixelsOffFootprint, r"position \(10.0, -40.0\) off the footprint gave a 'ok' cutout"),
    (NoReason, "a 'off_footprint' cutout must say why in reason"),
    (BadInfo, "info\\(\\) lacks key\\(s\\) description, layers, pixscale, max_size, bands_note"),
    (BandsNotInAllBands, r"bands \('g', 'u'\) are not all in all_bands"),
    (BadDefaults, "preprocessing softening must be positive finite numbers"),
    (AcceptsAnySize, r"check_size\(16.0\) accepted a bad size \(expected TypeError\)"),
    (Unsafe, "differs from fetch at that position"),
])
def test_broken_surveys_fail_clearly(cls, message):
    with pytest.raises(AssertionError, match=f"survey 'toy'.*{message}"):
        check_survey(cls(), POSITIONS, outside=(10.0, -40.0))


def test_positions_without_data_and_not_a_survey():
    with pytest.raises(AssertionError, match="no position gave pixels"):
        check_survey(Good(), [(10.0, -50.0)])
    with pytest.raises(ValueError, match="needs positions"):
        check_survey(Good(), [])
    with pytest.raises(AssertionError, match="must be a galzoo_fm.surveys.Survey, got object"):
        check_survey(object(), POSITIONS)
