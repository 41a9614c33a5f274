"""What every benchmark module needs, whatever it measures: the repository root (put on
``sys.path``, so ``memo``, ``flows`` and ``bench.*`` import), the interpreter, the
progress log and a fresh working folder.

The rest lives by concept: ``bench.stats`` (medians, ratios, cells), ``bench.results``
(``Section``, ``Table``, ``Goal``), ``bench.machine``, ``bench.memo_db`` (the seeded MEMO
data), ``bench.runner_settings``, ``bench.children`` (child processes),
``bench.prefect_server``, ``bench.profiles``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PY = sys.executable


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {message}", file=sys.stderr, flush=True)


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
