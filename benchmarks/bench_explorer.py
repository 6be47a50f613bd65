"""The explorer's response time, end to end in a real browser, against the computation alone.

Workloads, on the page of ``dmtpk explore eckernas2022`` (a subprocess) in headless Chromium
(Playwright, Debian's ``/usr/bin/chromium`` or ``DMTPK_CHROMIUM``):

1. one subject: the dose typed into its box, timed in the page (``performance.now()``) from the
   change event to the new Cmax shown; target under 100 ms;
2. 1,000 subjects (population switch on): the same, to the new share of subjects above the
   threshold; target under 1 s.

Baseline, the same view computed in this process without any web library
(:func:`dmtpk.explorer.compute.explore_view`), so the ratio is what the page, the websocket and
the browser's drawing add to dmtpk's own work. Each figure is the median of ``REPEATS`` changes
after two warm-up changes.

Run: ``python benchmarks/bench_explorer.py`` (about 30 s).
"""

from __future__ import annotations

import platform
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "explorer"))

from conftest import CHROMIUM_FLAGS, chromium_path  # noqa: E402
from test_page import _CHANGE_AND_WAIT  # noqa: E402

from dmtpk.explorer.compute import Controls, explore_view  # noqa: E402

REPEATS = 15
DOSES = [20.0 + 0.5 * k for k in range(REPEATS + 2)]


def _in_page(page, box_class, watch_class, values) -> list[float]:
    out = []
    for v in values:
        box = page.locator(f".{box_class} input").first.element_handle()
        cell = page.locator(f".{watch_class}").first.element_handle()
        out.append(page.evaluate(_CHANGE_AND_WAIT, [box, cell, str(v)]))
    return out[2:]


def _computation(population: bool) -> list[float]:
    out = []
    for v in DOSES:
        c = Controls(dose=v + (0.25 if population else 0.0), population=population)
        t = time.perf_counter()
        explore_view(c)
        out.append((time.perf_counter() - t) * 1e3)
    return out[2:]


def main() -> None:
    from playwright.sync_api import sync_playwright
    path = chromium_path()
    if path is None:
        sys.exit("no Chromium: apt-get install chromium, or set DMTPK_CHROMIUM")
    proc = subprocess.Popen([sys.executable, "-m", "dmtpk", "explore", "eckernas2022"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    url = re.search(r"(http://\S+)", lines.get(timeout=120)).group(1)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.locator(".metric-cmax").wait_for(timeout=60_000)
            one = _in_page(page, "dmtpk-dose", "metric-cmax", DOSES)
            page.locator(".dmtpk-population").first.click()
            page.locator(".share-intensity").wait_for(timeout=60_000)
            many = _in_page(page, "dmtpk-dose", "share-intensity", [d + 0.25 for d in DOSES])
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()
    base_one, base_many = _computation(False), _computation(True)
    print(f"machine: {platform.machine()}, {platform.processor() or platform.platform()}; "
          f"python {platform.python_version()}; {time.strftime('%Y-%m-%d')}")
    for label, page_ms, base_ms, target in (("one subject", one, base_one, 100),
                                           ("1,000 subjects", many, base_many, 1000)):
        if min(page_ms) < 0:
            print(f"{label}: a change did not reach the page within 20 s")
            continue
        m, b = statistics.median(page_ms), statistics.median(base_ms)
        print(f"{label:15s} page {m:7.1f} ms (min {min(page_ms):.1f}, max {max(page_ms):.1f}; "
              f"target {target} ms)  computation alone {b:7.1f} ms  ratio {m / b:5.2f}")


if __name__ == "__main__":
    main()
