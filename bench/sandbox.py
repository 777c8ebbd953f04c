"""Launch overhead of the sandbox: median wall time of a trivial script (`pass`), sandboxed vs a plain
subprocess of the same python, for each way the per-run limits can be enforced (`auto`: an ext4
image and cgroups per run where the host allows them; `watchdog`: the polling fallback), and the
speed of a large write to /work in both (the image's loop device vs the host disk).
Run: .venv/bin/python bench/sandbox.py [--runs 50] [--write-mb 800]"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not
from actors.sandbox.sandbox import Sandbox, SandboxConfig


def run_plain(script: Path) -> None:
    subprocess.run([sys.executable, str(script), "--data-dir", "/data", "--out-dir", "/work"], check=True)


def run_in(sandbox: Sandbox, script: Path, workdir: Path) -> None:
    result = sandbox.run(script, workdir)
    if not result.ok:
        raise SystemExit(f"sandboxed run failed: {result}")


WRITER = """
import os, sys, time
chunk, mib = os.urandom(1 << 20), int(sys.argv[-1])
start = time.perf_counter()
with open("/work/fill", "wb") as handle:
    for _ in range(mib):
        handle.write(chunk)
    handle.flush()
    os.fsync(handle.fileno())
print(mib / (time.perf_counter() - start))
"""


def write_speed(tmp: Path, mib: int, rounds: int) -> None:
    """MB/s of `mib` MiB written and fsynced to /work, per enforcement mode (image vs host disk)."""
    script = tmp / "writer.py"
    script.write_text(WRITER)
    speeds: dict[str, list[float]] = {"auto": [], "watchdog": []}
    for _ in range(rounds):
        for mode in speeds:
            work = tmp / f"write-{mode}"
            result = Sandbox(SandboxConfig(timeout_s=300, enforce=mode, max_file_mb=2 * mib)).run(
                script, work, args=[str(mib)])
            if not result.ok:
                raise SystemExit(f"writer failed: {result}")
            speeds[mode].append(float(result.stdout.split()[-1]) * (1 << 20) / 1e6)
            (work / "fill").unlink()
    for mode, values in speeds.items():
        print(f"write {mib} MiB + fsync, {mode:8s} median {statistics.median(values):7.0f} MB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50, help="launches per variant (median reported)")
    parser.add_argument("--write-mb", type=int, default=800, help="MiB written by the write-speed test (0: skip)")
    args = parser.parse_args()
    runs = args.runs
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "trivial.py"
        script.write_text("pass\n")
        variants = {"plain subprocess": lambda: run_plain(script)}
        for mode in ("auto", "watchdog"):
            sandbox = Sandbox(SandboxConfig(timeout_s=60, enforce=mode))
            variants[f"sandboxed, {mode}"] = lambda s=sandbox, m=mode: run_in(s, script, Path(tmp) / m)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(runs + 2):  # round-robin, so load on a shared host hits every variant alike
            for name, launch in variants.items():
                start = time.perf_counter()
                launch()
                if round_ >= 2:  # the first rounds warm the page cache
                    times[name].append(time.perf_counter() - start)
        probe = Sandbox(SandboxConfig(timeout_s=60)).run(script, Path(tmp) / "probe")
        if args.write_mb:
            write_speed(Path(tmp), args.write_mb, rounds=3)
    plain = statistics.median(times["plain subprocess"])
    print(f"runs per variant            {runs}")
    for name, values in times.items():
        median = statistics.median(values)
        extra = f"   overhead {(median - plain) * 1000:7.1f} ms" if name != "plain subprocess" else ""
        print(f"{name:18s} median  {median * 1000:7.1f} ms{extra}")
    print("auto enforcement here:     ", "; ".join(f"{k}: {v}" for k, v in probe.enforcement.items()))


if __name__ == "__main__":
    main()
