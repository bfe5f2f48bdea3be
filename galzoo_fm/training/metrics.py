"""Metric logging: CSV files always (``metrics.csv``, ``validation.csv``), TensorBoard when the
``tensorboard`` package is installed."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path
from typing import Any

__all__ = ["MetricsLogger", "tensorboard_available"]

CSV_NAME = "metrics.csv"
VALIDATION_CSV_NAME = "validation.csv"
#: CSV file of each table of :class:`MetricsLogger`.
TABLES = {"train": CSV_NAME, "validation": VALIDATION_CSV_NAME}
#: What a CSV cell holds for a metric that was not measured at that step.
MISSING = "nan"


def tensorboard_available() -> bool:
    """Whether :mod:`torch.utils.tensorboard` can be used (it needs the ``tensorboard`` package)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


class _CsvTable:
    """One CSV file of metric rows with a fixed header: every row has every column (``nan`` where a metric
    was not measured), the header widens (and the file is rewritten) when a new metric appears."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        self.fields: list[str] = []
        rows: list[dict[str, str]] = []
        if self.path.exists() and resume_step is not None:
            with open(self.path, newline="") as fh:
                reader = csv.DictReader(fh)
                self.fields = list(reader.fieldnames or [])
                rows = [r for r in reader if r.get("step", "").isdigit() and int(r["step"]) <= resume_step]
        self._rewrite(rows)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        with open(self.path, "w", newline="") as fh:
            if self.fields:
                w = csv.DictWriter(fh, fieldnames=self.fields, restval=MISSING)
                w.writeheader()
                w.writerows({k: (MISSING if v in ("", None) else v) for k, v in r.items()} for r in rows)

    def append(self, row: dict[str, Any]) -> None:
        new = [k for k in row if k not in self.fields]
        if new:  # a metric appeared: rewrite the file with the wider header, earlier rows get nan (rare)
            old: list[dict[str, str]] = []
            if self.fields:
                with open(self.path, newline="") as fh:
                    old = list(csv.DictReader(fh))
            self.fields += new
            self._rewrite(old)
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.fields, restval=MISSING).writerow(row)


class MetricsLogger:
    """Append metric rows to CSV files in ``<out>`` and TensorBoard event files in ``<out>/tensorboard``.

    Two tables, each a CSV file whose rows all have the same columns: ``metrics.csv`` (table
    ``"train"``: the training metrics every ``log_every`` steps) and ``validation.csv`` (table
    ``"validation"``: the validation metrics every ``eval_every`` steps; written only when validating).
    A metric not measured at a row's step is written ``nan``; no cell is empty.

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
        self.out = Path(out)
        self.path = self.out / CSV_NAME
        self.tables: dict[str, _CsvTable] = {}
        self.writer = None
        if not enabled:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.tables["train"] = _CsvTable(self.path, resume_step)
        if (self.out / TABLES["validation"]).exists():  # keep (resume) or empty (fresh run) the earlier rows
            self.tables["validation"] = _CsvTable(self.out / TABLES["validation"], resume_step)
        use_tb = tensorboard_available() if tensorboard == "auto" else bool(tensorboard)
        if use_tb:
            if not tensorboard_available():
                raise ValueError("logging.tensorboard = true needs the tensorboard package: pip install tensorboard "
                                 "(or set it to \"auto\" / false; metrics.csv is always written)")
            from torch.utils.tensorboard import SummaryWriter

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.writer = SummaryWriter(str(self.out / "tensorboard"), purge_step=resume_step)

    @property
    def fields(self) -> list[str]:
        """Columns of ``metrics.csv``."""
        table = self.tables.get("train")
        return table.fields if table is not None else []

    def log(self, step: int, metrics: dict[str, float], *, table: str = "train") -> None:
        """Write one row of ``table`` (``"train"``: ``metrics.csv``, ``"validation"``: ``validation.csv``):
        ``step`` and the named scalars."""
        if table not in TABLES:
            raise ValueError(f"table must be one of {', '.join(map(repr, TABLES))}, got {table!r}")
        if not self.enabled:
            return
        if table not in self.tables:
            self.tables[table] = _CsvTable(self.out / TABLES[table], None)
        row = {"step": step, **{k: (v if isinstance(v, str) else _fmt(v)) for k, v in metrics.items()}}
        self.tables[table].append(row)
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
