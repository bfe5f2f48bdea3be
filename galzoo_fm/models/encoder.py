"""The :class:`Encoder`: a backbone that turns galaxy images into embeddings, saved and loaded as a folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from galzoo_fm._utils.checks import one_of, positive_int
from galzoo_fm._utils.version import __version__
from galzoo_fm.models.backbones.base import build_backbone
from galzoo_fm.models.backbones.timm_config import HUB_PREFIXES as _HUB_PREFIXES
from galzoo_fm.models.backbones.timm_config import read_timm_config
from galzoo_fm.models.checkpoint import (
    CONFIG_NAME,
    FORMAT,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    check_state_dict,
    file_sha256,
    load_weights,
    read_config,
    write_checkpoint,
)
from galzoo_fm.models.inference import run_batches
from galzoo_fm.preprocess.bands import band_mapping, check_band_names
from galzoo_fm.preprocess.pipeline import Preprocessor, check_for_encoder

__all__ = ["Encoder", "preprocess_transform"]

#: Values of :attr:`Encoder.symmetry`.
SYMMETRIES = ("none", "d4")


def _version() -> str:

    return __version__


def preprocess_transform(
    pre: Preprocessor, bands: list[str], pixel_scale: float | None, flags: list[torch.Tensor] | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A batch transform for :func:`~galzoo_fm.models.inference.run_batches`: ``pre`` on the batch's device.

    Parameters
    ----------
    pre : Preprocessor
        The pipeline.
    bands : list of str
        Names of the raw batch's channels.
    pixel_scale : float or None
        The raw batch's arcsec/pixel.
    flags : list, optional
        Each batch's int32 ``(n,)`` flags tensor (on the device, not synchronised) is appended here.

    Returns
    -------
    callable
        Raw float32 ``(n, C, H, W)`` tensor -> model-ready ``(n, pre.n_channels, S, S)`` tensor, same device.
        The preprocessing runs in float32 even inside an autocast region (its resampling matrix products
        would otherwise run in bf16 on CUDA and differ from :class:`~galzoo_fm.preprocess.Preprocessor`'s
        output).
    """

    def transform(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            result = pre(x, bands=bands, pixel_scale=pixel_scale)
        if flags is not None:
            flags.append(result.flags)
        return result.images

    return transform


class Encoder(nn.Module):
    """A galaxy image encoder: images ``(N, C, H, W)`` in, embeddings ``(N, D)`` out.

    Parameters
    ----------
    backbone : str
        Name of a registered backbone (any timm architecture, or one from a plugin); see
        :func:`galzoo_fm.list_backbones`.
    in_chans : int
        Number of input channels (survey bands).
    image_size : int
        Side in pixels of the square images the model expects; :meth:`embed` resizes other sizes.
    pretrained : bool or str, optional
        Initial backbone weights (see :func:`galzoo_fm.get_backbone`); ``None`` for random weights.
    preprocessing : dict, str or galzoo_fm.preprocess.Preprocessor, optional
        Preprocessing settings, saved in the checkpoint so that embedding applies exactly the preprocessing
        the model was trained with: a :class:`~galzoo_fm.preprocess.Preprocessor` (stored as its
        :meth:`~galzoo_fm.preprocess.Preprocessor.to_dict`; its output channels and image size must match the
        encoder's), the name of a preset (:data:`~galzoo_fm.preprocess.PREPROCESS_PRESETS`, e.g.
        ``"zoobot"``: :meth:`~galzoo_fm.preprocess.Preprocessor.preset`) or any JSON-serialisable dict.
        :attr:`preprocessor` rebuilds the pipeline.
    bands : sequence of str, optional
        Names of the ``in_chans`` bands, in channel order (e.g. ``["g", "r", "z"]``).
    seed : int, optional
        Seed for the random initialisation, without disturbing the global random state.
    backbone_kwargs : dict, optional
        Extra arguments for the backbone factory (JSON-serialisable, saved in the checkpoint).
    symmetry : {"none", "d4"}
        ``"d4"`` averages the embedding, in evaluation mode, over the eight rotations by multiples of 90° and
        their mirror images of the input (the dihedral group D4; ``f(x) = mean_g backbone(g·x)``), so the
        embedding of a galaxy does not depend on how its cutout is oriented on the pixel grid: exactly for
        90° rotations and flips, not for other angles. It costs 8 backbone passes per image. Training mode
        (pretraining, finetuning) runs the backbone once, on views that are rotated and flipped anyway.
        Saved in the checkpoint; set :attr:`symmetry` on a loaded encoder to change it. Default ``"none"``.

    Attributes
    ----------
    num_features : int
        Embedding width ``D``.
    weights_sha256 : str or None
        SHA-256 of the weight file this encoder was loaded from (provenance), ``None`` if not loaded.

    Examples
    --------
    >>> import numpy as np
    >>> from galzoo_fm import Encoder
    >>> encoder = Encoder("resnet18", in_chans=3, image_size=64, seed=0)
    >>> images = np.random.default_rng(0).normal(size=(4, 3, 64, 64)).astype("float32")
    >>> encoder.embed(images).shape
    (4, 512)
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        in_chans: int = 3,
        image_size: int = 224,
        *,
        pretrained: bool | str | None = None,
        preprocessing: dict[str, Any] | str | Preprocessor | None = None,
        bands: list[str] | tuple[str, ...] | None = None,
        seed: int | None = None,
        backbone_kwargs: dict[str, Any] | None = None,
        symmetry: str = "none",
    ):
        super().__init__()
        self.symmetry = symmetry
        if not isinstance(backbone, str):
            raise TypeError(f"backbone must be a registered backbone name (str), got {type(backbone).__name__}")
        self.in_chans = positive_int(in_chans, "in_chans")
        self.image_size = positive_int(image_size, "image_size")
        self.backbone_name = backbone
        self.backbone_kwargs = dict(backbone_kwargs or {})
        if isinstance(preprocessing, str):
            preprocessing = Preprocessor.preset(preprocessing)
        if isinstance(preprocessing, Preprocessor):
            check_for_encoder(preprocessing, self.in_chans, self.image_size, bands)
            preprocessing = preprocessing.to_dict()
        self.preprocessing = dict(preprocessing or {})
        if bands is not None:
            bands = [str(b) for b in bands]
            if len(bands) != self.in_chans:
                raise ValueError(f"bands {bands} name {len(bands)} bands but in_chans is {self.in_chans}")
        self.bands = bands
        for what, value in (("preprocessing", self.preprocessing), ("backbone_kwargs", self.backbone_kwargs)):
            try:
                json.dumps(value)
            except TypeError as exc:
                raise TypeError(f"{what} must be JSON-serialisable to be saved in the checkpoint: {exc}") from exc
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.backbone = build_backbone(
                backbone, in_chans=self.in_chans, image_size=self.image_size, pretrained=pretrained,
                **self.backbone_kwargs,
            )
        self.num_features = int(self.backbone.num_features)
        self.weights_sha256: str | None = None
        self.source: str | None = None

    # ------------------------------------------------------------------ model
    @property
    def symmetry(self) -> str:
        """``"d4"``: embeddings averaged over the input's 90° rotations and flips in evaluation mode; ``"none"``."""
        return self._symmetry

    @symmetry.setter
    def symmetry(self, value: str) -> None:
        self._symmetry = one_of(value, SYMMETRIES, "symmetry")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of a batch.

        Parameters
        ----------
        x : torch.Tensor
            Images, shape ``(N, in_chans, image_size, image_size)``.

        Returns
        -------
        torch.Tensor
            Shape ``(N, num_features)``; with :attr:`symmetry` ``"d4"`` in evaluation mode, the mean over
            the eight dihedral transforms of ``x``.
        """
        if self._symmetry == "d4" and not self.training:
            n = x.shape[0]
            views = [torch.rot90(y, k, dims=(-2, -1)) for y in (x, x.flip(-1)) for k in range(4)]
            return self.backbone(torch.cat(views)).unflatten(0, (8, n)).mean(0)
        return self.backbone(x)

    def embed(
        self,
        images: np.ndarray | torch.Tensor,
        *,
        batch_size: int = 256,
        device: str | torch.device | None = None,
        precision: str = "auto",
        resize: bool = True,
        progress: bool = False,
        preprocess: bool = False,
        bands: list[str] | None = None,
        pixel_scale: float | None = None,
        return_flags: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Embed an array of images: model-ready ones (the default), or raw survey cutouts with
        ``preprocess=True``.

        On CUDA the model runs in eval mode with bf16 autocast and channels-last memory; host-to-device
        copies go through pinned double buffers so they overlap with compute. On the CPU it runs in
        float32.

        With ``preprocess=True`` the encoder's recorded preprocessing (:attr:`preprocessor`, the pipeline it
        was trained with) runs on the model's device, batch by batch, between the copy to the device and
        the forward pass (in float32: outside the autocast); the result equals
        ``embed(encoder.preprocessor(images, bands=bands, pixel_scale=pixel_scale).images)``. Non-finite
        pixels are then allowed: the preprocessing fills them and flags the image.

        Parameters
        ----------
        images : numpy.ndarray or torch.Tensor
            Shape ``(N, in_chans, H, W)``, any real dtype (float16 and integer arrays are converted to
            float32 on the device), finite (clean NaN/inf pixels first). With ``preprocess=True``: raw
            cutouts ``(N, C, H, W)`` in the survey's flux units, one channel per name of ``bands``, any
            size and pixel scale, NaN/inf allowed.
        batch_size : int
            Images per forward pass.
        device : str or torch.device, optional
            ``"cuda"``, ``"cpu"``, ...; by default CUDA when available, else CPU. The encoder moves there.
        precision : {"auto", "fp32", "bf16", "fp16"}
            Autocast precision of the model; ``"auto"`` is bf16 on CUDA and fp32 on CPU. Embeddings are
            float32.
        resize : bool
            Resize images whose size differs from ``image_size`` (bilinear, antialiased); if ``False``
            such images raise ``ValueError``. Without effect with ``preprocess=True`` (the preprocessing
            makes ``image_size`` images).
        progress : bool
            Show a progress bar.
        preprocess : bool
            Run the recorded preprocessing on ``images`` first (default ``False``: ``images`` are
            model-ready, e.g. the output of :attr:`preprocessor`).
        bands : list of str, optional
            With ``preprocess=True``: the names of the ``C`` input channels (default: the preprocessing's
            ``input_bands``, e.g. its survey's bands).
        pixel_scale : float, optional
            With ``preprocess=True``: the input's arcsec/pixel (default: the preprocessing's
            ``input_pixel_scale``).
        return_flags : bool
            With ``preprocess=True``: also return the preprocessing flags.

        Returns
        -------
        numpy.ndarray
            Embeddings, shape ``(N, num_features)``, float32, in input order.
        flags : numpy.ndarray
            Only with ``return_flags=True``: int32 ``(N,)`` :class:`~galzoo_fm.preprocess.PreprocessFlag`
            bits, the ``flags`` of :class:`~galzoo_fm.preprocess.PreprocessResult` (``flags &
            galzoo_fm.preprocess.BAD_FLAGS`` non-zero: an empty, constant, mostly masked ... cutout whose
            embedding is not to be trusted; :func:`~galzoo_fm.preprocess.describe_flags` names them).

        Raises
        ------
        ValueError
            Bad shapes, sizes or arguments; with ``preprocess=True``: no recorded preprocessing (or settings
            that are not a pipeline's), band names unknown or not matching the channel count, the model bands
            not among the input bands, an unknown pixel scale where the preprocessing resamples to a pixel
            scale; ``return_flags=True`` without ``preprocess=True``.
        TypeError
            ``images`` is not an array of real numbers.

        Examples
        --------
        Raw Legacy Surveys cutouts (g, r, i, z nanomaggies at 0.262"/pixel) of any size::

            vectors, flags = encoder.embed(raw, preprocess=True, bands=["g", "r", "i", "z"],
                                           pixel_scale=0.262, return_flags=True)
        """
        batch_size = positive_int(batch_size, "batch_size")
        if not isinstance(preprocess, bool):
            raise TypeError(f"preprocess must be True or False, got {preprocess!r}")
        if not preprocess:
            if return_flags or bands is not None or pixel_scale is not None:
                given = [n for n, v in (("bands", bands), ("pixel_scale", pixel_scale),
                                        ("return_flags", return_flags)) if v not in (None, False)]
                raise ValueError(f"{', '.join(given)} only apply to raw images: pass preprocess=True to run the "
                                 "encoder's recorded preprocessing")
            return run_batches(self, images, batch_size=batch_size, device=device, precision=precision,
                               resize=resize, progress=progress)
        n_channels = images.shape[1] if isinstance(images, np.ndarray | torch.Tensor) and images.ndim == 4 else None
        pre, bands, pixel_scale = self.raw_input(n_channels, bands=bands, pixel_scale=pixel_scale)
        flags: list[torch.Tensor] = []
        vectors = run_batches(self, images, batch_size=batch_size, device=device, precision=precision,
                              resize=resize, progress=progress, in_chans=len(bands),
                              transform=preprocess_transform(pre, bands, pixel_scale, flags))
        if not return_flags:
            return vectors
        out = torch.cat(flags).cpu().numpy().astype(np.int32) if flags else np.zeros(0, np.int32)
        return vectors, out

    def raw_input(
        self, n_channels: int | None, *, bands: list[str] | None = None, pixel_scale: float | None = None
    ) -> tuple[Preprocessor, list[str], float | None]:
        """The recorded preprocessing and the resolved input description for raw images of ``n_channels``
        channels; every check of ``embed(..., preprocess=True)`` runs here, before any image is read.

        Parameters
        ----------
        n_channels : int or None
            Channels ``C`` of the raw ``(N, C, H, W)`` images (``None``: not checked).
        bands : list of str, optional
            Input band names (default: the preprocessing's ``input_bands``).
        pixel_scale : float, optional
            Input arcsec/pixel (default: the preprocessing's ``input_pixel_scale``).

        Returns
        -------
        (Preprocessor, list of str, float or None)
            The pipeline, the input band names, the input pixel scale.

        Raises
        ------
        ValueError
            See :meth:`embed`.
        """
        if not self.preprocessing:
            raise ValueError(
                "preprocess=True, but this encoder recorded no preprocessing (its checkpoint's 'preprocessing' is "
                "empty); preprocess the images yourself with a galzoo_fm.preprocess.Preprocessor and embed them "
                "with preprocess=False, or record one: Encoder(..., preprocessing=Preprocessor(...))")
        try:
            pre = Preprocessor.from_dict(self.preprocessing)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"preprocess=True, but this encoder's recorded preprocessing is not a "
                             f"galzoo_fm.preprocess.Preprocessor's settings: {exc}") from None
        check_for_encoder(pre, self.in_chans, self.image_size, self.bands)
        settings = pre.settings
        origin = "given"
        if bands is None:
            bands, origin = settings["input_bands"], "recorded in the preprocessing (input_bands)"
            if bands is None:
                raise ValueError("the raw images' band names are unknown: pass bands=[...] (one name per channel); "
                                 "the encoder's preprocessing records no input_bands or survey")
        else:
            bands = check_band_names(bands, "bands")
        if n_channels is not None and n_channels != len(bands):
            raise ValueError(f"the raw images have {n_channels} channels but {len(bands)} band names are "
                             f"{origin}: {bands}; "
                             "pass bands=[...] naming every channel in order")
        band_mapping(pre.bands, bands, settings["missing_band"])  # ValueError naming the missing model band
        if pixel_scale is None:
            pixel_scale = settings["input_pixel_scale"]
            if pixel_scale is None and settings["pixel_scale"] is not None:
                raise ValueError(
                    f"the raw images' pixel scale is unknown: pass pixel_scale= (arcsec/pixel); the preprocessing "
                    f"resamples to {settings['pixel_scale']} arcsec/pixel and records no input_pixel_scale")
        elif isinstance(pixel_scale, bool) or not isinstance(pixel_scale, int | float | np.integer | np.floating):
            raise TypeError(f"pixel_scale must be a number of arcsec per pixel, got {pixel_scale!r}")
        elif not (np.isfinite(pixel_scale) and pixel_scale > 0):
            raise ValueError(f"pixel_scale must be a positive number of arcsec per pixel, got {pixel_scale!r}")
        return pre, list(bands), None if pixel_scale is None else float(pixel_scale)

    @property
    def preprocessor(self) -> Preprocessor | None:
        """The :class:`~galzoo_fm.preprocess.Preprocessor` rebuilt from ``preprocessing``, or ``None`` if
        no preprocessing was recorded. ``ValueError`` if the stored settings are not a pipeline's."""
        if not self.preprocessing:
            return None
        return Preprocessor.from_dict(self.preprocessing)

    # ------------------------------------------------------------ checkpoints
    @property
    def config(self) -> dict[str, Any]:
        """The JSON-serialisable description saved as ``config.json``."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "galzoo_fm_version": _version(),
            "backbone": self.backbone_name,
            "backbone_kwargs": self.backbone_kwargs,
            "in_chans": self.in_chans,
            "image_size": self.image_size,
            "num_features": self.num_features,
            "bands": self.bands,
            "preprocessing": self.preprocessing,
            **({"symmetry": self._symmetry} if self._symmetry != "none" else {}),
        }

    def save_pretrained(self, folder: str | Path) -> Path:
        """Save to ``folder`` as ``config.json`` + ``model.safetensors`` (no pickles); return the folder.

        Reload with :meth:`from_pretrained`; the reloaded encoder gives identical embeddings.
        """
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"cannot save encoder to {folder}: it exists and is not a folder")
        return write_checkpoint(folder, self.config, self.state_dict())

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | Path,
        *,
        in_chans: int | None = None,
        image_size: int | None = None,
        cache_dir: str | Path | None = None,
        preprocessing: dict[str, Any] | str | Preprocessor | None = None,
    ) -> Encoder:
        """Load an encoder.

        Parameters
        ----------
        path_or_id : str or path
            A folder written by :meth:`save_pretrained`; a timm / Hugging Face model folder
            (``config.json`` with an ``architecture`` and ``model.safetensors`` or ``pytorch_model.bin``,
            e.g. a Zoobot encoder); or ``"hf_hub:<repo id>"`` to download one of these (needs the network).
        in_chans, image_size : int, optional
            For timm folders only: channels and image size to build (timm adapts the first convolution to
            ``in_chans``); default to the folder's ``pretrained_cfg.input_size``.
        cache_dir : path, optional
            Download cache for ``hf_hub:`` ids.
        preprocessing : dict, str or galzoo_fm.preprocess.Preprocessor, optional
            Preprocessing to record (as the ``preprocessing`` of :class:`Encoder`), replacing the folder's
            own: e.g. ``"zoobot"`` for a Zoobot encoder, whose timm folder records none, so that
            ``embed(images, preprocess=True)`` applies Zoobot's inference convention (see
            :meth:`~galzoo_fm.preprocess.Preprocessor.preset`).
        """
        folder = cls._resolve_folder(path_or_id, cache_dir)
        cfg = read_config(folder)
        if cfg.get("format") == FORMAT:
            if in_chans is not None or image_size is not None:
                raise ValueError(
                    "in_chans/image_size cannot be changed when loading a galzoo_fm encoder checkpoint; "
                    f"{folder} was saved with in_chans={cfg.get('in_chans')}, image_size={cfg.get('image_size')}"
                )
            encoder = cls._from_galzoo_folder(folder, cfg)
            encoder.weights_sha256 = file_sha256(folder / WEIGHTS_NAME)
        elif "architecture" in cfg:
            encoder = cls._from_timm_folder(folder, in_chans, image_size)
            weights = [folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).is_file()]
            encoder.weights_sha256 = file_sha256(weights[0]) if weights else None
        else:
            raise ValueError(
                f"{folder / CONFIG_NAME} is neither a galzoo_fm encoder config (format {FORMAT!r}) nor a timm "
                "config (with an 'architecture' key)"
            )
        if preprocessing is not None:
            if isinstance(preprocessing, str):
                preprocessing = Preprocessor.preset(preprocessing)
            if isinstance(preprocessing, Preprocessor):
                check_for_encoder(preprocessing, encoder.in_chans, encoder.image_size, encoder.bands)
                preprocessing = preprocessing.to_dict()
            encoder.preprocessing = dict(preprocessing)
        encoder.source = str(path_or_id)
        return encoder

    @staticmethod
    def _resolve_folder(path_or_id: str | Path, cache_dir: str | Path | None) -> Path:
        text = str(path_or_id)
        for prefix in _HUB_PREFIXES:
            if text.startswith(prefix):
                from huggingface_hub import snapshot_download

                repo = text[len(prefix):]
                try:
                    return Path(snapshot_download(repo_id=repo, cache_dir=cache_dir))
                except Exception as exc:
                    raise ValueError(f"cannot download {repo!r} from the Hugging Face Hub: {exc}") from exc
        folder = Path(text).expanduser()
        if not folder.exists():
            raise ValueError(f"no such checkpoint folder {folder} (for a Hugging Face model use 'hf_hub:<repo id>')")
        if not folder.is_dir():
            raise ValueError(f"{folder} is a file; a checkpoint is a folder with {CONFIG_NAME} and {WEIGHTS_NAME}")
        return folder

    @classmethod
    def _from_galzoo_folder(cls, folder: Path, cfg: dict[str, Any]) -> Encoder:
        missing = [k for k in ("backbone", "in_chans", "image_size") if k not in cfg]
        if missing:
            raise ValueError(f"{folder / CONFIG_NAME} lacks required keys: {', '.join(missing)}")
        encoder = cls(
            cfg["backbone"],
            in_chans=cfg["in_chans"],
            image_size=cfg["image_size"],
            preprocessing=cfg.get("preprocessing"),
            bands=cfg.get("bands"),
            backbone_kwargs=cfg.get("backbone_kwargs"),
            symmetry=cfg.get("symmetry", "none"),
        )
        state = load_weights(folder)
        check_state_dict(encoder.state_dict(), state, str(folder / WEIGHTS_NAME))
        encoder.load_state_dict(state, strict=True)
        if cfg.get("num_features") not in (None, encoder.num_features):
            raise ValueError(
                f"{folder / CONFIG_NAME} says num_features={cfg['num_features']} but backbone "
                f"{cfg['backbone']!r} gives {encoder.num_features}"
            )
        return encoder

    @classmethod
    def _from_timm_folder(cls, folder: Path, in_chans: int | None, image_size: int | None) -> Encoder:
        cfg = read_timm_config(folder)
        input_size = (cfg.get("pretrained_cfg") or {}).get("input_size") or [3, 224, 224]
        return cls(
            cfg["architecture"],
            in_chans=in_chans or int(input_size[0]),
            image_size=image_size or int(input_size[-1]),
            pretrained=str(folder),
        )

    def extra_repr(self) -> str:
        return (
            f"backbone={self.backbone_name!r}, in_chans={self.in_chans}, image_size={self.image_size}, "
            f"num_features={self.num_features}" + (f", symmetry={self._symmetry!r}" if self._symmetry != "none" else "")
        )
