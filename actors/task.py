"""The catalog row: one competition, as SPEC.md defines it.

Shared by every stage; validation of the row's *shape* lives here, checks that need the data
files (does train.csv exist, is the target in it) live in jobs/catalog.py.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

TASK_TYPES = ("binary", "multiclass", "multilabel", "regression", "multi_regression")
DATA_TYPES = ("tabular", "text", "time_series", "image")
# Registered metric names (SPEC.md). actors/grading/metrics.py must implement exactly these.
METRIC_NAMES = (
    "accuracy",
    "roc_auc",
    "mean_roc_auc",
    "rmse",
    "rmse_log",
    "rmsle",
    "mean_columnwise_rmsle",
    "multiclass_log_loss",
    "mae",
    "f1_macro",
)
# Which task types each metric can grade; used to reject inconsistent catalog rows early.
METRIC_TASK_TYPES: dict[str, tuple[str, ...]] = {
    "accuracy": ("binary", "multiclass"),
    "f1_macro": ("binary", "multiclass"),
    "roc_auc": ("binary",),
    "mean_roc_auc": ("multilabel", "binary"),
    "multiclass_log_loss": ("multiclass", "binary"),
    "rmse": ("regression", "multi_regression"),
    "rmse_log": ("regression", "multi_regression"),
    "rmsle": ("regression", "multi_regression"),
    "mean_columnwise_rmsle": ("multi_regression", "regression"),
    "mae": ("regression", "multi_regression"),
}
_ID_RE = re.compile(r"^[a-z0-9-]+$")


class Competition(BaseModel):
    """One catalog row (SPEC.md, 'Catalog (input)')."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    competition_id: str = Field(description="Unique id, [a-z0-9-]+.")
    title: str = Field(default="", description="Human title.")
    description: str = Field(description="Natural-language task description (markdown allowed).")
    metric: str = Field(description="A registered metric name (METRIC_NAMES).")
    task_type: str = Field(description="binary, multiclass, multilabel, regression, multi_regression.")
    data_type: str = Field(default="tabular", description="tabular, text, time_series, image.")
    target: list[str] = Field(description="Target column(s) of train.csv.")
    id_column: str = Field(description="Id column of test.csv and of the submission.")
    data_uri: str = Field(description="Folder holding train.csv, test.csv and other files.")
    answers_uri: str | None = Field(default=None, description="Private answers (id + targets); never given to generated code.")
    leaderboard_uri: str | None = Field(default=None, description="leaderboard.csv (team_id,score[,submission_date]).")
    data_files: list[str] | None = Field(
        default=None, description="Extra file or folder names inside data_uri that generated code may read, beside "
        "train.csv, test.csv and sample_submission.csv (nothing else of data_uri is given to it).")

    @field_validator("competition_id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not _ID_RE.match(v or ""):
            raise ValueError(f"competition_id {v!r} must match [a-z0-9-]+")
        return v

    @field_validator("metric", "task_type", "data_type")
    @classmethod
    def _check_name(cls, v: str, info: ValidationInfo) -> str:
        allowed, expected = {"metric": (METRIC_NAMES, "registered:"), "task_type": (TASK_TYPES, "expected one of"),
                             "data_type": (DATA_TYPES, "expected one of")}[info.field_name]
        if v not in allowed:
            raise ValueError(f"unknown {info.field_name} {v!r}; {expected} {', '.join(allowed)}")
        return v

    @field_validator("target", mode="before")
    @classmethod
    def _target_list(cls, v: object) -> object:
        if isinstance(v, str):
            return [v]
        if v is not None and not isinstance(v, list):  # numpy arrays from Parquet
            return [str(x) for x in v]
        return v

    @field_validator("data_files", mode="before")
    @classmethod
    def _data_files_list(cls, v: object) -> object:
        if v is not None and not isinstance(v, (list, str)):  # numpy arrays from Parquet
            return [str(x) for x in v]  # type: ignore[attr-defined]
        return v

    @field_validator("data_files")
    @classmethod
    def _check_data_files(cls, v: list[str] | None) -> list[str] | None:
        for name in v or []:
            if not name or "/" in name or name in (".", ".."):
                raise ValueError(f"data_files entry {name!r} must be a plain file or folder name inside data_uri")
        return v

    @model_validator(mode="after")
    def _check_consistency(self) -> Competition:
        if not self.target:
            raise ValueError("target must name at least one column")
        if self.task_type not in METRIC_TASK_TYPES[self.metric]:
            raise ValueError(
                f"metric {self.metric!r} cannot grade task_type {self.task_type!r} "
                f"(it grades {', '.join(METRIC_TASK_TYPES[self.metric])})"
            )
        if self.id_column in self.target:
            raise ValueError(f"id_column {self.id_column!r} is also a target")
        return self

    @classmethod
    def from_row(cls, raw: dict[str, Any]) -> Competition:
        """A catalog row as pandas gives it (`to_dict(orient="records")`): a missing cell (None or NaN)
        is an unset field; the validators take Parquet's numpy arrays."""
        return cls(**{k: (None if v is None or (isinstance(v, float) and v != v) else v) for k, v in raw.items()})

    @property
    def higher_is_better(self) -> bool:
        from actors.grading.metrics import get_metric  # the metric registry is the one source of direction

        return get_metric(self.metric).higher_is_better
