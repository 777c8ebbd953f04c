"""Prompt templates live in actors/prompts/*.j2 (Jinja, StrictUndefined): never long strings in code."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

PROMPT_DIR = Path(__file__).parent / "prompts"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PROMPT_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=False,
    )


def render(name: str, **context: object) -> str:
    """Render actors/prompts/NAME.j2; a missing variable raises instead of rendering empty."""
    return _env().get_template(f"{name}.j2").render(**context).strip()
