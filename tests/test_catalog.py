"""Catalogue reading: column discovery, units, sexagesimal strings, bad rows, clear errors."""

from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

from galzoo_fm.catalog import CONVENTIONS, ID_NAMES, conventions_rst, read_catalog

ROOT = Path(__file__).resolve().parents[1]


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
    bad.write_bytes(b"<!DOCTYPE html><html>Service unavailable</html>")
    with pytest.raises(ValueError, match=r"cannot read catalogue '.*bad.fits': it is not a FITS file although its "
                                         r"name says so: it starts with '<!DOCTYPE html>"):
        read_catalog(bad)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"cannot read catalogue '.*empty.csv': it is empty \(0 bytes\)"):
        read_catalog(empty)


def _sky(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return 150.0 + rng.uniform(0, 1, n), 2.0 + rng.uniform(0, 1, n)


def _plain():
    ra, dec = _sky()
    return Table({"id": ["g0", "g1", "g2", "g3"], "ra": ra, "dec": dec, "z": np.float32([0.1] * 4)}), \
        ("id", "ra", "dec")


def _tractor():
    ra, dec = _sky()  # two bricks whose sources share objid numbers, as Tractor catalogues do
    t = Table({"release": np.int16([10000, 10000, 10000, 10000]), "brickid": np.int32([331234, 331234, 331235, 331235]),
               "brickname": ["1501p020", "1501p020", "1503p020", "1503p020"], "objid": np.int32([0, 1, 0, 1]),
               "type": ["SER", "PSF", "REX", "DEV"], "ra": ra, "dec": dec, "flux_r": np.float32([1, 2, 3, 4])})
    return t, ("ls_id", "ra", "dec")


def _datalab_tractor():
    t, _ = _tractor()
    t["ls_id"] = np.int64([1, 2, 3, 4])
    del t["brickid"]  # a Data Lab query with ls_id and objid but no brickid still takes ls_id
    return t, ("ls_id", "ra", "dec")


def _sdss():
    ra, dec = _sky()
    t = Table({"objID": np.int64([1237648720693755918, 1237648720693755919, 1237648720693821450,
                                  1237648720693821451]),
               "ra": ra, "dec": dec, "run": np.int16([756] * 4), "camcol": np.uint8([1] * 4),
               "field": np.int16([206, 206, 207, 207]), "type": np.int16([3] * 4),
               "petroMag_r": np.float32([17.1, 17.5, 16.9, 18.0])})
    return t, ("objID", "ra", "dec")


def _gaia():
    ra, dec = _sky()
    t = Table({"solution_id": np.int64([1635721458409799680] * 4),
               "designation": [f"Gaia DR3 38165{i}" for i in range(4)],
               "source_id": np.int64([3816500000000000001, 3816500000000000002, 3816500000000000003,
                                      3816500000000000004]),
               "ref_epoch": np.float64([2016.0] * 4), "ra": ra * u.deg, "dec": dec * u.deg,
               "phot_g_mean_mag": np.float32([19.0] * 4)})
    return t, ("source_id", "ra", "dec")


def _hsc():
    ra, dec = _sky()
    t = Table({"object_id": np.int64([36411448540270969, 36411448540270970, 36411448540270971,
                                      36411448540270972]),
               "ra": ra, "dec": dec, "i_ra": ra + 0.05 / 3600, "i_dec": dec - 0.05 / 3600,
               "i_cmodel_mag": np.float32([21.0] * 4)})
    return t, ("object_id", "ra", "dec")


def _hsc_band_only():
    t, _ = _hsc()
    del t["ra"], t["dec"]
    return t, ("object_id", "i_ra", "i_dec")


def _des():
    ra, dec = _sky()  # windowed positions a tenth of an arcsec away: the same measurement, not ambiguous
    t = Table({"COADD_OBJECT_ID": np.int64([1019293840, 1019293841, 1019293842, 1019293843]),
               "TILENAME": ["DES0959+0209"] * 4, "RA": ra, "DEC": dec,
               "ALPHAWIN_J2000": ra + 0.1 / 3600, "DELTAWIN_J2000": dec + 0.1 / 3600,
               "MAG_AUTO_I": np.float32([20.0] * 4)})
    return t, ("COADD_OBJECT_ID", "RA", "DEC")


def _sextractor():
    ra, dec = _sky()
    t = Table({"NUMBER": np.int32([1, 2, 3, 4]), "X_IMAGE": np.float32([10, 20, 30, 40]),
               "Y_IMAGE": np.float32([11, 21, 31, 41]), "X_WORLD": ra * u.deg, "Y_WORLD": dec * u.deg,
               "ALPHA_J2000": ra * u.deg, "DELTA_J2000": dec * u.deg,
               "ALPHAWIN_J2000": (ra + 0.05 / 3600) * u.deg, "DELTAWIN_J2000": (dec - 0.05 / 3600) * u.deg,
               "MAG_AUTO": np.float32([20.0] * 4), "FLAGS": np.int16([0] * 4)})
    return t, ("NUMBER", "ALPHA_J2000", "DELTA_J2000")


def _vizier():
    # recno and the catalogue's own sexagesimal J2000 columns, with VizieR's computed _RAJ2000/_DEJ2000 in
    # degrees: the strings are rounded to 0.01 s / 0.1", a difference that is not an ambiguity
    ra, dec = _sky()
    from astropy.coordinates import SkyCoord

    c = SkyCoord(ra * u.deg, dec * u.deg)
    t = Table({"_RAJ2000": ra, "_DEJ2000": dec, "recno": np.int32([1, 2, 3, 4]),
               "RAJ2000": c.ra.to_string(unit=u.hour, sep=" ", precision=2, pad=True),
               "DEJ2000": c.dec.to_string(unit=u.deg, sep=" ", precision=1, alwayssign=True, pad=True),
               "Vmag": np.float32([15.0] * 4)})
    return t, ("recno", "RAJ2000", "DEJ2000")


def _vizier_seq():
    ra, dec = _sky()
    t = Table({"recno": np.int32([1, 2, 3, 4]), "Seq": np.int32([101, 102, 103, 104]), "RAdeg": ra, "DEdeg": dec})
    return t, ("Seq", "RAdeg", "DEdeg")


CASES = {"plain": [_plain], "Legacy Surveys Tractor": [_tractor, _datalab_tractor], "SDSS": [_sdss],
         "Gaia": [_gaia], "HSC": [_hsc, _hsc_band_only], "SExtractor": [_sextractor], "DES": [_des],
         "VizieR": [_vizier, _vizier_seq]}


def test_every_convention_has_a_case():
    assert set(CASES) == {c.name for c in CONVENTIONS}


@pytest.mark.parametrize("make", [m for makers in CASES.values() for m in makers], ids=lambda m: m.__name__[1:])
def test_convention_columns(make):
    table, (id_col, ra_col, dec_col) = make()
    ra, dec = _sky()
    cat = read_catalog(table)
    assert cat.columns == {"id": id_col, "ra": ra_col, "dec": dec_col}
    np.testing.assert_allclose(cat.ra, ra, atol=2e-5)  # 0.07": the rounded sexagesimal strings, i_ra
    np.testing.assert_allclose(cat.dec, dec, atol=2e-5)
    assert cat.valid.all()
    ids = [str(i) for i in cat.ids]
    assert len(set(ids)) == len(ids)  # one id per object: joins on id work
    if id_col != "ls_id" and cat.table[id_col].dtype.kind in "iu":
        assert np.shares_memory(cat.ids, table[id_col])  # the integer column itself, no per-row strings


def test_tractor_ls_id_is_the_data_lab_id():
    table, _ = _tractor()
    cat = read_catalog(table)
    assert cat.ids.tolist() == [(10000 << 40) | (331234 << 16) | 0, (10000 << 40) | (331234 << 16) | 1,
                                (10000 << 40) | (331235 << 16) | 0, (10000 << 40) | (331235 << 16) | 1]
    assert "ls_id" in cat.table.colnames and "ls_id" not in table.colnames  # the caller's table is untouched
    del table["release"]  # without release no ls_id can be built: objid, whose duplicates the embedder warns of
    assert read_catalog(table).columns["id"] == "objid"
    assert read_catalog(table, id_col="brickname").columns["id"] == "brickname"


def test_running_numbers_are_ids_only_without_a_real_id():
    assert ID_NAMES[-3:] == ("number", "seq", "recno")
    ra, dec = _sky()
    t = Table({"recno": np.int32([1, 2, 3, 4]), "Name": ["a", "b", "c", "d"], "RAJ2000": ra, "DEJ2000": dec})
    assert read_catalog(t).columns["id"] == "Name"


def test_a_given_column_pairs_with_its_partner():
    ra, dec = _sky()
    t = Table({"RA": ra, "DEC": dec, "ALPHAWIN_J2000": ra + 1.0, "DELTAWIN_J2000": dec + 1.0})
    cat = read_catalog(t, ra_col="alphawin_j2000")
    assert cat.columns["ra"] == "ALPHAWIN_J2000" and cat.columns["dec"] == "DELTAWIN_J2000"


def test_ambiguous_positions_are_refused_and_named():
    ra, dec = _sky()
    t = Table({"ra": ra, "dec": dec, "RAJ2000": ra + 0.5})  # e.g. B1950 or another epoch: half a degree
    with pytest.raises(ValueError, match=r"ambiguous RA column: ra, RAJ2000 all look like RA .*RAJ2000 differs "
                                         r"from ra by 1\.\d+e\+03 arcsec.* --ra-col"):
        read_catalog(t)
    assert read_catalog(t, ra_col="RAJ2000").columns["ra"] == "RAJ2000"
    t = Table({"ALPHA_J2000": ra, "DELTA_J2000": dec, "X_WORLD": ra, "Y_WORLD": dec - 2.0})  # a galactic image
    with pytest.raises(ValueError, match=r"ambiguous DEC column: DELTA_J2000, Y_WORLD"):
        read_catalog(t)


def test_docs_list_the_conventions_table():
    text = (ROOT / "docs" / "catalogs.rst").read_text()
    assert conventions_rst() in text, "docs/catalogs.rst: paste galzoo_fm.catalog.conventions_rst() again"


def test_sextractor_files(tmp_path):
    table, _ = _sextractor()
    ascii_head = tmp_path / "image.cat"  # SExtractor's default ASCII_HEAD output
    lines = [f"#{i + 1:4d} {name:<22} {name.lower()}" for i, name in enumerate(table.colnames)]
    lines += [" ".join(f"{table[c][r]:.10g}" if table[c].dtype.kind == "f" else str(table[c][r])
                       for c in table.colnames) for r in range(len(table))]
    ascii_head.write_text("\n".join(lines) + "\n")
    cat = read_catalog(ascii_head)
    assert cat.columns == {"id": "NUMBER", "ra": "ALPHA_J2000", "dec": "DELTA_J2000"} and cat.valid.all()
    from astropy.io import fits

    ldac = tmp_path / "image_ldac.fits"  # FITS_LDAC: the image header table first, the objects second
    imhead = fits.BinTableHDU(Table({"Field Header Card": [("SIMPLE  =                    T" + " " * 50) * 10]}),
                              name="LDAC_IMHEAD")
    fits.HDUList([fits.PrimaryHDU(), imhead, fits.table_to_hdu(table)]).writeto(ldac)
    with fits.open(ldac, mode="update") as hdul:
        hdul[2].name = "LDAC_OBJECTS"
    cat = read_catalog(ldac)
    assert cat.columns["ra"] == "ALPHA_J2000" and cat.ids.tolist() == [1, 2, 3, 4]


def test_truncated_fits_says_so(tmp_path):
    ra = np.linspace(150, 151, 3000)
    path = tmp_path / "full.fits"
    Table({"id": np.arange(3000), "ra": ra, "dec": ra - 148.0}).write(path)
    body = path.read_bytes()
    assert len(read_catalog(path)) == 3000
    for cut, part in [(len(body) - 2880, "data"), (2880 + 1000, "header"), (1000, "header")]:
        short = tmp_path / f"cut{cut}.fits"
        short.write_bytes(body[:cut])
        with pytest.raises(ValueError, match=rf"cannot read catalogue '.*cut{cut}.fits': it is truncated: the file has "
                                             rf"{cut} bytes but its FITS {part} needs \d+ \(an interrupted download or "
                                             r"copy\?\)"):
            read_catalog(short)
    gz = tmp_path / "cut.fits.gz"
    import gzip

    gz.write_bytes(gzip.compress(body)[:5000])
    with pytest.raises(ValueError, match=r"cannot read catalogue '.*cut.fits.gz': it is truncated: the compressed "
                                         r"file ends early"):
        read_catalog(gz)
    image = tmp_path / "image.fits"
    from astropy.io import fits

    fits.PrimaryHDU(np.zeros((4, 4), np.float32)).writeto(image)
    with pytest.raises(ValueError, match=r"cannot read catalogue '.*image.fits': it is a FITS file without a table "
                                         r"HDU \(HDUs: PRIMARY"):
        read_catalog(image)


@pytest.mark.parametrize("name", ["notes.txt", "notes.csv", "notes.dat"])
@pytest.mark.parametrize("prose", [
    "This README describes the galaxies we observed in 2024.\nThey were selected by eye, and some are mergers.\n",
    "The galaxies, which we observed, are here.\nSecond line, with commas, too.\n",
    "Hello world\n",
])
def test_prose_is_not_a_table(tmp_path, name, prose):
    path = tmp_path / name
    path.write_text(prose)
    first = prose.splitlines()[0]
    with pytest.raises(ValueError, match=rf"cannot read catalogue '.*{name}': it (is not a table|does not look like a "
                                         rf"table with column names).*first line reads '{first[:20]}"):
        read_catalog(path)
