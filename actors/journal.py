"""The journal of one competition: every stage attempt, execution, search trial and LLM call, in order,
each with a parent link, so a fix points at the execution it fixed and a retry at the try before it.

Like aideml's journal, it is the one record of what happened; it is serialised once, at the end, into
result.json `details` (stage_log, attempts) and llm_calls.jsonl, with the keys the results layout and
the report read. Search trials are in the journal for their links; their full record is search.json.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from actors.executor import Execution

Kind = Literal["stage", "execution", "trial", "llm_call"]


@dataclass(frozen=True)
class StageAttempt:
    """One generation of one stage, checked on a sample (the coder's try)."""

    stage: str
    try_index: int
    code: str
    ok: bool
    error: str | None
    temperature: float
    reflection: str | None = None
    reset: bool = False
    style: str = "code"


@dataclass(frozen=True)
class Attempt:
    """One execution of a full script, as the fix loop saw it (result.json details["attempts"])."""

    number: int
    ok: bool
    stage: str | None  # the stage the error came from (linguacodus mode)
    error: str | None
    reflection: str | None
    reset: bool  # the same error as the execution before: the fix started a fresh conversation
    exit_code: int | None
    duration_s: float
    timed_out: bool
    killed_reason: str | None
    peak_memory_mb: float | None = None  # the sandbox's memory high-water mark

    @classmethod
    def of(cls, execution: Execution) -> Attempt:
        r = execution.result
        return cls(execution.number, execution.ok, execution.stage, execution.error, None, False, r.exit_code,
                   r.duration_s, r.timed_out, r.killed_reason, r.peak_memory_mb)


@dataclass(frozen=True)
class Entry:
    id: int
    kind: Kind
    parent: int | None
    record: Any  # StageAttempt | Attempt | a trial dict | an LLM call dict


@dataclass
class Journal:
    entries: list[Entry] = field(default_factory=list)

    def add(self, kind: Kind, record: Any, parent: int | None = None) -> int:
        entry = Entry(len(self.entries) + 1, kind, parent, record)
        self.entries.append(entry)
        return entry.id

    def update(self, entry_id: int, **changes: Any) -> None:
        """Fill in what is known only after the fact (an execution's reflection and reset)."""
        entry = self.entries[entry_id - 1]
        self.entries[entry_id - 1] = dataclasses.replace(entry, record=dataclasses.replace(entry.record, **changes))

    def of(self, kind: Kind) -> list[Entry]:
        return [e for e in self.entries if e.kind == kind]

    def last(self, *kinds: Kind) -> Entry | None:
        return next((e for e in reversed(self.entries) if e.kind in kinds), None)

    def record(self, entry_id: int) -> Any:
        return self.entries[entry_id - 1].record

    @property
    def executions(self) -> int:
        return len(self.of("execution"))

    @property
    def seconds_exec(self) -> float:
        return sum(e.record.duration_s for e in self.of("execution"))

    def stage_log(self) -> list[dict[str, Any]]:
        """details["stage_log"]: every stage attempt without its code (the code is in stages/ and attempts/)."""
        return [{"id": e.id, "parent": e.parent, **{k: v for k, v in asdict(e.record).items() if k != "code"}}
                for e in self.of("stage")]

    def attempts(self) -> list[dict[str, Any]]:
        """details["attempts"]: every execution (attempts/NN/ holds its code and logs)."""
        return [{"id": e.id, "parent": e.parent, **asdict(e.record)} for e in self.of("execution")]

    def llm_calls(self) -> list[dict[str, Any]]:
        """llm_calls.jsonl: one record per call, prompt, reply, tokens and seconds."""
        return [e.record for e in self.of("llm_call")]

    def details(self) -> dict[str, Any]:
        return {"stage_log": self.stage_log(), "attempts": self.attempts()}
