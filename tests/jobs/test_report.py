"""The HTML report of a real run, rendered by a real headless Chromium: no console errors, nothing
fetched, and every plot region drawn (data marks, not only axes); the comparison of two runs; and
reports of runs whose artifacts are missing, older or on S3."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

import storage
from jobs.cli import main as cli
from jobs.reporting import charts, load_run
from tests.helpers.browser import visit
from tests.helpers.example_runs import EXAMPLE_TASK, ExampleRuns



def colored_pixels(png: bytes, box: dict) -> int:
    """Pixels in the box that belong to a data mark: saturated colour, so not white, grey axes or text."""
    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    region = image.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"])))
    pixels = np.asarray(region, dtype=np.int16)
    return int((pixels.max(axis=2) - pixels.min(axis=2) > 60).sum())


def assert_clean_visit(page, url: str) -> None:
    assert page.errors == [], page.errors
    assert page.requests == [url], f"the report fetched something: {page.requests}"


@pytest.mark.slow
@pytest.mark.sandbox
def test_the_report_of_a_real_run_renders_in_chromium_with_every_plot_drawn(example_runs: ExampleRuns,
                                                                            chromium: str) -> None:
    report = example_runs.out / example_runs.staged / "report.html"
    assert report.exists(), "linguacodus run did not write report.html"
    html = report.read_text()
    assert "<script" not in html and "https://" not in html and "http://" not in html
    url = report.as_uri()
    page = visit(chromium, url, "svg.plot")
    assert_clean_visit(page, url)
    kinds = [b["kind"] for b in page.boxes]
    # the example task has a leaderboard and the pipeline scores its own hold-out: these always exist
    assert {"time", "validation", "leaderboard"} <= set(kinds), kinds
    search = storage.exists(str(example_runs.out / example_runs.staged / EXAMPLE_TASK / "search.json"))
    assert ("search" in kinds) == (search and bool(load_run(str(example_runs.out / "staged")).competitions[0].trials))
    for box in page.boxes:
        assert box["width"] > 100 and box["height"] > 50, box
        assert colored_pixels(page.screenshot, box) > 40, f"plot {box['kind']} has no data marks drawn"


@pytest.mark.slow
@pytest.mark.sandbox
def test_two_runs_compare_competition_by_competition(example_runs: ExampleRuns, chromium: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    a, b = (str(example_runs.out / r) for r in (example_runs.staged, example_runs.vanilla))
    target = tmp_path / "staged-vs-vanilla.html"
    assert cli(["report", a, "--compare", b, "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    html = target.read_text()
    assert "Comparison: <code>staged</code> vs <code>vanilla</code>" in html
    assert html.count(f"<td>{EXAMPLE_TASK}</td>") == 1  # one line per competition in the comparison table
    page = visit(chromium, target.as_uri(), "svg.plot")
    assert_clean_visit(page, target.as_uri())
    compare = [box for box in page.boxes if box["kind"] == "compare"]
    assert len(compare) == 1 and colored_pixels(page.screenshot, compare[0]) > 40


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_report_survives_missing_older_and_failed_artifacts(example_runs: ExampleRuns, tmp_path: Path,
                                                              chromium: str) -> None:
    run = tmp_path / "out" / "damaged"
    shutil.copytree(example_runs.out / example_runs.staged, run)
    (run / "run.json").unlink()  # an interrupted first session
    (run / "report.html").unlink()
    shutil.rmtree(run / EXAMPLE_TASK / "attempts")
    (run / EXAMPLE_TASK / "search.json").unlink(missing_ok=True)
    rows = storage.read_parquet(str(run / "results.parquet")).to_dict(orient="records")
    rows += [{"run_id": "damaged", "competition_id": "broken-task", "status": "failed", "error": "LLM path: <boom>"},
             {"run_id": "damaged", "competition_id": "row-7", "status": "skipped", "error": "invalid catalog row"}]
    storage.write_parquet(str(run / "results.parquet"), storage.rows_to_table(rows))
    (run / "broken-task").mkdir()
    (run / "broken-task" / "result.json").write_text("{not json")
    # the search being redesigned writes validation_score per trial; today's writes full/sample_score
    (run / "broken-task" / "search.json").write_text(json.dumps({"trials": [
        {"status": "completed", "validation_score": 0.5, "seconds": 1.0},
        {"status": "stopped", "sample_score": 0.7, "seconds": 0.5},
        {"status": "failed", "seconds": 0.1}, {"status": "completed", "full_score": 0.9, "seconds": 2.0}]}))

    assert cli(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    for cid in (EXAMPLE_TASK, "broken-task", "row-7"):
        assert f'id="c-{cid}"' in html
    assert "LLM path: &lt;boom&gt;" in html  # errors are shown as text, never as markup
    assert "broken-task/result.json" in html  # the unreadable artifact is named, not hidden
    assert 'data-plot="search"' in html  # plotted from whichever score each trial has
    data = load_run(str(run))
    assert [charts.trial_score(t) for t in data.competitions[1].trials] == [0.5, 0.7, None, 0.9]
    page = visit(chromium, (run / "report.html").as_uri(), "svg.plot")
    assert_clean_visit(page, (run / "report.html").as_uri())
    search = [box for box in page.boxes if box["kind"] == "search"]
    assert len(search) == 1 and colored_pixels(page.screenshot, search[0]) > 40


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_run_on_s3_is_reported_through_storage(example_runs: ExampleRuns, s3_bucket: str) -> None:
    source = example_runs.out / example_runs.vanilla
    run_uri = storage.join(s3_bucket, "runs", "vanilla")
    for path in source.rglob("*"):
        if path.is_file():
            storage.write_bytes(storage.join(run_uri, str(path.relative_to(source))), path.read_bytes())
    storage.delete(storage.join(run_uri, "report.html"))
    assert cli(["report", run_uri]) == 0
    html = storage.read_text(storage.join(run_uri, "report.html"))
    assert f'id="c-{EXAMPLE_TASK}"' in html and 'data-plot="leaderboard"' in html


def test_the_best_so_far_line_follows_the_metric_direction() -> None:
    trials = [{"status": "completed", "validation_score": s} for s in (0.5, 0.3, 0.4)]
    lower = charts.search_progress(trials, higher_is_better=False, original=None, title="t")
    higher = charts.search_progress(trials, higher_is_better=True, original=None, title="t")
    assert lower is not None and higher is not None

    def best_line(chart: charts.Chart) -> list[float]:
        points = dict(next(m for m in chart.marks if m.kind == "polyline").attrs)["points"].split()
        return [float(p.split(",")[1]) for p in points]

    # y pixels grow downwards: lower-is-better keeps going down in score, so its line ends lowest in value
    assert best_line(lower)[-1] > best_line(higher)[-1]


def test_a_search_that_recorded_no_trial_has_no_progress_chart_and_a_flat_axis_has_one_tick() -> None:
    # measured in the README's main command: a 30 s search with no finished trial beside the staged
    # solution's score made the report fail on log10(0) ("report.html not written")
    assert charts.search_progress([], higher_is_better=False, original=56.9, title="t") is None
    assert charts.ticks(0.5, 0.5) == [0.5]
    assert charts.ticks(0.0, 10.0) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
