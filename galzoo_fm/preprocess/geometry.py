"""Pixel-scale-aware resampling: crop a field of view around a (shifted) centre and resize it, in one step.

The resampling is separable: for each image, an ``(out, in)`` weight matrix per axis, applied as two
batched matrix products (``Ry @ image @ Rx.T``), so every image of a batch may have its own centre.
"""

from __future__ import annotations

import numpy as np
import torch

from galzoo_fm._utils.checks import one_of

__all__ = ["resample_images"]

INTERPOLATIONS = ("bilinear", "area")


def _weights(n_in: int, n_out: int, step: float, centre: torch.Tensor, method: str):
    """Weights ``(B, n_out, n_in)`` and a ``(B,)`` flag of output pixels whose centre falls outside."""
    i = torch.arange(n_out, dtype=torch.float64)
    u = centre[:, None] + (i + 0.5 - n_out / 2) * step  # output pixel centres, input edge coordinates
    d = (torch.arange(n_in, dtype=torch.float64) + 0.5)[None, None, :] - u[:, :, None]
    if method == "bilinear":  # triangle filter widened when downsampling (antialiased, as PIL / torch)
        support = max(step, 1.0)
        w = (1.0 - d.abs() / support).clamp(min=0.0)
    else:  # area: overlap of each output pixel's footprint with each input pixel
        half = step / 2
        w = (torch.minimum(d + 0.5, torch.full_like(d, half)) - torch.maximum(d - 0.5, torch.full_like(d, -half)))
        w = w.clamp(min=0.0)
    total = w.sum(-1, keepdim=True)
    inside = (u >= -0.5) & (u <= n_in + 0.5)  # up to half an input pixel beyond the edge: edge value
    w = torch.where(total > 0, w / total.clamp(min=1e-300), torch.zeros_like(w)) * inside[..., None]
    return w.float(), ~inside.all(-1)


def resample_images(
    images: np.ndarray | torch.Tensor,
    size: int,
    step: float,
    shifts: np.ndarray | None = None,
    method: str = "bilinear",
) -> tuple[np.ndarray | torch.Tensor, np.ndarray]:
    """Resample each image onto a ``size`` x ``size`` grid of pixels ``step`` input pixels wide.

    The output grid is centred on the input's centre (``(H/2, W/2)`` in pixel-edge coordinates) plus
    ``shifts``. Output pixels centred more than half an input pixel outside the input are 0.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor
        Shape ``(N, C, H, W)``.
    size : int
        Output side in pixels.
    step : float
        Output pixel size in input pixels: ``output_pixel_scale / input_pixel_scale`` (> 1 shrinks).
    shifts : numpy.ndarray, optional
        Shape ``(N, 2)``: ``(dy, dx)`` offsets of the output centre, in input pixels.
    method : {"bilinear", "area"}
        ``"bilinear"``: triangle filter, widened to ``step`` pixels when downsampling (identical to
        ``torch.nn.functional.interpolate(mode="bilinear", antialias=True)`` for a plain resize).
        ``"area"``: each output pixel is the mean over its footprint (flux-conserving; block averaging for
        integer ``step``).

    Returns
    -------
    resampled : numpy.ndarray or torch.Tensor
        Same type as ``images``, float32, shape ``(N, C, size, size)``.
    truncated : numpy.ndarray
        bool, ``(N,)``: some output pixels fell outside the input (filled with 0).
    """
    one_of(method, INTERPOLATIONS, "interpolation")
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"resampling step must be a positive finite number of input pixels, got {step!r}")
    is_tensor = isinstance(images, torch.Tensor)
    x = images.float() if is_tensor else torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    n, _, h, w = x.shape
    sh = torch.zeros((n, 2), dtype=torch.float64) if shifts is None else torch.as_tensor(shifts, dtype=torch.float64)
    wy, ty = _weights(h, size, step, h / 2 + sh[:, 0], method)
    wx, tx = _weights(w, size, step, w / 2 + sh[:, 1], method)
    wy, wx = wy.to(x.device), wx.to(x.device)
    out = torch.matmul(wy[:, None], torch.matmul(x, wx.transpose(1, 2)[:, None]))
    truncated = (ty | tx).numpy()
    return (out if is_tensor else out.numpy()), truncated
