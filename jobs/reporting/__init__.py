"""The HTML report of a run (`linguacodus report`): artifacts read through storage (load.py), charts
as inline SVG (charts.py), pages from Jinja templates (render.py, templates/)."""
from jobs.reporting.load import CompetitionData, RunData, load_run
from jobs.reporting.render import render_report

__all__ = ["CompetitionData", "RunData", "load_run", "render_report"]
