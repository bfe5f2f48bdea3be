"""Catalogue reading: column discovery, units, sexagesimal strings, bad rows, clear errors."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

from galzoo_fm.catalog import read_catalog


@pytest.mark.parametrize(("ra", "dec"), [("ra", "dec"), ("RA", "DEC"), ("ra_deg", "dec_deg"),
                                         ("RAJ2000", "DEJ2000"), ("_RAJ2000", "_DEJ2000"), ("RA_ICRS", "DE_ICRS")])
def test_finds_common_column_names(ra, dec):
    cat = read_catalog(Table({ra: [1.0, 2.0], dec: [3.0, 4.0], "OBJID": [7, 8]}))
    assert cat.columns == {"id": "OBJID", "ra": ra, "dec": dec}
    np.testing.assert_allclose(cat.ra, [1, 2])
    assert [str(i) for i in cat.ids] == ["7", "8"]
    assert cat.ids.dtype.kind == "i" and np.shares_memory(cat.ids, cat.table["OBJID"])  # no per-row strings
    assert cat.valid.all()
    masked = read_catalog(Table({"ra": [1.0, 2.0], "dec": [3.0, 4.0],
                                 "objid": np.ma.array([7, 8], mask=[False, True])}))
    assert masked.ids.tolist() == ["7", ""]  # a masked id is empty text


def test_overrides_are_case_insensitive_and_checked():
    t = Table({"alpha_x": [1.0], "delta_x": [2.0], "ra": [99.0], "dec": [0.0]})
    cat = read_catalog(t, ra_col="ALPHA_X", dec_col="delta_x")
    assert cat.ra[0] == 1.0 and cat.dec[0] == 2.0
    with pytest.raises(ValueError, match=r"RA column 'nope' not found; the catalogue has columns: alpha_x"):
        read_catalog(t, ra_col="nope")


def test_missing_columns_error_lists_present_ones():
    with pytest.raises(ValueError, match=r"cannot find a RA column .* has columns: x, y, mag"):
        read_catalog(Table({"x": [1.0], "y": [2.0], "mag": [3.0]}))


def test_bad_rows_become_statuses_not_errors():
    t = Table({"ra": [10.0, np.nan, 400.0, -1.0, 20.0], "dec": [0.0, 0.0, 0.0, 0.0, -91.0]})
    cat = read_catalog(t)
    assert cat.valid.tolist() == [True, False, False, False, False]
    assert "missing or not a number" in cat.reasons[1]
    assert cat.reasons[2] == "RA 400.0 outside [0, 360)"
    assert cat.reasons[4] == "Dec -91.0 outside [-90, 90]"
    assert cat.ids.tolist() == [0, 1, 2, 3, 4]  # no id column: row numbers
    assert np.isnan(cat.ra[1:]).all()
    assert cat.coords.shape == (5,)


def test_masked_values_units_and_sexagesimal():
    t = Table({"ra": np.ma.array([1.0, 2.0], mask=[False, True]), "dec": [0.0, 0.0]})
    assert read_catalog(t).valid.tolist() == [True, False]
    t = Table({"ra": [np.pi] * u.rad, "dec": [0.0] * u.rad})
    assert read_catalog(t).ra[0] == pytest.approx(180.0)
    t = Table({"ra": ["10:00:00", "150.5", "junk"], "dec": ["+02:30:00", "-1.5", "0"]})
    cat = read_catalog(t)
    assert cat.ra[:2] == pytest.approx([150.0, 150.5]) and cat.dec[:2] == pytest.approx([2.5, -1.5])
    assert cat.valid.tolist() == [True, True, False]
    with pytest.raises(ValueError, match="unit m, which is not an angle"):
        read_catalog(Table({"ra": [1.0] * u.m, "dec": [0.0]}))


@pytest.mark.parametrize("ext", [".fits", ".ecsv", ".csv"])
def test_reads_files(tmp_path, ext):
    path = tmp_path / f"cat{ext}"
    Table({"name": ["a", "b"], "ra": [1.0, 2.0], "dec": [3.0, 4.0]}).write(path)
    cat = read_catalog(path)
    assert cat.ids.tolist() == ["a", "b"] and cat.source == str(path)
    assert len(cat.fingerprint()) == 64 and cat.fingerprint() == read_catalog(path).fingerprint()


def test_unreadable_or_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_catalog(tmp_path / "nope.fits")
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"not a table")
    with pytest.raises(ValueError, match="cannot read catalogue"):
        read_catalog(bad)
