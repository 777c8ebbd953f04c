"""Base for callable stage classes usable on Ray Data batches (as Ray's own LLM batch stages are):
each row is processed by `process_row`; a per-row failure becomes an `error` column and the batch
goes on; fatal programming errors (TypeError in our own code, etc.) are not swallowed silently:
they are logged with the traceback and still become the row's error."""
from __future__ import annotations

import logging
import traceback
from typing import Any

logger = logging.getLogger(__name__)


class BatchStage:
    """Subclasses implement process_row(row: dict) -> dict of new columns."""

    def process_row(self, row: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        keys = list(batch.keys())
        n = len(batch[keys[0]]) if keys else 0
        rows = [{k: batch[k][i] for k in keys} for i in range(n)]
        outputs: list[dict[str, Any]] = []
        for row in rows:
            try:
                out = self.process_row(row)
                out.setdefault("error", None)
            except Exception as exc:  # noqa: BLE001 - one row's failure must not stop the batch
                logger.warning("%s failed on %s: %s\n%s", type(self).__name__, row.get("competition_id"),
                               exc, traceback.format_exc())
                out = {"error": f"{type(exc).__name__}: {exc}"}
            outputs.append(out)
        columns = sorted({k for o in outputs for k in o})
        result = {k: list(batch[k]) for k in keys}
        for col in columns:
            result[col] = [o.get(col) for o in outputs]
        return result
