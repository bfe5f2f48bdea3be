"""Metric logging: a CSV file always, TensorBoard when the ``tensorboard`` package is installed."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path
from typing import Any

__all__ = ["MetricsLogger", "tensorboard_available"]

CSV_NAME = "metrics.csv"


def tensorboard_available() -> bool:
    """Whether :mod:`torch.utils.tensorboard` can be used (it needs the ``tensorboard`` package)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


class MetricsLogger:
    """Append metric rows to ``<out>/metrics.csv`` and TensorBoard event files in ``<out>/tensorboard``.

    Parameters
    ----------
    out : str or path
        Run folder.
    tensorboard : bool or "auto"
        ``True`` requires the ``tensorboard`` package (``ValueError`` naming ``logging.tensorboard`` if it
        is missing); ``"auto"`` uses it when installed.
    resume_step : int, optional
        Resuming from this step: CSV rows of later steps (written after that checkpoint by the
        interrupted run) are dropped, so the log reads as one uninterrupted run.
    enabled : bool
        ``False`` on ranks other than 0: nothing is written.
    """

    def __init__(self, out: str | Path, *, tensorboard: bool | str = "auto", resume_step: int | None = None,
                 enabled: bool = True):
        self.enabled = enabled
        self.path = Path(out) / CSV_NAME
        self.fields: list[str] = []
        self.writer = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows: list[dict[str, str]] = []
        if self.path.exists() and resume_step is not None:
            with open(self.path, newline="") as fh:
                reader = csv.DictReader(fh)
                self.fields = list(reader.fieldnames or [])
                rows = [r for r in reader if r.get("step", "").isdigit() and int(r["step"]) <= resume_step]
        self._rewrite(rows)
        use_tb = tensorboard_available() if tensorboard == "auto" else bool(tensorboard)
        if use_tb:
            if not tensorboard_available():
                raise ValueError("logging.tensorboard = true needs the tensorboard package: pip install tensorboard "
                                 "(or set it to \"auto\" / false; metrics.csv is always written)")
            from torch.utils.tensorboard import SummaryWriter

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.writer = SummaryWriter(str(Path(out) / "tensorboard"), purge_step=resume_step)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        with open(self.path, "w", newline="") as fh:
            if self.fields:
                w = csv.DictWriter(fh, fieldnames=self.fields)
                w.writeheader()
                w.writerows(rows)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Write one row: ``step`` and the named scalars."""
        if not self.enabled:
            return
        row = {"step": step, **{k: (v if isinstance(v, str) else _fmt(v)) for k, v in metrics.items()}}
        new = [k for k in row if k not in self.fields]
        if new:  # a metric appeared: rewrite the file with the wider header (rare)
            old: list[dict[str, str]] = []
            if self.fields:
                with open(self.path, newline="") as fh:
                    old = list(csv.DictReader(fh))
            self.fields += new
            self._rewrite(old)
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.fields).writerow(row)
        if self.writer is not None:
            for k, v in metrics.items():
                if isinstance(v, int | float) and math.isfinite(v):
                    self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        """Flush and close TensorBoard files."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _fmt(value: Any) -> Any:
    return f"{value:.8g}" if isinstance(value, float) else value
