"""Loopback HTTP servers that speak the survey services' protocols, with latency and fault injection.

Each service synthesises its answers from the request (so any position works) the way the real service
lays them out: Legacy Survey ``fits-cutout`` (one primary float32 cube with BANDS/BAND<i> and a TAN WCS,
zeros off the footprint), PS1 ``ps1filenames.py`` + ``fitscut.cgi``, CDS ``hips2fits``, the SkyView form
and result pages, and the SDSS SkyServer SQL / CrossID endpoints plus bz2 frames on the SAS.

The mock sky: everything with Dec < -30 is off every footprint; -30 <= Dec < -29 is half covered (the
left half of each cutout is zero / blank). Faults are queued per request with :meth:`ServiceServer.inject`.
"""

from __future__ import annotations

import bz2
import io
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

OFF_DEC = -30.0
PARTIAL_DEC = -29.0


def tan_header(ra: float, dec: float, nx: int, ny: int, pixscale: float, *, rot: float = 0.0) -> fits.Header:
    """A TAN WCS header with the position at the image centre (1-based (n+1)/2)."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(nx + 1) / 2, (ny + 1) / 2]
    c, s = np.cos(np.radians(rot)), np.sin(np.radians(rot))
    w.wcs.cd = pixscale / 3600.0 * np.array([[-c, s], [s, c]])
    return w.to_header()


def cd_header(header: fits.Header) -> fits.Header:
    """``header``'s WCS written with ``CDi_j`` keywords instead of ``PCi_j``/``CDELTi``, as the Legacy Survey
    viewer writes its cutouts (astropy's ``cdfix`` then completes the CD matrix of the band axis of a cube)."""
    out = header.copy()
    cd = WCS(header).wcs.get_cdelt()[:, None] * WCS(header).wcs.get_pc()
    for key in [k for k in out if k.startswith(("PC", "CDELT")) or k == "WCSAXES"]:
        del out[key]
    for i in range(2):
        for j in range(2):
            out[f"CD{i + 1}_{j + 1}"] = cd[i, j]
    return out


def blob(ny: int, nx: int, amp: float = 10.0, sigma: float = 3.0) -> np.ndarray:
    yy, xx = np.mgrid[0:ny, 0:nx]
    return amp * np.exp(-((xx - (nx - 1) / 2) ** 2 + (yy - (ny - 1) / 2) ** 2) / (2 * sigma**2))


def coverage(dec: float, ny: int, nx: int) -> np.ndarray:
    """1 where the mock survey has data, 0 elsewhere."""
    if dec < OFF_DEC:
        return np.zeros((ny, nx), np.float32)
    mask = np.ones((ny, nx), np.float32)
    if dec < PARTIAL_DEC:
        mask[:, : nx // 2] = 0
    return mask


def fits_bytes(hdus: list) -> bytes:
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    return buf.getvalue()


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/fits"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]
    time: float

    def q(self, key: str, default: str | None = None) -> str | None:
        values = self.query.get(key)
        return values[0] if values else default


class ServiceServer:
    """A threading HTTP server on 127.0.0.1 dispatching to route handlers.

    Parameters
    ----------
    routes : dict
        ``{path regex: handler(Request) -> Reply}``.
    latency : float
        Seconds added to every request.
    """

    def __init__(self, routes: dict[str, Callable[[Request], Reply]], latency: float = 0.0):
        self.routes = [(re.compile(k), v) for k, v in routes.items()]
        self.latency = latency
        self.log: list[Request] = []
        self.rules: list[tuple[Callable[[Request], bool], list[str | tuple]]] = []
        self._lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def inject(self, match: Callable[[Request], bool], *faults: str | tuple) -> None:
        """Queue faults for requests matching ``match``, consumed one per matching request.

        A fault is ``"500"``, ``"404"``, ``("429", retry_after)``, ``("slow", seconds)``, ``"truncate"`` (a
        Content-Length promising more than is sent), ``"short"`` (an honest Content-Length of a cut FITS),
        ``"garbage"`` (random bytes with status 200) or ``"html"`` (an HTML error page with status 200).
        """
        with self._lock:
            self.rules.append((match, list(faults)))

    def requests_for(self, path_part: str) -> list[Request]:
        return [r for r in self.log if path_part in r.path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _fault(self, req: Request):
        with self._lock:
            for match, faults in self.rules:
                if faults and match(req):
                    return faults.pop(0)
        return None

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        query = parse_qs(parts.query, keep_blank_values=True)
        if method == "POST" and "multipart/form-data" not in (h.headers.get("Content-Type") or ""):
            query.update(parse_qs(body.decode("latin-1"), keep_blank_values=True))
        req = Request(method, parts.path, query, body, dict(h.headers), time.time())
        with self._lock:
            self.log.append(req)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.latency:
                time.sleep(self.latency)
            fault = self._fault(req)
            if isinstance(fault, tuple) and fault[0] == "slow":
                time.sleep(fault[1])
                fault = None
            reply = self._route(req)
            self._send(h, reply, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self._lock:
                self.active -= 1

    def _route(self, req: Request) -> Reply:
        for pattern, handler in self.routes:
            if pattern.search(req.path):
                try:
                    return handler(req)
                except Exception as exc:  # a bug in a mock handler shows up as a 500 with the reason
                    return Reply(500, f"mock error: {type(exc).__name__}: {exc}".encode(), "text/plain")
        return Reply(404, b"not found", "text/plain")

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply, fault) -> None:
        status, body, ctype, headers = reply.status, reply.body, reply.content_type, dict(reply.headers)
        cut = None
        if fault in ("500", "404", "503"):
            status, body, ctype = int(fault), b"<html>error</html>", "text/html"
        elif isinstance(fault, tuple) and fault[0] == "429":
            status, body, ctype = 429, b"slow down", "text/plain"
            headers["Retry-After"] = str(fault[1])
        elif fault == "garbage":
            body = np.random.default_rng(len(self.log)).bytes(5000)
        elif fault == "html":
            body, ctype = b"<html><body>Internal error, try later</body></html>", "text/html"
        elif fault == "short":
            body = body[: max(len(body) // 2, 100)]
        elif fault == "truncate":
            cut = len(body) // 2
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            h.send_header(k, v)
        if cut is not None:
            h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body if cut is None else body[:cut])
        h.wfile.flush()
        if cut is not None:
            h.close_connection = True


# --------------------------------------------------------------------------------------------- Legacy Survey
LEGACY_LAYERS = {"ls-dr10": "griz", "ls-dr9": "grz", "ls-dr10-south": "griz", "hsc-dr3": "grizy",
                 "des-dr1": "grizY", "sdss": "gri"}


def legacy_cutout(req: Request) -> Reply:
    ra, dec = float(req.q("ra")), float(req.q("dec"))
    layer = req.q("layer", "ls-dr10")
    if layer not in LEGACY_LAYERS:
        return Reply(400, f"Unknown layer {layer}".encode(), "text/plain")
    size = int(req.q("size", "256"))
    w, hgt = int(req.q("width", size)), int(req.q("height", size))
    pixscale = float(req.q("pixscale", "0.262"))
    wanted = req.q("bands") or LEGACY_LAYERS[layer]
    bands = [b for b in LEGACY_LAYERS[layer] if b in wanted]  # served in the layer's order
    cov = coverage(dec, hgt, w)
    cube = np.stack([(1.0 + "grizyY".index(b) + blob(hgt, w)) * cov for b in bands]).astype(np.float32)
    header = cd_header(tan_header(ra, dec, w, hgt, pixscale))  # CDi_j for the sky axes of a 3-D cube, as served
    header["BANDS"] = "".join(bands)
    for i, b in enumerate(bands):
        header[f"BAND{i}"] = b
    header["VERSION"] = "mock"
    header["IMAGETYP"] = "image"
    hdus = [fits.PrimaryHDU(cube, header)]
    if "invvar" in req.query:
        ih = header.copy()
        ih["IMAGETYP"] = "invvar"
        hdus.append(fits.ImageHDU((np.full_like(cube, 4.0) * cov).astype(np.float32), ih))
    return Reply(body=fits_bytes(hdus))


def legacy_server(latency: float = 0.0) -> ServiceServer:
    return ServiceServer({r"/viewer/fits-cutout$": legacy_cutout}, latency)


# ------------------------------------------------------------------------------------------------- Pan-STARRS
def ps1_filenames(req: Request) -> Reply:
    ra, dec = float(req.q("ra")), float(req.q("dec"))
    lines = ["projcell subcell ra dec filter mjd type filename shortname badflag"]
    if dec >= OFF_DEC:
        for f in req.q("filters", "grizy"):
            name = f"/rings.v3.skycell/1784/059/rings.v3.skycell.1784.059.stk.{f}.unconv.fits"
            lines.append(f"1784 59 {ra:.6f} {dec:.6f} {f} 0 stack {name} s.{f}.fits 0")
    return Reply(body=("\n".join(lines) + "\n").encode(), content_type="text/plain")


def ps1_fitscut(req: Request) -> Reply:
    ra, dec, size = float(req.q("ra")), float(req.q("dec")), int(req.q("size"))
    band = req.q("red").split(".stk.")[1][0]
    header = tan_header(ra, dec, size, size, 0.25)
    header["EXPTIME"] = {"g": 10.0, "r": 20.0, "i": 40.0, "z": 20.0, "y": 10.0}[band]
    header["FILTER"] = f"{band}.00000"
    data = ((5.0 + blob(size, size)) * header["EXPTIME"] * coverage(dec, size, size)).astype(np.float32)
    return Reply(body=fits_bytes([fits.PrimaryHDU(data, header)]))


def ps1_server(latency: float = 0.0) -> ServiceServer:
    return ServiceServer({r"/cgi-bin/ps1filenames\.py$": ps1_filenames, r"/cgi-bin/fitscut\.cgi$": ps1_fitscut},
                         latency)


# --------------------------------------------------------------------------------------------------- hips2fits
def hips2fits(req: Request) -> Reply:
    hips = req.q("hips")
    if not hips or not hips.startswith("CDS/"):
        body = json.dumps({"title": "HiPS not found", "description": f"{hips} is not a known HiPS"})
        return Reply(422, body.encode(), "application/json")
    w, hgt = int(req.q("width")), int(req.q("height"))
    ra, dec, fov = float(req.q("ra")), float(req.q("dec")), float(req.q("fov"))
    header = tan_header(ra, dec, w, hgt, fov * 3600 / w)
    cov = coverage(dec, hgt, w)
    data = np.where(cov > 0, 2.0 + blob(hgt, w), np.nan).astype(np.float32)
    return Reply(body=fits_bytes([fits.PrimaryHDU(data, header)]))


def hips_server(latency: float = 0.0) -> ServiceServer:
    return ServiceServer({r"/hips2fits$": hips2fits}, latency)


# ----------------------------------------------------------------------------------------------------- SkyView
SKYVIEW_FORM = """<html><body>
<form method="get" action="../cgi/runquery.pl" name="form1">
<input type="text" name="Position" value="">
<select name="survey" id="Optical:SDSS" multiple="multiple">
<option>SDSSg</option><option>SDSSr</option><option>SDSSi</option><option>SDSSz</option>
</select>
<select name="survey" id="Optical:DSS" multiple="multiple"><option>DSS2 Red</option></select>
<select name="survey" id="overlay_survey"><option>none</option></select>
<input type="text" name="pixels" value="300">
<input type="radio" name="projection" value="Tan" checked="">
<input type="submit" value="Submit">
</form></body></html>"""


class SkyViewMock:
    def __init__(self):
        self.files: dict[str, bytes] = {}

    def form(self, req: Request) -> Reply:
        return Reply(body=SKYVIEW_FORM.encode(), content_type="text/html")

    def run(self, req: Request) -> Reply:
        ra, dec = (float(v) for v in req.q("Position").split())
        npix = int(req.q("pixels").split(",")[0])
        size_deg = float(req.q("size").split(",")[0])
        links = []
        for i, survey in enumerate(req.query.get("survey", [])):
            header = tan_header(ra, dec, npix, npix, size_deg * 3600 / npix)
            header["SURVEY"] = survey
            data = ((3.0 + i + blob(npix, npix)) * coverage(dec, npix, npix)).astype(np.float32)
            name = f"skv{uuid.uuid4().hex[:12]}_{i + 1}.fits"
            self.files[name] = fits_bytes([fits.PrimaryHDU(data, header)])
            links.append(f'<a href="../../tempspace/fits/{name}">FITS</a>')
        return Reply(body=("<html><body>" + " ".join(links) + "</body></html>").encode(), content_type="text/html")

    def file(self, req: Request) -> Reply:
        body = self.files.get(req.path.rsplit("/", 1)[-1])
        return Reply(body=body) if body else Reply(404, b"gone", "text/plain")


def skyview_server(latency: float = 0.0) -> ServiceServer:
    mock = SkyViewMock()
    return ServiceServer({r"/current/cgi/basicform\.pl$": mock.form, r"/current/cgi/runquery\.pl$": mock.run,
                          r"/tempspace/fits/": mock.file}, latency)


# -------------------------------------------------------------------------------------------------------- SDSS
SDSS_FRAME = (149, 204)  # (ny, nx): a small stand-in for the 1489 x 2048 frames
SDSS_RUN, SDSS_CAMCOL = 756, 3


def sdss_field_of(ra: float) -> int:
    return 100 + int(np.floor(ra / 0.02))


def sdss_field_center(field: int) -> tuple[float, float]:
    return (field - 100 + 0.5) * 0.02, 1.0


def sdss_sql(req: Request) -> Reply:
    cmd = req.q("cmd") or ""
    if "fDocColumns" in cmd:
        rows = [{"name": n, "type": "int", "unit": "", "ucd": "", "description": n}
                for n in ("objID", "ra", "dec", "run", "rerun", "camcol", "field", "type")]
        return Reply(body=json.dumps([{"TableName": "Table1", "Rows": rows}]).encode(),
                     content_type="application/json")
    return Reply(400, b"error_message: unsupported query", "text/plain")


def sdss_crossid(req: Request) -> Reply:
    text = req.body.decode("latin-1")
    m = re.search(r"name ra dec \n(.*?)\r?\n--", text, re.S)
    lines = [ln.split() for ln in (m.group(1) if m else "").splitlines() if ln.strip()]
    out = ["#Table1", "run,rerun,camcol,field,type"]
    for _, ra, dec in lines:
        if float(dec) >= OFF_DEC:
            out.append(f"{SDSS_RUN},301,{SDSS_CAMCOL},{sdss_field_of(float(ra))},GALAXY")
    return Reply(body=("\n".join(out) + "\n").encode(), content_type="text/plain")


def sdss_frame(req: Request) -> Reply:
    m = re.search(r"frame-([ugriz])-(\d{6})-(\d)-(\d{4})\.fits\.bz2$", req.path)
    band, field = m.group(1), int(m.group(4))
    ra0, dec0 = sdss_field_center(field)
    ny, nx = SDSS_FRAME
    shift = "ugriz".index(band) * 0.3  # bands are offset by fractions of a pixel, as in real frames
    header = tan_header(ra0, dec0, nx, ny, 0.396, rot=0.5)
    header["CRPIX1"] += shift
    header["FILTER"] = band
    header["BUNIT"] = "nanomaggy"
    header.rename_keyword("RADESYS", "RADECSYS")  # as real frames write it (deprecated: astropy warns) ...
    header["DATE-OBS"] = "2003-03-31"  # ... and a date wcslib's datfix turns into MJD-OBS (another warning)
    data = np.full((ny, nx), 1.0 + "ugriz".index(band), np.float32)
    return Reply(body=bz2.compress(fits_bytes([fits.PrimaryHDU(data, header)])), content_type="application/x-bzip2")


def sdss_server(latency: float = 0.0) -> ServiceServer:
    return ServiceServer({r"/dr\d+/en/tools/search/x_results\.aspx$": sdss_sql,
                          r"/dr\d+/en/tools/search/X_Results\.aspx$": sdss_crossid,
                          r"/sas/dr\d+/.*/photoObj/frames/": sdss_frame}, latency)


#: HTTP options that keep tests fast: short timeout, tiny backoff.
FAST = {"timeout": 1.0, "retries": 3, "backoff": 0.01, "max_wait": 2.0}
