"""Progress of a run that a person can follow.

Each competition's solver reports its steps (`progress.step(cid, "search")`) to one small Ray actor, the
board, with fire-and-forget calls: nothing is written to storage and it works the same on a cluster. The
driver drains the board about once a second and shows what it holds:
- on a terminal (stderr is a TTY), a live bar over the competitions (done, failed, running, ETA) and
  below it each running competition's current step and for how long;
- off a terminal, one log line per competition per step, and one when it finishes.
A lost progress call costs a line of progress, never a competition: reporting never raises.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)
FINISHED = "finished"  # the step of the event that ends a competition (it carries the status)


@dataclass(frozen=True)
class Event:
    competition_id: str
    step: str  # "facts", "instructions", ..., "grade" (jobs/solve.py), or FINISHED
    at: float  # time.time() where it happened
    status: str | None = None  # FINISHED only: the row's status
    score: float | None = None


class ProgressBoard:
    """The Ray actor the solvers report to and the driver drains (ray.remote(num_cpus=0) in `start_board`)."""

    def __init__(self, total: int = 0) -> None:
        self._events: list[Event] = []
        self._total = total  # the competitions of this session
        self._finished: set[str] = set()

    def record(self, event: Event) -> None:
        self._events.append(event)
        if event.step == FINISHED:
            self._finished.add(event.competition_id)

    def unfinished(self) -> int:
        """Competitions of the session without a result yet (a search starting now shares the CPUs
        with at most these)."""
        return max(0, self._total - len(self._finished))

    def drain(self) -> list[Event]:
        events, self._events = self._events, []
        return events


def start_board(total: int = 0) -> Any:
    import ray

    return ray.remote(num_cpus=0)(ProgressBoard).remote(total)


class Progress:
    """What a solver holds. Without a board (a solver called directly, as in tests) steps are only logged
    at debug level."""

    def __init__(self, board: Any = None) -> None:
        self.board = board

    def step(self, cid: str, step: str) -> None:
        self._send(Event(cid, step, time.time()))

    def finished(self, cid: str, status: str, score: float | None) -> None:
        """Waits until the board has it (and so, calls from one process running in order, every step before
        it): when the driver gets the row, the board holds the whole story."""
        self._send(Event(cid, FINISHED, time.time(), status, score), wait=True)

    def unfinished(self, default: int) -> int:
        """The board's count of competitions without a result, or `default` without a board (or when
        it does not answer within 10 s)."""
        if self.board is None:
            return default
        try:
            import ray

            return int(ray.get(self.board.unfinished.remote(), timeout=10))
        except Exception as exc:  # noqa: BLE001 - e.g. the driver (and its board) is gone
            logger.debug("unfinished competitions not known: %s", exc)
            return default

    def _send(self, event: Event, wait: bool = False) -> None:
        logger.debug("%s: %s", event.competition_id, event.step)
        if self.board is None:
            return
        try:
            ref = self.board.record.remote(event)
            if wait:
                import ray

                ray.get(ref, timeout=30)
        except Exception as exc:  # noqa: BLE001 - e.g. the driver (and its board) is gone
            logger.debug("%s: progress not reported: %s", event.competition_id, exc)


@dataclass
class Tracker:
    """The state of a run's competitions, fed events in any order (a late step of a finished competition
    is ignored; a finish seen twice, from the board and from the driver's rows, counts once)."""

    total: int
    started: float
    running: dict[str, tuple[str, float]] = field(default_factory=dict)  # cid -> (step, since)
    finished: dict[str, str] = field(default_factory=dict)  # cid -> status

    def apply(self, event: Event) -> bool:
        """Take an event; False if it changes nothing (not worth a log line)."""
        cid = event.competition_id
        if cid in self.finished:
            return False
        if event.step == FINISHED:
            self.finished[cid] = event.status or "?"
            self.running.pop(cid, None)
        elif self.running.get(cid, ("", 0.0))[0] == event.step:
            return False
        else:
            self.running[cid] = (event.step, event.at)
        return True

    @property
    def failed(self) -> int:
        return sum(1 for s in self.finished.values() if s == "failed")

    def eta(self, now: float) -> float | None:
        """Seconds left at the pace so far (finished competitions per second of the run); None before the
        first one finishes."""
        n = len(self.finished)
        if n == 0:
            return None
        return max(0.0, (now - self.started) / n * (self.total - n))

    def summary(self, now: float) -> str:
        """E.g. "3/10 done · 1 failed · 2 running · ETA 4:10 · elapsed 1:47" (done counts the failed too);
        under 80 columns with the bar for catalogs of up to 9,999 competitions."""
        eta = self.eta(now)
        return (f"{len(self.finished)}/{self.total} done · {self.failed} failed · {len(self.running)} running · "
                f"ETA {'?' if eta is None else clock(eta)} · elapsed {clock(now - self.started)}")


def clock(seconds: float) -> str:
    """H:MM:SS, or M:SS under an hour."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def render(tracker: Tracker, now: float, width: int = 16) -> list[str]:
    """The terminal view: a bar and the summary, then one line per running competition: its step and for how
    long it has been on it."""
    filled = round(width * len(tracker.finished) / max(1, tracker.total))
    lines = [f"[{'#' * filled}{'.' * (width - filled)}] {tracker.summary(now)}"]
    pad = max((len(c) for c in tracker.running), default=0)
    for cid, (step, since) in sorted(tracker.running.items()):
        lines.append(f"  {cid:<{pad}}  {step:<12} {clock(now - since)}")
    return lines


def log_line(tracker: Tracker, event: Event, now: float, summary: bool = True) -> str:
    """The line a step or a finish gets off a terminal; on one, finishes only and without the summary (the
    bar below shows it)."""
    if event.step == FINISHED:
        score = "" if event.score is None else f", score {event.score:.4g}"
        what = f"finished: {event.status}{score}"
    else:
        what = event.step
    return f"{event.competition_id}: {what}" + (f"  [{tracker.summary(now)}]" if summary else "")


class ProgressView:
    """The driver's side: a thread drains the board and shows the tracker (live on a terminal, log lines
    off it). `finished` takes the rows the driver receives, in case the solver's own report was lost.
    The board ends with the view."""

    def __init__(self, board: Any, total: int, tty: bool | None = None, poll_s: float = 1.0) -> None:
        self.board = board
        self.tracker = Tracker(total=total, started=time.time())
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._live: Any = None
        self._streams: list[tuple[logging.StreamHandler, Any]] = []

    def __enter__(self) -> ProgressView:
        if self.tty:
            self._start_live()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._drain()
        if self._live is not None:
            self._live.stop()
            for handler, stream in self._streams:
                handler.setStream(stream)
        import ray

        ray.kill(self.board)

    def finished(self, cid: str, status: str, score: float | None) -> None:
        """A row the driver received: the board's events first (the solver's steps, its own finish)."""
        self._drain((Event(cid, FINISHED, time.time(), status, score),))

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._drain()

    def _drain(self, then: tuple[Event, ...] = ()) -> None:
        import ray

        with self._lock:  # drained and applied in one go: the thread and `finished` never interleave
            try:
                events = ray.get(self.board.drain.remote(), timeout=30)
            except Exception as exc:  # noqa: BLE001 - progress is never worth stopping a run for
                logger.debug("progress board not read: %s", exc)
                events = []
            self._show([*sorted(events, key=lambda e: e.at), *then])

    def _show(self, events: list[Event]) -> None:
        now = time.time()
        for event in events:
            if self.tracker.apply(event) and (not self.tty or event.step == FINISHED):
                logger.info("%s", log_line(self.tracker, event, now, summary=not self.tty))
        if self._live is not None:
            from rich.text import Text

            self._live.update(Text("\n".join(render(self.tracker, now)), no_wrap=True, overflow="ellipsis"))

    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        original = sys.stderr
        self._live = Live(console=Console(file=original), refresh_per_second=4, redirect_stdout=True,
                          redirect_stderr=True)
        self._live.start()
        # Logging handlers hold the real stderr; pointed at rich's proxy, their lines (ours, and the Ray
        # workers' the driver prints) scroll above the live view instead of tearing through it.
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is original:
                self._streams.append((handler, handler.setStream(sys.stderr)))
