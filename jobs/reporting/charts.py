"""Chart geometry for the report: each function turns numbers into a `Chart` of SVG primitives that
templates/chart.svg.j2 draws inline. Our own SVG because the report must open offline, with no
plotting library or CDN script; every chart is a few dozen shapes, so no more machinery is needed."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 40  # margins: room for tick labels and the title
COLORS = {"llm": "#4c78a8", "exec": "#f58518", "overhead": "#bab0ac", "search": "#54a24b",
          "board": "#9ecae9", "you": "#d62728", "a": "#4c78a8", "b": "#f58518", "grid": "#e5e5e5",
          "ink": "#333333", "fail": "#b279a2"}


@dataclass(frozen=True)
class Mark:
    kind: str  # rect | circle | line | polyline | text
    attrs: tuple[tuple[str, str], ...]
    text: str = ""  # text content, or the hover title of a shape


@dataclass(frozen=True)
class Chart:
    kind: str  # css class, and what the browser test looks for
    title: str
    marks: tuple[Mark, ...]
    width: int = WIDTH
    height: int = HEIGHT
    note: str = ""  # one line under the chart saying how to read it
    legend: tuple[tuple[str, str], ...] = field(default=())  # (label, color)


def mark(kind: str, text: str = "", **attrs: float | str) -> Mark:
    def fmt(v: float | str) -> str:
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    return Mark(kind, tuple((k.replace("_", "-"), fmt(v)) for k, v in attrs.items()), text)


@dataclass(frozen=True)
class Scale:
    lo: float
    hi: float
    a: float  # pixel of lo
    b: float  # pixel of hi

    def __call__(self, v: float) -> float:
        span = (self.hi - self.lo) or 1.0
        return self.a + (v - self.lo) / span * (self.b - self.a)


def nice_range(values: Sequence[float], pad: float = 0.05) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if lo == hi:
        lo, hi = lo - (abs(lo) * 0.1 or 1.0), hi + (abs(hi) * 0.1 or 1.0)
    span = hi - lo
    return lo - span * pad, hi + span * pad


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not hi > lo:  # an empty or one-point axis: one tick, no log of zero
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if (hi - lo) / (step * m) <= n)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step) + 1)]


def fmt(v: float) -> str:
    return f"{v:.4g}"


def axes(x: Scale, y: Scale | None, x_label: str, y_label: str = "") -> list[Mark]:
    """Grid lines, tick labels and axis labels (y may be None for a categorical axis)."""
    out = [mark("line", x1=x.a, x2=x.b, y1=HEIGHT - BOTTOM, y2=HEIGHT - BOTTOM, stroke=COLORS["ink"])]
    for t in ticks(x.lo, x.hi):
        out.append(mark("line", x1=x(t), x2=x(t), y1=TOP, y2=HEIGHT - BOTTOM, stroke=COLORS["grid"]))
        out.append(mark("text", fmt(t), x=x(t), y=HEIGHT - BOTTOM + 14, text_anchor="middle", font_size=10))
    out.append(mark("text", x_label, x=(x.a + x.b) / 2, y=HEIGHT - 6, text_anchor="middle", font_size=11))
    if y is not None:
        out.append(mark("line", x1=LEFT, x2=LEFT, y1=TOP, y2=HEIGHT - BOTTOM, stroke=COLORS["ink"]))
        for t in ticks(y.lo, y.hi):
            out.append(mark("line", x1=LEFT, x2=WIDTH - RIGHT, y1=y(t), y2=y(t), stroke=COLORS["grid"]))
            out.append(mark("text", fmt(t), x=LEFT - 4, y=y(t) + 3, text_anchor="end", font_size=10))
        out.append(mark("text", y_label, x=12, y=(TOP + HEIGHT - BOTTOM) / 2, text_anchor="middle", font_size=11,
                        transform=f"rotate(-90 12 {(TOP + HEIGHT - BOTTOM) / 2:.1f})"))
    return out


def horizontal_axis(x: Scale, at: Sequence[float], height: int, label: str) -> list[Mark]:
    """The x axis of a chart with one labelled row per competition."""
    out = [mark("line", x1=x.a, x2=x.b, y1=height - BOTTOM, y2=height - BOTTOM, stroke=COLORS["ink"])]
    for t in at:
        out.append(mark("line", x1=x(t), x2=x(t), y1=TOP, y2=height - BOTTOM, stroke=COLORS["grid"]))
        out.append(mark("text", fmt(t), x=x(t), y=height - BOTTOM + 14, text_anchor="middle", font_size=10))
    out.append(mark("text", label, x=(x.a + x.b) / 2, y=height - 6, text_anchor="middle", font_size=11))
    return out


def leaderboard(scores: Sequence[float], you: float | None, higher_is_better: bool | None,
                percentile: float | None, title: str) -> Chart | None:
    """Histogram of the leaderboard's scores with the submission as a vertical line."""
    if not scores:
        return None
    lo, hi = nice_range([*scores, *([you] if you is not None else [])], pad=0.02)
    bins = max(8, min(40, len(scores) // 2))  # a few dozen teams: fine bins, the rug shows each one
    width = (hi - lo) / bins
    counts = [0] * bins
    for s in scores:
        counts[min(bins - 1, int((s - lo) / width))] += 1
    x = Scale(lo, hi, LEFT, WIDTH - RIGHT)
    y = Scale(0, max(counts), HEIGHT - BOTTOM, TOP)
    marks = axes(x, y, "leaderboard score" + (" (higher is better)" if higher_is_better else
                                              " (lower is better)" if higher_is_better is False else ""), "teams")
    for i, c in enumerate(counts):
        if c:
            marks.append(mark("rect", f"{c} teams in [{fmt(lo + i * width)}, {fmt(lo + (i + 1) * width)})",
                              x=x(lo + i * width) + 0.5, y=y(c), width=max(1.0, x(lo + width) - x(lo) - 1),
                              height=y(0) - y(c), fill=COLORS["board"]))
    for s in scores:  # a rug: with a few dozen teams each one is worth seeing, not only the bins
        marks.append(mark("line", x1=x(s), x2=x(s), y1=y(0) - 6, y2=y(0), stroke=COLORS["a"], stroke_width=1.5))
    note = f"{len(scores)} teams on the leaderboard"
    if you is not None:
        marks.append(mark("line", x1=x(you), x2=x(you), y1=TOP, y2=HEIGHT - BOTTOM, stroke=COLORS["you"],
                          stroke_width=2.5))
        beats = f", beats {percentile:.0f}% of teams" if percentile is not None else ""
        right = x(you) > (LEFT + WIDTH - RIGHT) / 2  # label on the side with more room
        marks.append(mark("text", f"submission {fmt(you)}{beats}", x=x(you) + (-6 if right else 6), y=TOP + 10,
                          text_anchor="end" if right else "start", font_size=11, fill=COLORS["you"]))
    else:
        note += "; no graded submission to place"
    return Chart("leaderboard", title, tuple(marks), note=note)


def validation_vs_test(points: Sequence[tuple[str, float, float]], metric: str) -> Chart | None:
    """One point per competition: the pipeline's hold-out score against the graded test score."""
    if not points:
        return None
    lo, hi = nice_range([v for _, a, b in points for v in (a, b)], pad=0.12)
    x = Scale(lo, hi, LEFT, WIDTH - RIGHT)
    y = Scale(lo, hi, HEIGHT - BOTTOM, TOP)
    marks = axes(x, y, "validation score", "test score")
    marks.append(mark("line", x1=x(lo), y1=y(lo), x2=x(hi), y2=y(hi), stroke=COLORS["ink"], stroke_dasharray="4 3"))
    for cid, val, test in points:
        marks.append(mark("circle", f"{cid}: validation {fmt(val)}, test {fmt(test)}", cx=x(val), cy=y(test), r=5.0,
                          fill=COLORS["a"], fill_opacity="0.8"))
        marks.append(mark("text", cid, x=x(val) + 7, y=y(test) - 6, font_size=10))
    return Chart("validation", f"Validation vs test score ({metric})", tuple(marks),
                 note="on the dashed line the hold-out score predicted the test score exactly")


def search_progress(trials: Sequence[dict], higher_is_better: bool, original: float | None, title: str) -> Chart | None:
    """Each trial's validation score (dots) and the best so far (step line), in trial order."""
    scored = [(i + 1, trial_score(t)) for i, t in enumerate(trials)]
    values = [s for _, s in scored if s is not None] + ([original] if original is not None else [])
    if not trials or not values:  # a search that recorded no trial (its budget ended first) has no progress
        return None
    lo, hi = nice_range(values)
    x = Scale(0.5, len(trials) + 0.5, LEFT, WIDTH - RIGHT)
    y = Scale(lo, hi, HEIGHT - BOTTOM, TOP)
    marks = axes(x, y, "trial", "validation score")
    if original is not None:
        marks.append(mark("line", "the solution before the search", x1=x.a, x2=x.b, y1=y(original), y2=y(original),
                          stroke=COLORS["ink"], stroke_dasharray="4 3"))
    best: float | None = original
    points = []
    for n, s in scored:
        if s is not None and (best is None or (s > best if higher_is_better else s < best)):
            best = s
        if best is not None:
            points.append(f"{x(n - 0.5):.1f},{y(best):.1f} {x(n + 0.5):.1f},{y(best):.1f}")
    if points:
        marks.append(mark("polyline", "best so far", points=" ".join(points), fill="none",
                          stroke=COLORS["search"], stroke_width=2.5))
    for (n, s), t in zip(scored, trials, strict=True):
        status = str(t.get("status") or "")
        if s is None:
            marks.append(mark("text", "×", x=x(n), y=HEIGHT - BOTTOM - 4, text_anchor="middle", font_size=14,
                              fill=COLORS["fail"]))
        else:
            marks.append(mark("circle", f"trial {n}: {fmt(s)} ({status})", cx=x(n), cy=y(s), r=4.5,
                              fill=COLORS["search"] if status == "completed" else COLORS["overhead"]))
    return Chart("search", title, tuple(marks),
                 note="green: completed trials, grey: stopped early, ×: failed; line: best so far")


def trial_score(trial: dict) -> float | None:
    """Today's search writes cv_score; older search.json has validation_score or full_score / sample_score."""
    for key in ("cv_score", "validation_score", "full_score", "sample_score", "score"):
        v = trial.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    return None


def time_breakdown(rows: Sequence[dict]) -> Chart | None:
    """Stacked horizontal bars per competition: LLM, sandbox execution, and everything else."""
    bars = []
    for r in rows:
        total = float(r.get("seconds_total") or 0)
        llm, ex = float(r.get("seconds_llm") or 0), float(r.get("seconds_exec") or 0)
        if total > 0:
            bars.append((str(r["competition_id"]), llm, ex, max(0.0, total - llm - ex)))
    if not bars:
        return None
    height = TOP + BOTTOM + 22 * len(bars)
    label_w = 150
    x = Scale(0, max(sum(b[1:]) for b in bars) * 1.05, label_w, WIDTH - RIGHT)
    marks = horizontal_axis(x, ticks(x.lo, x.hi), height, "seconds")
    for i, (cid, *parts) in enumerate(bars):
        top, start = TOP + 22 * i + 3, 0.0
        marks.append(mark("text", cid[:24], x=label_w - 6, y=top + 12, text_anchor="end", font_size=11))
        for name, secs in zip(("llm", "exec", "overhead"), parts, strict=True):
            if secs > 0:
                marks.append(mark("rect", f"{cid}: {name} {secs:.1f} s", x=x(start), y=float(top),
                                  width=max(1.0, x(start + secs) - x(start)), height=16.0, fill=COLORS[name]))
            start += secs
    legend = (("LLM", COLORS["llm"]), ("execution", COLORS["exec"]), ("overhead", COLORS["overhead"]))
    return Chart("time", "Where the time went", tuple(marks), height=height, legend=legend,
                 note="overhead: seconds_total minus LLM and sandbox time (data loading, checks, Ray, grading)")


def compare_percentiles(pairs: Sequence[tuple[str, float | None, float | None]], a: str, b: str) -> Chart | None:
    """Leaderboard percentile of run A and run B per competition (percentiles compare across metrics)."""
    pairs = [p for p in pairs if p[1] is not None or p[2] is not None]
    if not pairs:
        return None
    height, label_w = TOP + BOTTOM + 22 * len(pairs), 150
    x = Scale(0, 100, label_w, WIDTH - RIGHT)
    marks = horizontal_axis(x, [float(t) for t in range(0, 101, 20)], height,
                            "leaderboard percentile (share of teams beaten)")
    for i, (cid, pa, pb) in enumerate(pairs):
        cy = TOP + 22 * i + 11.0
        marks.append(mark("text", cid[:24], x=label_w - 6, y=cy + 4, text_anchor="end", font_size=11))
        if pa is not None and pb is not None:
            marks.append(mark("line", x1=x(pa), x2=x(pb), y1=cy, y2=cy, stroke=COLORS["overhead"], stroke_width=2))
        for run, p, color in ((a, pa, COLORS["a"]), (b, pb, COLORS["b"])):
            if p is not None:
                marks.append(mark("circle", f"{cid} {run}: {p:.1f}", cx=x(p), cy=cy, r=5.5, fill=color))
    return Chart("compare", "Leaderboard percentile per competition", tuple(marks), height=height,
                 legend=((a, COLORS["a"]), (b, COLORS["b"])), note="further right is better")
