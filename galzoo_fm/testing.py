"""Contract checks that plugin authors (and our own tests) run on registered items.

Each ``check_*`` function builds the item through the public factory and raises ``AssertionError`` with an
explanation when the item breaks the contract that the rest of galzoo_fm relies on::

    from galzoo_fm.testing import check_backbone

    def test_my_backbone():
        check_backbone("my_backbone")

:func:`check_survey` checks a survey adapter on positions where it has data (offline surveys such as
``local`` and ``synthetic`` need no network; an HTTP survey can be pointed at a loopback server).
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from galzoo_fm.losses import LossOutput
from galzoo_fm.losses.base import resolve_question_groups
from galzoo_fm.models.backbones.base import build_backbone
from galzoo_fm.plugins import get_registry

__all__ = ["TinyEncoder", "check_backbone", "check_loss", "check_survey"]


def _fail(message: str) -> None:
    raise AssertionError(message)


def check_backbone(
    name: str,
    *,
    in_chans: Sequence[int] = (1, 3, 5),
    image_size: int = 32,
    batch_size: int = 2,
    **kwargs,
) -> None:
    """Check that backbone ``name`` follows the backbone contract.

    For each channel count: built by :func:`galzoo_fm.get_backbone` with ``in_chans`` and ``image_size``; maps
    ``(batch_size, C, image_size, image_size)`` float32 images to finite ``(batch_size, num_features)``
    features; is deterministic in eval mode; the rows of a batch are independent in eval mode (no
    cross-sample leakage); and gradients reach its parameters in train mode.

    Raises
    ------
    AssertionError
        Describing the first broken rule.
    """

    gen = torch.Generator().manual_seed(0)
    for c in in_chans:
        model = build_backbone(name, in_chans=c, image_size=image_size, **kwargs)
        d = model.num_features
        x = torch.randn(batch_size, c, image_size, image_size, generator=gen)
        model.eval()
        with torch.no_grad():
            y = model(x)
            if not isinstance(y, torch.Tensor) or tuple(y.shape) != (batch_size, d):
                got = getattr(y, "shape", type(y))
                _fail(f"{name} (in_chans={c}): output shape {got}, expected ({batch_size}, {d})")
            if not y.is_floating_point() or not torch.isfinite(y).all():
                _fail(f"{name} (in_chans={c}): output must be finite floating point, got {y.dtype}")
            if not torch.equal(model(x), y):
                _fail(f"{name} (in_chans={c}): two eval-mode forward passes differ")
            single = model(x[:1])
            if not torch.allclose(single, y[:1], rtol=1e-4, atol=1e-5):
                _fail(f"{name} (in_chans={c}): features of an image depend on the other images of the batch")
        model.train()
        model(x).float().square().mean().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        if not grads or not any(g is not None and torch.count_nonzero(g) > 0 for g in grads):
            _fail(f"{name} (in_chans={c}): no gradient reached the parameters")


class TinyEncoder(nn.Module):
    """A small CNN with the encoder contract, ``(N, in_chans, H, W)`` → ``(N, num_features)``, for tests.

    Parameters
    ----------
    in_chans : int
        Input bands.
    num_features : int
        Output width.
    seed : int
        Seed of the initialisation (the global random state is left untouched).
    """

    def __init__(self, in_chans: int = 3, num_features: int = 16, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(
                nn.Conv2d(in_chans, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, num_features),
            )
        self.in_chans = in_chans
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(N, num_features)``."""
        return self.net(x)


def _loss_declarations(name: str, obj: Any) -> dict[str, Any]:
    decl = {}
    for attr, kind in (("n_views", int), ("needs_votes", bool), ("uses_votes", bool), ("has_ema_target", bool)):
        value = getattr(obj, attr, None)
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 1)):
            _fail(f"loss {name!r} must declare {attr} as {'a positive int' if kind is int else 'a bool'}, "
                  f"got {value!r}")
        decl[attr] = value
    return decl


def check_loss(
    name: str,
    *,
    schema: Any = "decals_dr5",
    batch_size: int = 6,
    image_size: int = 16,
    in_chans: int = 3,
    **kwargs: Any,
) -> None:
    """Check that loss ``name`` follows the loss contract that the trainer relies on.

    The loss is built by :func:`galzoo_fm.get_loss` around a :class:`TinyEncoder` (with ``schema`` when it
    declares that it uses votes) and checked for: declared ``n_views`` / ``needs_votes`` / ``uses_votes`` /
    ``has_ema_target``; a finite 0-d loss in a :class:`~galzoo_fm.losses.LossOutput`; gradients that reach
    the encoder; determinism (the same inputs and seed give the same loss); a finite loss under bfloat16
    autocast; a finite loss on a batch where only some galaxies have votes and, for losses that do not
    need votes, on an all-unlabelled batch; a clear ``ValueError`` for the wrong number of views; EMA
    targets that move on ``update_target`` and are excluded from the optimizer parameters.

    Parameters
    ----------
    name : str
        Registered loss name.
    schema : Schema or str
        Vote schema for losses that use votes.
    batch_size, image_size, in_chans : int
        Size of the synthetic batch.
    **kwargs
        Passed to the loss factory (e.g. small head sizes).

    Raises
    ------
    AssertionError
        Describing the first broken rule.
    """

    gen = torch.Generator().manual_seed(0)
    groups, n_answers = resolve_question_groups(schema)
    encoder = TinyEncoder(in_chans=in_chans)
    probe = get_registry("losses").create(name, encoder=TinyEncoder(in_chans=in_chans), schema=schema, **kwargs)
    decl = _loss_declarations(name, probe)
    uses_votes = decl["needs_votes"] or decl["uses_votes"]
    loss_obj = get_registry("losses").create(name, encoder=encoder, schema=schema if uses_votes else None, **kwargs)
    views = [torch.randn(batch_size, in_chans, image_size, image_size, generator=gen) for _ in range(decl["n_views"])]
    votes = torch.zeros(batch_size, n_answers)
    for start, end in groups[:2]:  # the first galaxies answer a couple of questions
        votes[: batch_size // 2, start:end] = torch.randint(0, 8, (batch_size // 2, end - start), generator=gen).float()
    votes_arg = votes if uses_votes else None

    def run(obj, vs, vt):
        torch.manual_seed(1234)
        out = obj(vs, vt)
        if not isinstance(out, LossOutput):
            _fail(f"loss {name!r} must return a LossOutput, got {type(out).__name__}")
        if not isinstance(out.loss, torch.Tensor) or out.loss.ndim != 0:
            _fail(f"loss {name!r} must return a 0-d tensor loss, got {getattr(out.loss, 'shape', out.loss)}")
        if not torch.isfinite(out.loss):
            _fail(f"loss {name!r} is not finite: {out.loss}")
        return out

    loss_obj.train()
    first = run(loss_obj, views, votes_arg)
    first.loss.backward()
    grads = [p.grad for p in encoder.parameters()]
    if not any(g is not None and torch.count_nonzero(g) > 0 for g in grads):
        _fail(f"loss {name!r}: no gradient reached the encoder")
    again = run(copy.deepcopy(loss_obj), views, votes_arg)
    twin = run(copy.deepcopy(loss_obj), views, votes_arg)
    if not torch.equal(again.loss.detach(), twin.loss.detach()):
        _fail(f"loss {name!r} is not deterministic: {again.loss.item()} vs {twin.loss.item()} for the same inputs")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        run(copy.deepcopy(loss_obj), views, votes_arg)
    if not decl["needs_votes"]:
        run(copy.deepcopy(loss_obj), views, torch.zeros_like(votes) if uses_votes else None)
    wrong = [*views, views[0]]
    try:
        loss_obj(wrong, votes_arg)
    except ValueError:
        pass
    else:
        _fail(f"loss {name!r} accepted {len(wrong)} views but declares n_views={decl['n_views']}")
    if decl["has_ema_target"]:
        trainable = {id(p) for p in loss_obj.optimizer_parameters()}
        frozen = [p for p in loss_obj.parameters() if id(p) not in trainable]
        if not frozen:
            _fail(f"loss {name!r} declares an EMA target but every parameter is trained by the optimizer")
        before = [p.detach().clone() for p in frozen]
        with torch.no_grad():
            for p in encoder.parameters():
                p.add_(0.1)
        loss_obj.update_target(0, 10)
        if all(torch.equal(b, p) for b, p in zip(before, frozen, strict=True)):
            _fail(f"loss {name!r}: update_target did not move the EMA target towards the online network")


_INFO_KEYS = ("name", "description", "bands", "layers", "pixscale", "max_size", "bands_note")


def _check_survey_class(label: str, survey: Any) -> None:
    """info(), the band/pixel-scale attributes, provenance() and preprocessing_defaults() of a survey."""
    info = type(survey).info()
    if not isinstance(info, dict):
        _fail(f"{label}: info() must return a dict, got {type(info).__name__}")
    missing = [k for k in _INFO_KEYS if k not in info]
    if missing:
        _fail(f"{label}: info() lacks key(s) {', '.join(missing)} (Survey.info gives them all)")
    if not isinstance(info["name"], str) or not info["name"] or info["name"] != survey.name:
        _fail(f"{label}: info()['name'] is {info['name']!r} but the survey's name is {survey.name!r}")
    for key in ("bands", "layers"):
        if not isinstance(info[key], list) or not all(isinstance(b, str) for b in info[key]):
            _fail(f"{label}: info()[{key!r}] must be a list of str, got {info[key]!r}")
    bands = survey.bands
    if not isinstance(bands, tuple) or not bands or not all(isinstance(b, str) and b for b in bands):
        _fail(f"{label}: bands must be a non-empty tuple of band names, got {bands!r}")
    if len(set(bands)) != len(bands):
        _fail(f"{label}: bands {bands} repeat a name")
    if survey.all_bands and not set(bands) <= set(survey.all_bands):
        _fail(f"{label}: bands {bands} are not all in all_bands {tuple(survey.all_bands)}")
    pixscale = survey.pixscale
    if pixscale is not None and (isinstance(pixscale, bool) or not isinstance(pixscale, int | float)
                                 or not math.isfinite(pixscale) or pixscale <= 0):
        _fail(f"{label}: pixscale must be a positive number of arcsec/pixel or None, got {pixscale!r}")
    if not isinstance(survey.extras, tuple) or not all(isinstance(e, str) for e in survey.extras):
        _fail(f"{label}: extras must be a tuple of plane names, got {survey.extras!r}")
    prov = survey.provenance()
    try:
        json.dumps(prov)
    except (TypeError, ValueError) as exc:
        _fail(f"{label}: provenance() must be JSON-serialisable ({exc})")
    if not isinstance(prov, dict) or prov.get("survey") != survey.name or prov.get("bands") != list(bands):
        _fail(f"{label}: provenance() must hold survey={survey.name!r} and bands={list(bands)!r}, got {prov!r}")
    defaults = survey.preprocessing_defaults() if hasattr(survey, "preprocessing_defaults") else None
    if defaults is not None:
        soft = defaults.get("softening")
        if not isinstance(defaults.get("bands"), list) or not isinstance(soft, dict) or not soft:
            _fail(f"{label}: preprocessing defaults need 'bands' (list) and 'softening' ({{band: float}}), "
                  f"got {defaults!r}")
        scale = defaults.get("pixel_scale")
        if not isinstance(scale, int | float) or not scale > 0:
            _fail(f"{label}: preprocessing defaults need a positive 'pixel_scale', got {scale!r}")
        bad = {b: v for b, v in soft.items() if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0}
        if bad:
            _fail(f"{label}: preprocessing softening must be positive finite numbers, got {bad}")


def _check_sizes(label: str, survey: Any) -> None:
    for bad, kind in ((16.0, TypeError), (True, TypeError), (0, ValueError)):
        try:
            survey.check_size(bad)
        except kind:
            continue
        except Exception as exc:
            _fail(f"{label}: check_size({bad!r}) raised {type(exc).__name__}, expected {kind.__name__}")
        _fail(f"{label}: check_size({bad!r}) accepted a bad size (expected {kind.__name__})")
    if survey.max_size is not None:
        try:
            survey.check_size(survey.max_size + 1)
        except ValueError:
            pass
        else:
            _fail(f"{label}: check_size accepted {survey.max_size + 1} px above max_size={survey.max_size}")


def _check_cutout(label: str, survey: Any, cut: Any, ra: float, dec: float, size: int) -> None:
    from astropy.wcs import WCS

    from galzoo_fm.cutout import Cutout, Status

    where = f"{label} at ({ra}, {dec})"
    if not isinstance(cut, Cutout):
        _fail(f"{where}: fetch must return a Cutout, got {type(cut).__name__}")
    if not isinstance(cut.status, Status):
        _fail(f"{where}: status must be a Status member, got {cut.status!r}")
    if not isinstance(cut.reason, str):
        _fail(f"{where}: reason must be a str, got {type(cut.reason).__name__}")
    if not cut.status.has_pixels:
        if cut.data is not None:
            _fail(f"{where}: a {cut.status.value!r} cutout must carry no pixels (data=None)")
        if not cut.reason:
            _fail(f"{where}: a {cut.status.value!r} cutout must say why in reason")
        return
    shape = (len(survey.bands), size, size)
    for plane, arr in [("data", cut.data), *cut.extras.items()]:
        if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != np.float32:
            got = f"{getattr(arr, 'shape', None)} {getattr(arr, 'dtype', type(arr).__name__)}"
            _fail(f"{where}: {plane} must be a float32 array (C, H, W) = {shape}, got {got}")
        if not np.isfinite(arr).all():
            _fail(f"{where}: {plane} has non-finite pixels (store missing data as 0; classify_coverage does it)")
    if sorted(cut.extras) != sorted(survey.extras):
        _fail(f"{where}: extra planes {sorted(cut.extras)} differ from the survey's extras {list(survey.extras)}")
    wcs = cut.wcs
    if not isinstance(wcs, WCS) or not wcs.has_celestial or wcs.naxis != 2:
        _fail(f"{where}: a cutout with pixels needs the 2-D celestial WCS of its (H, W) grid, got {wcs!r}")
    x, y = wcs.all_world2pix(ra, dec, 0)
    centre = (size - 1) / 2
    if not (abs(x - centre) <= 1.0 and abs(y - centre) <= 1.0):
        _fail(f"{where}: the WCS puts the requested position at pixel ({float(x):.2f}, {float(y):.2f}), not at "
              f"the centre ({centre}, {centre}) of the {size} x {size} cutout")


def _same(a: Any, b: Any) -> bool:
    """Whether two cutouts have the same status and (within float32 rounding) the same pixels."""
    if a.status is not b.status:
        return False
    if a.data is None or b.data is None:
        return a.data is None and b.data is None
    x, y = np.asarray(a.data), np.asarray(b.data)
    if x.shape != y.shape:
        return False
    scale = float(np.abs(y).max()) if y.size else 1.0
    return bool(np.allclose(x, y, rtol=1e-5, atol=1e-6 * (scale or 1.0)))


def check_survey(
    survey: Any,
    positions: Sequence[tuple[float, float]],
    *,
    size: int = 16,
    outside: tuple[float, float] | None = None,
    engine: bool = True,
    **options: Any,
) -> None:
    """Check that a survey adapter follows the survey contract that the fetch engine and the store rely on.

    Checked: ``info()`` (every key of :meth:`Survey.info <galzoo_fm.surveys.Survey.info>`, the name); the
    instance's ``bands`` (a non-empty tuple of distinct names within ``all_bands``), ``pixscale``,
    ``extras``; a JSON-serialisable ``provenance()``; well-formed preprocessing defaults if any;
    ``check_size`` refusing non-integers, 0 and sizes above ``max_size``; for each position a
    :class:`~galzoo_fm.cutout.Cutout` with a :class:`~galzoo_fm.cutout.Status` — with pixels: finite float32
    ``(C, size, size)`` data (and extras) on the survey's band order, and a 2-D celestial WCS that puts the
    position at the centre; without: ``data=None`` and a reason; ``fetch_batch`` returning one cutout per
    position, in order (also for the reversed order), equal to ``fetch``'s; ``outside`` giving no pixels;
    and (``engine=True``) a run of :func:`galzoo_fm.fetch.fetch_catalog` with two worker threads over the
    positions plus a NaN and an out-of-range row, which must record those two as ``invalid`` without asking
    the survey and store the others' pixels.

    Parameters
    ----------
    survey : str or Survey
        A registered survey name (built with ``options``) or a survey object.
    positions : sequence of (float, float)
        ``(ra, dec)`` in degrees where the survey has data (at least one must give pixels).
    size : int
        Cutout side in pixels.
    outside : (float, float), optional
        A position off the survey's footprint.
    engine : bool
        Also run the fetch engine into a temporary store.
    **options
        Survey options, when ``survey`` is a name.

    Raises
    ------
    AssertionError
        Describing the first broken rule.

    Examples
    --------
    >>> from galzoo_fm.testing import check_survey
    >>> check_survey("synthetic", [(150.0, 2.0), (150.0083, 2.0)], outside=(10.0, -40.0), n=10)
    """
    from galzoo_fm.cutout import Cutout, Status
    from galzoo_fm.surveys.base import Survey

    own = isinstance(survey, str)
    if own:

        entry = get_registry("surveys").entry(survey)
        info = getattr(entry.factory, "info", None)
        if callable(info) and info().get("name") != survey:
            _fail(f"survey {survey!r}: its factory's info() names it {info().get('name')!r}")
        survey = entry.factory(**options)
    elif options:
        raise TypeError(f"survey options {sorted(options)} are only for a survey given by name")
    if not isinstance(survey, Survey):
        _fail(f"a survey must be a galzoo_fm.surveys.Survey, got {type(survey).__name__}")
    label = f"survey {survey.name!r}"
    try:
        _check_survey_class(label, survey)
        _check_sizes(label, survey)
        size = survey.check_size(size)
        if not positions:
            raise ValueError("check_survey needs positions=[(ra, dec), ...] where the survey has data")
        ra = np.array([float(p[0]) for p in positions])
        dec = np.array([float(p[1]) for p in positions])
        single = []
        for r, d in zip(ra, dec, strict=True):
            cut = survey.fetch(float(r), float(d), size)
            _check_cutout(label, survey, cut, float(r), float(d), size)
            single.append(cut)
        if not any(c.status.has_pixels for c in single):
            _fail(f"{label}: no position gave pixels ({', '.join(c.status.value for c in single)}); pass positions "
                  "where the survey has data")
        for order in (np.arange(len(ra)), np.arange(len(ra))[::-1]):
            batch = survey.fetch_batch(ra[order], dec[order], size)
            if not isinstance(batch, list) or len(batch) != len(order):
                _fail(f"{label}: fetch_batch must return a list of {len(order)} cutouts, got "
                      f"{len(batch) if hasattr(batch, '__len__') else type(batch).__name__}")
            for k, (i, cut) in enumerate(zip(order, batch, strict=True)):
                if isinstance(cut, Cutout) and isinstance(cut.status, Status) and not _same(cut, single[i]):
                    _fail(f"{label}: fetch_batch's cutout {k} (position {i}) differs from fetch at that position: "
                          "a batch must keep the order of its positions")
                _check_cutout(label, survey, cut, float(ra[i]), float(dec[i]), size)
        if outside is not None:
            cut = survey.fetch(float(outside[0]), float(outside[1]), size)
            _check_cutout(label, survey, cut, float(outside[0]), float(outside[1]), size)
            if cut.status.has_pixels:
                _fail(f"{label}: position {tuple(outside)} off the footprint gave a {cut.status.value!r} cutout")
        if engine:
            _check_engine(label, survey, ra, dec, size, single)
    finally:
        if own:
            survey.close()


def _check_engine(label: str, survey: Any, ra: np.ndarray, dec: np.ndarray, size: int, single: list) -> None:
    """fetch_catalog over the positions plus two invalid rows, read back from a temporary store."""
    from astropy.table import Table

    from galzoo_fm.fetch import fetch_catalog
    from galzoo_fm.store.reader import CutoutStore

    table = Table({"id": np.arange(len(ra) + 2), "ra": np.r_[ra, np.nan, 400.0], "dec": np.r_[dec, 0.0, 0.0]})
    with tempfile.TemporaryDirectory(prefix="galzoo_fm_check_survey_") as tmp:
        summary = fetch_catalog(table, survey, size=size, out=tmp, workers=2, cache=False)
        if summary.counts.get("invalid", 0) != 2:
            _fail(f"{label}: the fetch engine recorded {summary.counts} for rows with a NaN and an RA of 400 "
                  "(two expected invalid)")
        store = CutoutStore(tmp)
        status = dict(zip(np.asarray(store.table["row"]).tolist(), store.status.tolist(), strict=True))
        for i, cut in enumerate(single):
            if status.get(i) != cut.status.value:
                _fail(f"{label}: row {i} stored as {status.get(i)!r} but fetch gave {cut.status.value!r} "
                      "(fetch must be thread-safe and deterministic)")
        rows = [i for i, c in enumerate(single) if c.status.has_pixels]
        where = {r: k for k, r in enumerate(np.asarray(store.table["row"]).tolist())}
        pixels = store.read([where[i] for i in rows])
        for k, i in enumerate(rows):
            if pixels[k].shape != single[i].data.shape or not np.allclose(pixels[k], single[i].data, rtol=1e-5,
                                                                         atol=1e-6 * (np.abs(pixels[k]).max() or 1)):
                _fail(f"{label}: the store's pixels of row {i} differ from fetch's")
