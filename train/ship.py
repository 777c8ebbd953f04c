"""Ship a fine-tuned adapter with the code: `python -m train.ship FT_OUT --pairs PAIRS --name NAME`.

Copies FT_OUT/adapter.gguf (written by `linguacodus finetune`) to actors/llm/adapters/NAME.gguf and writes
NAME.json beside it, the manifest `actors/llm/adapters.py` reads: the base model, the tags of the calls
the adapter serves, the file's sha256, and what made it (the pairs file's sha256 and split sizes, the
fine-tune's config, loss curve and eval losses). Nothing is trained here.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from actors.llm.adapters import SHIPPED
from actors.llm.weights import sha256_file


def manifest(ft_out: Path, pairs: Path, name: str, tags: list[str]) -> dict:
    import pandas as pd

    metrics = json.loads((ft_out / "metrics.json").read_text())
    frame = pd.read_parquet(pairs)
    cfg = metrics.get("config") or {}
    return {
        "name": name, "base": metrics["base"], "tags": tags, "file": f"{name}.gguf",
        "sha256": sha256_file(ft_out / "adapter.gguf"), "bytes": (ft_out / "adapter.gguf").stat().st_size,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pairs": {"file": pairs.name, "sha256": sha256_file(pairs), "rows": len(frame),
                  "split": frame["split"].value_counts().to_dict() if "split" in frame else {},
                  "competitions": sorted(frame["competition_id"].astype(str).unique().tolist())},
        "finetune": {
            "command": "linguacodus finetune " + " ".join(
                (f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')} {v}") for k, v in cfg.items()
                if v is not False and k in ("base", "workers", "max_seq_len", "batch_size", "grad_accum", "max_steps",
                                            "lr", "warmup_steps", "lora_r", "lora_alpha", "seed", "checkpoint_every",
                                            "gradient_checkpointing")),
            "steps": metrics.get("steps"), "seconds": metrics.get("seconds"), "tokens_seen": metrics.get("tokens_seen"),
            "eval_loss_start": metrics.get("eval_loss_start"), "eval_loss_end": metrics.get("eval_loss_end"),
            "loss_curve": [{"step": h.get("step"), "loss": h.get("loss")} for h in metrics.get("loss_curve") or []],
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.ship", description=__doc__.splitlines()[0])
    p.add_argument("ft_out", type=Path, help="the --out folder of linguacodus finetune")
    p.add_argument("--pairs", type=Path, required=True, help="the pairs Parquet it was trained on")
    p.add_argument("--name", required=True, help="file stem under actors/llm/adapters/")
    p.add_argument("--tags", nargs="+", default=["instructor"], help="ChatRequest tags the adapter applies to")
    args = p.parse_args(argv)
    for f in (args.ft_out / "adapter.gguf", args.ft_out / "metrics.json", args.pairs):
        if not f.is_file():
            print(f"train.ship: {f} does not exist", file=sys.stderr)
            return 2
    m = manifest(args.ft_out, args.pairs, args.name, args.tags)
    SHIPPED.mkdir(exist_ok=True)
    shutil.copyfile(args.ft_out / "adapter.gguf", SHIPPED / m["file"])
    (SHIPPED / f"{args.name}.json").write_text(json.dumps(m, indent=1) + "\n")
    print(json.dumps({k: m[k] for k in ("name", "base", "sha256", "bytes")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
