"""Ray Tune's results as search.json trial records: status, scores, what TPE was told, and trials the budget
cut before their first report (found by the start marker a trial leaves in the search's scratch folder)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METRIC = "cv_score"  # what ASHA compares at a rung (the sample score at rung 1) and search.json records


def told(searcher: Any) -> dict[str, dict[str, Any]]:
    """What TPE was told of each trial, by Tune trial id: Optuna's state (COMPLETE, PRUNED, FAIL) and value."""
    try:
        study = searcher._ot_study  # noqa: SLF001 - Ray's OptunaSearch keeps the study and its ask-and-tell trials
        trials = study.get_trials(deepcopy=False)
        return {tid: {"state": trials[t.number].state.name, "value": trials[t.number].value}
                for tid, t in searcher._ot_trials.items()}  # noqa: SLF001
    except Exception:  # noqa: BLE001 - a record only; another Ray version may keep them elsewhere
        return {}


def trial_record(result: Any) -> dict[str, Any]:
    """A ray.tune.Result as a plain record for search.json."""
    metrics = result.metrics or {}
    error = getattr(result.error, "cause", None) or result.error
    rung = metrics.get("rung")
    full = bool(metrics.get("full"))
    status = ("completed" if full else "stopped" if rung else "not_run") if error is None else "failed"
    if (error is not None and "out of budget" in str(error)) or metrics.get("out_of_budget"):
        status = "out_of_budget"
    program = metrics.get("program")
    message = str(error) if error is not None else metrics.get("out_of_budget")
    if message and "[program " in message and program is None:
        message, _, tail = message.partition(" [program ")
        program = tail.rstrip("]").strip()
    params = {k: v for k, v in (result.config or {}).items()}
    return {
        "trial_id": trial_id_of(result),
        "params": params, "program": json.loads(program) if isinstance(program, str) else program,
        "status": status, "rung": rung or 0, "started_at": metrics.get("started_at"),
        "cv_score": metrics.get(METRIC) if full else None,
        "sample_score": metrics.get("sample_score", metrics.get(METRIC) if rung == 1 else None),
        "seconds": metrics.get("trial_seconds"), "sandbox_seconds": metrics.get("sandbox_seconds"),
        "predicted_full_s": metrics.get("predicted_full_s"),
        "sandbox_peak_mb": metrics.get("sandbox_peak_mb"), "worker_pid": metrics.get("worker_pid"),
        "error": message[-2000:] if message else None,
    }


def started_record(record: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """A record without a report whose trial left its start marker: out of budget in its first rung."""
    if record["status"] != "not_run":
        return record
    # without a report the id is Tune's trial folder name, which holds the trial id
    markers = [m for m in scratch.glob("*.started") if m.name.removesuffix(".started") in record["trial_id"]]
    try:
        started = json.loads(markers[0].read_text()) if markers else None
    except (OSError, ValueError):
        started = None
    if started is None:
        return record
    return {**record, "trial_id": markers[0].name.removesuffix(".started"), "status": "out_of_budget",
            "started_at": started.get("started_at"),
            "program": record["program"] or json.loads(started.get("program") or "null"),
            "error": "out of budget: the search's time ran out during its first rung"}


def trial_id_of(result: Any) -> str:
    metrics = result.metrics or {}
    if metrics.get("trial_id"):
        return str(metrics["trial_id"])
    path = str(getattr(result, "path", "") or "")
    return path.rstrip("/").rsplit("/", 1)[-1]
