"""Where a run's artifacts live (SPEC.md, "Results (output)"): every path of a run comes from here.

    OUT/RUN_ID/run.json, results.parquet, report.html, _SUCCESS
    OUT/RUN_ID/COMPETITION_ID/{result.json, instructions.json, solution.py, submission.csv, search.json,
                               llm_calls.jsonl, stages/STAGE.py,
                               attempts/NN/{code.py, stdout.txt, stderr.txt, result.json}}
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from storage.uri import join

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _check_name(kind: str, name: str) -> str:
    # Names become path segments: no "/", no "..", nothing hidden.
    if not _NAME_RE.match(name or "") or ".." in name:
        raise ValueError(f"{kind} {name!r} is not a safe path segment ([A-Za-z0-9._-], no '..')")
    return name


@dataclass(frozen=True)
class AttemptLayout:
    """One execution of a script: attempts/NN/."""

    root: str

    @property
    def code_py(self) -> str:
        return join(self.root, "code.py")

    @property
    def stdout_txt(self) -> str:
        return join(self.root, "stdout.txt")

    @property
    def stderr_txt(self) -> str:
        return join(self.root, "stderr.txt")

    @property
    def result_json(self) -> str:
        return join(self.root, "result.json")


@dataclass(frozen=True)
class CompetitionLayout:
    """OUT/RUN_ID/COMPETITION_ID/."""

    root: str

    @property
    def result_json(self) -> str:
        """Written last for a competition: its presence means the competition is complete."""
        return join(self.root, "result.json")

    @property
    def instructions_json(self) -> str:
        return join(self.root, "instructions.json")

    @property
    def solution_py(self) -> str:
        return join(self.root, "solution.py")

    @property
    def submission_csv(self) -> str:
        return join(self.root, "submission.csv")

    @property
    def llm_calls_jsonl(self) -> str:
        return join(self.root, "llm_calls.jsonl")

    @property
    def search_json(self) -> str:
        """The search's space and every trial (written only when the search ran)."""
        return join(self.root, "search.json")

    @property
    def stages_dir(self) -> str:
        return join(self.root, "stages")

    def stage(self, name: str) -> str:
        """stages/NAME.py: the code of one generated stage."""
        return join(self.stages_dir, f"{_check_name('stage', name)}.py")

    @property
    def attempts_dir(self) -> str:
        return join(self.root, "attempts")

    def attempt(self, n: int) -> AttemptLayout:
        if n < 0:
            raise ValueError(f"attempt number must be >= 0, got {n}")
        return AttemptLayout(join(self.attempts_dir, f"{n:02d}"))

    def file(self, name: str) -> str:
        """Any other artifact of this competition (e.g. stage code), by relative name."""
        return join(self.root, *(_check_name("file name", p) for p in name.split("/")))


@dataclass(frozen=True)
class RunLayout:
    """OUT/RUN_ID/: one run over a catalog."""

    out_uri: str
    run_id: str

    def __post_init__(self) -> None:
        _check_name("run_id", self.run_id)

    @classmethod
    def at(cls, run_uri: str) -> RunLayout:
        """The layout of the run whose folder is run_uri (OUT/RUN_ID)."""
        out, _, run_id = str(run_uri).rstrip("/").rpartition("/")
        return cls(out, run_id)

    @property
    def root(self) -> str:
        return join(self.out_uri, self.run_id)

    @property
    def run_json(self) -> str:
        return join(self.root, "run.json")

    @property
    def results_parquet(self) -> str:
        return join(self.root, "results.parquet")

    @property
    def report_html(self) -> str:
        return join(self.root, "report.html")

    @property
    def success(self) -> str:
        """_SUCCESS: written last, when every competition has a row."""
        return join(self.root, "_SUCCESS")

    def competition(self, competition_id: str) -> CompetitionLayout:
        return CompetitionLayout(join(self.root, _check_name("competition_id", competition_id)))
