"""Batched inference of an image model over an in-memory (or memory-mapped) array.

The loop behind :meth:`galzoo_fm.Encoder.embed`. It validates the input once, then streams batches to the
device: from NumPy through two pinned host buffers on CUDA (the copy of batch ``i + 1`` overlaps the
forward of batch ``i``), and keeps results on the device until a block of batches is done, so the loop does
not synchronise on every batch.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["InferenceModel", "autocast_dtype", "resolve_device", "run_batches", "validate_images"]

_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_HOST_DTYPES = {np.dtype(t) for t in (np.float32, np.float16, np.uint8, np.int16, np.int32)}
_FLUSH_EVERY = 32  # batches kept on the device before one copy back to the host


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a :class:`torch.device`; CUDA when available if ``None``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"invalid device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available on this machine")
    return dev


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (``None`` means plain float32)."""
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return None
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of 'auto', {', '.join(map(repr, _PRECISIONS))}; got {precision!r}")
    return _PRECISIONS[precision]


def validate_images(images: Any, in_chans: int) -> tuple[int, int, int, int]:
    """Check type, rank, dtype and channels of an image batch; return its shape.

    Raises
    ------
    TypeError
        Not a NumPy array or tensor, or not a real numeric dtype.
    ValueError
        Not of rank 4 ``(N, C, H, W)``, or ``C != in_chans``.
    """
    if isinstance(images, np.ndarray):
        ok = images.dtype.kind in "fiu"
    elif isinstance(images, torch.Tensor):
        ok = (images.is_floating_point() or not (images.is_complex() or images.dtype == torch.bool))
    else:
        raise TypeError(
            f"images must be a numpy.ndarray or torch.Tensor of shape (N, C, H, W), got {type(images).__name__}"
        )
    if not ok:
        raise TypeError(f"images must have a real numeric dtype, got {images.dtype}")
    shape = tuple(images.shape)
    if len(shape) != 4:
        hint = "; for one image use images[None]" if len(shape) == 3 else ""
        raise ValueError(
            f"images must have shape (N, C, H, W), got an array of rank {len(shape)} with shape {shape}{hint}"
        )
    if shape[1] != in_chans:
        raise ValueError(
            f"the encoder expects {in_chans} channels (bands) but images have {shape[1]} (shape {shape}); "
            "select or reorder the bands, or build an encoder with a matching in_chans"
        )
    return shape  # type: ignore[return-value]


def _nonfinite_error(batch: np.ndarray | torch.Tensor, start: int) -> ValueError:
    flat = batch.reshape(batch.shape[0], -1)
    if isinstance(flat, torch.Tensor):
        bad = (~torch.isfinite(flat).all(dim=1)).nonzero().flatten().cpu().numpy()
    else:
        bad = np.flatnonzero(~np.isfinite(flat).all(axis=1))
    idx = ", ".join(str(start + int(i)) for i in bad[:10]) + (" ..." if len(bad) > 10 else "")
    return ValueError(
        f"images contain NaN or infinite pixels (image indices {idx}); fill or mask them before embedding"
    )


def _writable(batch: np.ndarray) -> np.ndarray:
    """A contiguous array the model may read (and, in principle, write) in place."""
    if not batch.flags.writeable:  # e.g. a read-only memory map
        return np.array(batch, order="C")
    return np.ascontiguousarray(batch)


def _as_tensor(batch: np.ndarray) -> torch.Tensor:
    """A tensor view of ``batch`` that is only ever read (copied into a pinned buffer)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(batch))


class InferenceModel:
    """A model made ready for inference on a device: eval mode, channels-last, autocast, optionally compiled.

    Calling it on a batch already on the device returns the float32 features on the device, without any
    host synchronisation (so batches queue up behind each other on CUDA). Used by :func:`run_batches` and by
    the embedding runner (:mod:`galzoo_fm.embedding.runner`); :meth:`close` restores the module's mode.

    Parameters
    ----------
    model : torch.nn.Module
        With ``image_size`` and ``num_features`` attributes (e.g. an :class:`~galzoo_fm.Encoder`).
    device : str or torch.device, optional
        Where to run (default CUDA when available).
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision (see :func:`autocast_dtype`).
    resize : bool
        Resize batches of another size to ``image_size`` (antialiased bilinear); ``ValueError`` if
        ``False``.
    compile : bool
        ``torch.compile`` the model's forward (shapes fixed: every batch is padded to ``batch_size`` rows so
        that a short last batch does not recompile).
    batch_size : int, optional
        The batch size the compiled forward is built for (needed with ``compile=True``).
    """

    def __init__(self, model: nn.Module, device: str | torch.device | None, *, precision: str = "auto",
                 resize: bool = True, compile: bool = False, batch_size: int | None = None):
        if not isinstance(compile, bool):
            raise TypeError(f"compile must be True or False, got {compile!r}")
        if compile and (batch_size is None or batch_size < 1):
            raise ValueError(f"compile=True needs the batch size the forward is compiled for, got {batch_size!r}")
        self.device = resolve_device(device)
        self.amp = autocast_dtype(precision, self.device)
        self.model = model
        self.size = int(model.image_size)
        self.num_features = int(model.num_features)
        self.resize = bool(resize)
        self.pad_to = batch_size if compile else None
        self._was_training = model.training
        model.to(self.device, memory_format=torch.channels_last).eval()
        self._forward = torch.compile(model, dynamic=False) if compile else model
        self._checked = False

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast region the forward runs in (a null context for float32)."""
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(n, num_features)`` float32 of the batch ``x`` ``(n, C, H, W)`` on :attr:`device`."""
        if x.dtype != torch.float32:
            x = x.float()
        h, w = x.shape[-2:]
        if (h, w) != (self.size, self.size):
            if not self.resize:
                raise ValueError(f"images are {h}x{w} pixels but the encoder expects {self.size}x{self.size} "
                                 "(resize=False)")
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        n = x.shape[0]
        if self.pad_to is not None and n < self.pad_to:
            x = torch.cat([x, x.new_zeros((self.pad_to - n, *x.shape[1:]))])
        x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            feats = self._forward(x)
        if not self._checked:
            if tuple(feats.shape) != (x.shape[0], self.num_features):
                raise ValueError(
                    f"backbone {getattr(self.model, 'backbone_name', '?')!r} returned features of shape "
                    f"{tuple(feats.shape)}, expected ({x.shape[0]}, {self.num_features})"
                )
            self._checked = True
        return feats[:n].float()

    def close(self) -> None:
        """Put the module back in the mode (train/eval) it had before."""
        self.model.train(self._was_training)


class _PinnedStager:
    """Copies NumPy batches to CUDA through two alternating pinned buffers."""

    def __init__(self, device: torch.device):
        self.device = device
        self.buffers: list[torch.Tensor | None] = [None, None]
        self.events: list[torch.cuda.Event | None] = [None, None]
        self.i = 0

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        slot = self.i % 2
        self.i += 1
        buf = self.buffers[slot]
        if buf is None or buf.dtype != batch.dtype or buf.numel() < batch.numel():
            buf = torch.empty(batch.numel(), dtype=batch.dtype, pin_memory=True)
            self.buffers[slot] = buf
            self.events[slot] = None
        if self.events[slot] is not None:
            self.events[slot].synchronize()  # the copy that last used this buffer has finished
        view = buf[: batch.numel()].view(batch.shape)
        view.copy_(batch)
        out = view.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.events[slot] = event
        return out


def run_batches(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    *,
    batch_size: int,
    device: str | torch.device | None,
    precision: str,
    resize: bool,
    progress: bool,
    transform: Any = None,
    in_chans: int | None = None,
    compile: bool = False,
) -> np.ndarray:
    """Run ``model`` (with ``in_chans``, ``image_size`` and ``num_features`` attributes) over ``images``.

    See :meth:`galzoo_fm.Encoder.embed` for the parameters. ``transform``, when given, maps each raw batch
    (float32 tensor on the device, ``(n, in_chans, H, W)``) to the model's input (e.g. the preprocessing,
    run on the device); then ``in_chans`` is the raw batch's channel count and non-finite pixels are the
    transform's business. ``compile=True`` runs the forward through ``torch.compile`` (see :class:`InferenceModel`).
    Returns ``(N, num_features)`` float32.
    """
    n, _, h, w = validate_images(images, model.in_chans if in_chans is None else in_chans)
    if transform is not None:
        h = w = model.image_size  # the transform makes model-sized images
    size = model.image_size
    if (h, w) != (size, size) and not resize:
        raise ValueError(f"images are {h}x{w} pixels but the encoder expects {size}x{size} (resize=False)")
    dev = resolve_device(device)
    autocast_dtype(precision, dev)  # a bad precision fails before anything moves
    out = np.empty((n, model.num_features), dtype=np.float32)
    if n == 0:
        return out
    is_numpy = isinstance(images, np.ndarray)
    if (transform is None and not is_numpy and images.device.type == dev.type == "cuda"
            and not torch.isfinite(images).all()):
        raise _nonfinite_error(images, 0)
    stager = _PinnedStager(dev) if (is_numpy and dev.type == "cuda") else None
    runner = InferenceModel(model, dev, precision=precision, resize=resize, compile=compile, batch_size=batch_size)
    pending: list[torch.Tensor] = []
    done = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="img", desc="embed")
    try:
        with torch.inference_mode(), runner.autocast():
            for start in range(0, n, batch_size):
                batch = images[start : start + batch_size]
                if is_numpy:
                    if batch.dtype not in _HOST_DTYPES:  # float64, big-endian FITS data, uint16, ...
                        batch = batch.astype(np.float32)
                    if transform is None and batch.dtype.kind == "f" and not np.isfinite(batch).all():
                        raise _nonfinite_error(batch, start)
                    x = stager(_as_tensor(batch)) if stager is not None else torch.from_numpy(_writable(batch))
                else:
                    if (transform is None and batch.device.type != "cuda" and batch.is_floating_point()
                            and not torch.isfinite(batch).all()):
                        raise _nonfinite_error(batch, start)
                    x = batch.to(dev, non_blocking=True)
                if x.dtype != torch.float32:
                    x = x.float()
                if transform is not None:
                    x = transform(x)
                pending.append(runner(x))
                if len(pending) >= _FLUSH_EVERY or start + batch_size >= n:
                    block = torch.cat(pending).cpu().numpy()
                    out[done : done + len(block)] = block
                    done += len(block)
                    pending.clear()
                if bar is not None:
                    bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
        runner.close()
    return out
