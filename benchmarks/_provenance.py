"""What a benchmark writes with its results so that a docs table can cite the run: seed, commit, machine, time."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

__all__ = ["provenance"]


def provenance(seed: int) -> dict:
    """Seed, commit (``+dirty`` with uncommitted changes to tracked files), machine, torch and start time."""
    here = Path(__file__).parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=here, check=False).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=here, check=False).stdout.strip()
        commit += "+dirty" if dirty else ""
    except OSError:
        commit = "unknown"
    import torch

    return {"seed": seed, "commit": commit, "platform": platform.platform(),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": str(torch.__version__),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())}
