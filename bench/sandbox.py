"""Launch overhead of the sandbox: median wall time of a trivial script (`pass`), sandboxed vs a plain
subprocess of the same python. Run: .venv/bin/python bench/sandbox.py [--runs 50]"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not
from actors.sandbox import Sandbox, SandboxConfig


def time_plain(script: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, str(script), "--data-dir", "/data", "--out-dir", "/work"], check=True)
        times.append(time.perf_counter() - start)
    return times


def time_sandboxed(script: Path, workdir: Path, runs: int) -> list[float]:
    sandbox = Sandbox(SandboxConfig(timeout_s=60))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = sandbox.run(script, workdir)
        times.append(time.perf_counter() - start)
        if not result.ok:
            raise SystemExit(f"sandboxed run failed: {result}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50, help="launches per variant (median reported)")
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "trivial.py"
        script.write_text("pass\n")
        time_plain(script, 3)  # warm the page cache for both variants
        plain = statistics.median(time_plain(script, runs))
        sandboxed = statistics.median(time_sandboxed(script, Path(tmp) / "work", runs))
    print(f"runs per variant          {runs}")
    print(f"plain subprocess median   {plain * 1000:7.1f} ms")
    print(f"sandboxed median          {sandboxed * 1000:7.1f} ms")
    print(f"sandbox overhead          {(sandboxed - plain) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
