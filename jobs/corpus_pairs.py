"""`linguacodus corpus pairs`: ranked instructor pairs straight from searched runs (train/pairs.py).

    linguacodus corpus pairs OUT/RUN_ID [OUT/RUN_ID2 ...] -o pairs.parquet [--holdout 0.1] [--catalog URI]
                             [--beat-defaults GAIN] [--coarse]

One row per competition whose search completed at least three distinct programs: `prompt` is the
instructor's user message without few-shot (`system` holds its system message), `completion` the three
rendered instructions as the instructor's JSON, `split` train or validation (a stable hash of the id).
The columns are those of `linguacodus extract` (jobs/extract.PAIRS_SCHEMA, so `linguacodus finetune`
reads either), plus split, system, the three programs' estimators and CV scores, and the best program's
relative CV gain over the search's default starts. `--beat-defaults GAIN` keeps only competitions whose
search beat every default start by more than GAIN (relative; 0: strictly better) and ranks programs
other than the default starts (train/pairs.py). `--coarse` states every hyper-parameter on the
nearest of five levels of its search range (train/pairs.coarse_program). Competitions
without a pair are listed with their reason in PAIRS.skipped.json beside the output.
"""
from __future__ import annotations

import argparse
import sys
import logging
from collections import Counter
from dataclasses import asdict
from typing import Any
from collections.abc import Callable

import pyarrow as pa

import storage
from storage.uri import sidecar
from jobs.extract import PAIRS_SCHEMA, _plain

logger = logging.getLogger(__name__)
SCHEMA = pa.schema([*PAIRS_SCHEMA, pa.field("split", pa.string(), nullable=False), pa.field("system", pa.string()),
                    pa.field("estimators", pa.list_(pa.string())), pa.field("scores", pa.list_(pa.float64())),
                    pa.field("n_trials", pa.int64()), pa.field("gain_over_defaults", pa.float64())])


def pairs_table(pairs: list[dict[str, Any]]) -> pa.Table:
    pairs = sorted(pairs, key=lambda p: p["competition_id"])
    return pa.table({f.name: pa.array([_plain(p.get(f.name)) for p in pairs], type=f.type) for f in SCHEMA},
                    schema=SCHEMA)


def register(cmds: argparse._SubParsersAction) -> None:
    what = "ranked instructor pairs from searched runs (input of `finetune`)"
    p = cmds.add_parser("pairs", help=what, description=what)
    p.add_argument("runs", nargs="+", metavar="RUN_URI", help="OUT/RUN_ID folder(s) of `linguacodus run` with search")
    p.add_argument("-o", "--out", required=True, help="pairs Parquet URI to write")
    p.add_argument("--holdout", type=_unit_interval("a share"), default=0.1, help="share of competitions in the validation split")
    p.add_argument("--catalog", default=None, help="catalog URI, when the one in run.json has moved")
    p.add_argument("--beat-defaults", type=_unit_interval("a relative gain"), default=None, metavar="GAIN",
                   help="only competitions whose search found a program better than every default start by more "
                        "than GAIN (relative CV gain; 0: strictly better), ranked without the default starts")
    p.add_argument("--coarse", action="store_true",
                   help="state every hyper-parameter on the nearest of five levels of its search range")
    p.set_defaults(func=_main)


def _unit_interval(what: str) -> Callable[[str], float]:
    """An argparse type: a number in [0, 1), named `what` in the one-line error."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 <= value < 1:
            raise argparse.ArgumentTypeError(f"{value} is not {what} in [0, 1)")
        return value

    return parse


def _main(args: argparse.Namespace) -> int:
    from train.pairs import RunError, pairs_from_runs

    try:
        pairs, skipped = pairs_from_runs([r.rstrip("/") for r in args.runs], args.catalog, args.holdout,
                                         args.beat_defaults, args.coarse)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not pairs:
        print(f"error: no pairs from {len(args.runs)} run(s): {_reasons(skipped) or 'no competition folders'}", file=sys.stderr)
        return 1
    skipped_uri = sidecar(args.out, ".skipped.json")
    try:
        storage.write_parquet(args.out, pairs_table(pairs))
        storage.write_json(skipped_uri, [asdict(s) for s in skipped])
    except (storage.StorageError, OSError) as exc:
        print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
        return 2
    splits = Counter(p["split"] for p in pairs)
    print(f"{len(pairs)} pairs written to {args.out} ({splits['train']} train, {splits['validation']} validation); "
          f"{len(skipped)} competitions skipped{': ' + _reasons(skipped) if skipped else ''} (each in {skipped_uri})")
    return 0


def _reasons(skipped: list[Any]) -> str:
    return "; ".join(f"{n} {reason}" for reason, n in Counter(s.reason for s in skipped).most_common())
