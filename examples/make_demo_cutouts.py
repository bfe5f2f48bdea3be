"""Make the small bundled image set ``galzoo_fm/data/demo_cutouts.fits``.

24 simulated galaxies, 3 bands (g, r, z), 64 x 64 pixels at 0.262 arcsec/pixel (the DESI Legacy Surveys
scale): Sérsic profiles (astropy.modeling) of varied index, size, ellipticity and angle, band-dependent
colours, convolved with a Gaussian PSF and with Gaussian sky noise. Written as a FITS file with the image
cube (N, C, H, W) in the primary HDU (units: nanomaggies) and a binary table ``OBJECTS`` with id, ra, dec
and the true structural parameters. Re-run to regenerate it exactly (seeded)::

    python examples/make_demo_cutouts.py
"""

from pathlib import Path

import numpy as np
from astropy.convolution import Gaussian2DKernel, convolve_fft
from astropy.io import fits
from astropy.modeling.models import Sersic2D
from astropy.table import Table

N, SIZE, BANDS = 24, 64, ("g", "r", "z")
PIXSCALE = 0.262
OUT = Path(__file__).resolve().parents[1] / "galzoo_fm" / "data" / "demo_cutouts.fits"


def main(seed: int = 20261128) -> Path:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:SIZE, :SIZE]
    psf = Gaussian2DKernel(x_stddev=1.1 / 2.355 / PIXSCALE)  # 1.1" FWHM seeing
    cube = np.empty((N, len(BANDS), SIZE, SIZE), dtype=np.float32)
    rows = []
    for i in range(N):
        n_sersic = float(rng.choice([rng.uniform(0.6, 1.5), rng.uniform(3.0, 5.0)]))
        r_eff = float(rng.uniform(3.0, 10.0))  # pixels
        ellip = float(rng.uniform(0.0, 0.7))
        theta = float(rng.uniform(0, np.pi))
        flux_r = float(10 ** rng.uniform(0.5, 1.5))  # nanomaggies, ~ r = 19.5-20.7
        # early types redder than discs: g-r and r-z colours
        g_r = 0.75 if n_sersic > 2.5 else 0.45
        r_z = 0.45 if n_sersic > 2.5 else 0.3
        band_flux = {"g": flux_r * 10 ** (-0.4 * g_r), "r": flux_r, "z": flux_r * 10 ** (0.4 * r_z)}
        cx, cy = SIZE / 2 - 0.5 + rng.normal(0, 0.5, size=2)
        model = Sersic2D(amplitude=1.0, r_eff=r_eff, n=n_sersic, x_0=cx, y_0=cy, ellip=ellip, theta=theta)
        profile = model(x, y)
        profile /= profile.sum()
        for c, band in enumerate(BANDS):
            img = convolve_fft(profile * band_flux[band], psf, normalize_kernel=True)
            cube[i, c] = img + rng.normal(0.0, 0.004, size=img.shape)
        rows.append((f"demo{i:03d}", 150.0 + 0.01 * i, 2.2 + 0.005 * i, n_sersic, r_eff * PIXSCALE, ellip))
    objects = Table(rows=rows, names=("id", "ra", "dec", "sersic_n", "r_eff_arcsec", "ellipticity"))
    primary = fits.PrimaryHDU(cube)
    primary.header["BUNIT"] = "nanomaggy"
    primary.header["PIXSCALE"] = (PIXSCALE, "arcsec / pixel")
    for c, band in enumerate(BANDS):
        primary.header[f"BAND{c}"] = band
    primary.header["COMMENT"] = "Simulated Sersic galaxies made by examples/make_demo_cutouts.py"
    table_hdu = fits.BinTableHDU(objects, name="OBJECTS")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([primary, table_hdu]).writeto(OUT, overwrite=True)
    return OUT


if __name__ == "__main__":
    print(main())
