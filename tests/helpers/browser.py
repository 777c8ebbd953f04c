"""A real headless Chromium driven over the DevTools protocol (a websocket, no extra browser driver):
open a page, collect console messages, exceptions and every network request, read element boxes,
and take a full-page screenshot. Used by the report tests (tests/jobs/test_report.py)."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers.processes import stop

# The flags that keep Chromium off the closed network and working as root without a sandbox.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*"]


def find_chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


@dataclass
class PageVisit:
    console: list[dict[str, Any]] = field(default_factory=list)  # Runtime.consoleAPICalled / Log.entryAdded
    exceptions: list[dict[str, Any]] = field(default_factory=list)  # Runtime.exceptionThrown
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    boxes: list[dict[str, Any]] = field(default_factory=list)  # {kind, x, y, width, height} per selected element
    screenshot: bytes = b""  # PNG of the whole page

    @property
    def errors(self) -> list[str]:
        out = [json.dumps(e.get("exceptionDetails", e))[:500] for e in self.exceptions]
        out += [json.dumps(m)[:500] for m in self.console if m.get("level") in ("error", "warning")
                or m.get("type") in ("error", "warning", "assert")]
        return out


class _Session:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))



def visit(chromium: str, url: str, selector: str, width: int = 1280) -> PageVisit:
    """Load url in a fresh headless Chromium (own profile dir), then box every element matching selector."""
    from websockets.sync.client import connect

    profile = Path(tempfile.mkdtemp(prefix="lc-chromium-"))
    proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},900",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = _devtools_port(profile, proc)
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
        page = next(t for t in targets if t.get("type") == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            return _visit(_Session(ws), url, selector, width)
    finally:
        stop(proc, timeout_s=20)
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(profile: Path, proc: subprocess.Popen) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode} before opening DevTools")
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        time.sleep(0.2)
    raise RuntimeError("chromium did not open its DevTools port within 60 s")


def _visit(s: _Session, url: str, selector: str, width: int) -> PageVisit:
    for domain in ("Page", "Runtime", "Log", "Network"):
        s.call(f"{domain}.enable")
    s.call("Page.navigate", url=url)
    s.wait_for("Page.loadEventFired")
    boxes = json.loads(s.call("Runtime.evaluate", returnByValue=True, expression=f"""JSON.stringify(
        [...document.querySelectorAll({json.dumps(selector)})].map(e => {{ const r = e.getBoundingClientRect();
          return {{kind: e.dataset.plot || e.tagName, x: r.x + scrollX, y: r.y + scrollY,
                   width: r.width, height: r.height}}; }}))""")["result"]["value"])
    height = s.call("Runtime.evaluate", returnByValue=True,
                    expression="document.documentElement.scrollHeight")["result"]["value"]
    s.call("Emulation.setDeviceMetricsOverride", width=width, height=int(height), deviceScaleFactor=1, mobile=False)
    shot = s.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, timeout=120)
    visit = PageVisit(boxes=boxes, screenshot=base64.b64decode(shot["data"]))
    for e in s.events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled":
            visit.console.append({"type": params.get("type"), "args": params.get("args")})
        elif method == "Log.entryAdded":
            visit.console.append(params.get("entry", {}))
        elif method == "Runtime.exceptionThrown":
            visit.exceptions.append(params)
        elif method == "Network.requestWillBeSent":
            visit.requests.append(params.get("request", {}).get("url", ""))
    return visit
