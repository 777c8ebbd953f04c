"""Run the open benchmark in both modes with one model and print, per task and in total: valid
submissions from the LLM path (no floor), fallbacks, score vs the untuned baselines of
../shared/benchmarks/README.md, attempts, LLM seconds, execution seconds and overhead seconds.

    .venv/bin/python bench/pipeline.py [--model qwen2.5-coder-0.5b] [--modes linguacodus vanilla]
                                       [--out bench-results] [--only penguins digits]

Runs are resumable (run id = bench-<mode>-<model>): re-running continues where it stopped.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jobs.catalog import build_catalog, write_catalog  # noqa: E402
from jobs.config import RunConfig  # noqa: E402
from jobs.run import run  # noqa: E402

DEFAULT_OPEN = REPO.parent / "shared" / "benchmarks" / "open"


def baselines(open_dir: Path) -> dict[str, float]:
    """The README's 'Untuned scikit-learn baselines' line, keyed by task id (names there are prefixes)."""
    readme = (open_dir.parent / "README.md").read_text()
    line = next((ln for ln in readme.splitlines() if ln.startswith("Untuned")), "")
    line += " " + readme.split(line, 1)[1].split("\n\n", 1)[0] if line else ""
    tasks = sorted(p.name for p in open_dir.iterdir() if p.is_dir())
    out = {}
    for name, value in re.findall(r"([a-z][a-z-]*)\s+(?:RMSE\s+|AUC\s+)?([0-9.]+)", line.split(":", 1)[-1]):
        match = next((t for t in tasks if t == name or t.startswith(name) or name.startswith(t.split("-")[0])), None)
        if match:
            out[match] = float(value.rstrip("."))
    return out


def better(score: float | None, base: float | None, higher: bool) -> str:
    if score is None or base is None:
        return "-"
    return "yes" if (score >= base if higher else score <= base) else "no"


def report(mode: str, rows: list[dict], base: dict[str, float]) -> None:
    head = (f"{'task':22} {'status':18} {'llm_valid':9} {'fallback':8} {'score':>9} {'baseline':>9} {'>=base':6} "
            f"{'attempts':8} {'llm_s':>7} {'exec_s':>7} {'overhead_s':>10} {'tokens':>8}")
    print(f"\n== mode: {mode} ==\n{head}")
    tot = {"llm_valid": 0, "fallback": 0, "valid": 0, "llm": 0.0, "exec": 0.0, "over": 0.0, "tok": 0, "att": 0}
    for r in sorted(rows, key=lambda r: r["competition_id"]):
        llm_valid = bool(r.get("valid_submission")) and not r.get("fallback_used")
        llm_s, exec_s = float(r.get("seconds_llm") or 0), float(r.get("seconds_exec") or 0)
        over = float(r.get("seconds_total") or 0) - llm_s - exec_s
        tokens = int(r.get("prompt_tokens") or 0) + int(r.get("completion_tokens") or 0)
        score = r.get("score")
        b = base.get(r["competition_id"])
        print(f"{r['competition_id']:22} {r['status']:18} {str(llm_valid):9} {str(bool(r.get('fallback_used'))):8} "
              f"{_f(score):>9} {_f(b):>9} {better(score, b, bool(r.get('higher_is_better'))):6} "
              f"{int(r.get('attempts') or 0):8} {llm_s:7.1f} {exec_s:7.1f} {over:10.1f} {tokens:8}")
        tot["llm_valid"] += llm_valid
        tot["fallback"] += bool(r.get("fallback_used"))
        tot["valid"] += bool(r.get("valid_submission"))
        tot["llm"] += llm_s
        tot["exec"] += exec_s
        tot["over"] += over
        tot["tok"] += tokens
        tot["att"] += int(r.get("attempts") or 0)
    n = len(rows)
    print(f"TOTAL {mode}: LLM-path valid {tot['llm_valid']}/{n}, with floor {tot['valid']}/{n}, fallbacks "
          f"{tot['fallback']}, attempts {tot['att']}, LLM {tot['llm']:.0f} s, exec {tot['exec']:.0f} s, "
          f"overhead {tot['over']:.0f} s, tokens {tot['tok']}")


def _f(v: float | None) -> str:
    return "-" if v is None or v != v else f"{v:.4g}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--open", type=Path, default=DEFAULT_OPEN, help="folder of open task folders")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--llm-url", default=None, help="use an OpenAI-compatible endpoint instead")
    ap.add_argument("--modes", nargs="+", default=["linguacodus", "vanilla"])
    ap.add_argument("--out", default=str(REPO / "bench-results"))
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--only", nargs="+", default=None)
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    frame, problems = build_catalog(str(args.open))
    if problems:
        print("invalid tasks:", *problems, sep="\n  ")
    catalog = str(out / "open.parquet")
    write_catalog(frame, catalog)
    base = baselines(args.open)
    for mode in args.modes:
        run_id = f"bench-{mode}-{args.model}".replace(".", "_")
        config = RunConfig(catalog=catalog, out=str(out), run_id=run_id, mode=mode, concurrency=args.concurrency,
                           only=args.only, llm={"backend": "openai" if args.llm_url else "embedded",
                                                "model": args.model, "base_url": args.llm_url,
                                                "n_parallel": 1 if args.llm_url else args.concurrency,
                                                "cache_dir": str(out / "llm-cache")})
        rows = run(config)
        report(mode, rows, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
