"""Where tests find the repository and the open benchmark tasks (../shared/benchmarks/open)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OPEN = (REPO.parent / "shared" / "benchmarks" / "open").resolve()  # ../shared may be a link
