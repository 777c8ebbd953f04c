"""Benchmark a LoRA fine-tuning run on this machine: seconds per step, training tokens/s, loss curve.

    .venv/bin/python -m bench.finetune --base smollm2-135m --steps 8 --workers 2
    .venv/bin/python -m bench.finetune --base qwen2.5-coder-0.5b --steps 6 --workers 2 --batch-size 2

Without --pairs it trains on synthetic pairs shaped like real ones (a task prompt of ~120 tokens, a
4-part instruction of ~80). Step 1 (first-touch allocations, DeepSpeed's lazy setup) is reported
but left out of the steady-state means; startup = wall time minus the time spent in steps.
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd

METRICS = ["accuracy", "rmse", "roc_auc", "multiclass_log_loss"]
MODELS = ["gradient boosting (LightGBM)", "random forest", "logistic regression", "ridge regression"]


def synthetic_pairs(n: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        metric, model = METRICS[i % len(METRICS)], MODELS[i % len(MODELS)]
        prompt = (f"Competition synthetic-{i}: predict the column `target` of train.csv from {10 + i} "
                  f"features ({i % 5} categorical, {i % 3} with missing values). Evaluation metric: {metric}. "
                  "Data: train.csv has 5000 rows, test.csv 2000 rows, id column `id`. Write the top-ranked "
                  "solution instruction: data preprocessing, model, training, submission.")
        completion = (f"1. Preprocessing: impute numeric columns with the median, one-hot encode the {i % 5} "
                      "categorical columns, drop `id` from the features.\n"
                      f"2. Model: {model} with default hyper-parameters as the baseline.\n"
                      f"3. Training: 5-fold cross-validation scored with {metric}; refit on all rows.\n"
                      "4. Submission: predict test.csv and write `id` plus the prediction column.")
        rows.append({"competition_id": f"synthetic-{i}", "rank": 1, "score": 1.0,
                     "prompt": prompt, "completion": completion})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", default="smollm2-135m")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-seq-len", type=int, default=512)
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--pairs", help="pairs Parquet (default: 32 synthetic pairs)")
    p.add_argument("--out", help="output dir (default: a temp dir, deleted)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import ray

    from train.config import FinetuneConfig
    from train.launcher import run_finetune

    with tempfile.TemporaryDirectory(prefix="lc-bench-ft-") as tmp:
        pairs = args.pairs
        if pairs is None:
            pairs = str(Path(tmp) / "pairs.parquet")
            synthetic_pairs(32).to_parquet(pairs)
        out = args.out or str(Path(tmp) / "out")
        cfg = FinetuneConfig(pairs=pairs, base=args.base, out=out, workers=args.workers, max_steps=args.steps,
                             batch_size=args.batch_size, max_seq_len=args.max_seq_len, lora_r=args.lora_r,
                             lora_alpha=2.0 * args.lora_r, lr=args.lr, checkpoint_every=args.steps)
        ray.init(num_cpus=max(2, args.workers), include_dashboard=False, log_to_driver=False)
        try:
            started = time.perf_counter()
            result = run_finetune(cfg)
            wall = time.perf_counter() - started
        finally:
            ray.shutdown()
        metrics = json.loads(Path(result.metrics_uri).read_text()) if not out.startswith("s3://") else {}
    curve = metrics.get("loss_curve", [])
    steady = curve[1:] or curve
    step_s = sum(r["seconds_per_step"] for r in steady) / len(steady)
    tok_s = sum(r["tokens_per_s"] for r in steady) / len(steady)
    print(f"base={args.base} workers={args.workers} batch/worker={args.batch_size} steps={result.steps}")
    print(f"wall {wall:.1f} s  startup+export {wall - sum(r['seconds_per_step'] for r in curve):.1f} s")
    print(f"steady state: {step_s:.2f} s/step  {tok_s:.0f} training tokens/s (all workers, incl. prompt)")
    print(f"eval loss on the pairs: {metrics.get('eval_loss_start'):.4f} -> {metrics.get('eval_loss_end'):.4f}")
    print("step  loss     s/step  tokens/s")
    for r in curve:
        print(f"{r['step']:>4}  {r['loss']:.4f}  {r['seconds_per_step']:6.2f}  {r['tokens_per_s']:8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
