"""Fixtures of the explorer's tests: the page served by ``dmtpk explore`` in a subprocess, and a
headless Chromium driven by Playwright.

The browser tests need Panel (``pip install "dmtpk[explore]"``), Playwright's Python package and
a Chromium on the machine (``/usr/bin/chromium``, Debian's ``chromium`` package, which
``.ci/run`` installs when missing; or ``DMTPK_CHROMIUM``). Where one is missing they are
skipped, saying which.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("DMTPK_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def explorer_url():
    """The address printed by ``dmtpk explore`` (a subprocess, stopped at the end)."""
    pytest.importorskip("panel", reason='the explorer needs Panel: pip install "dmtpk[explore]"')
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "dmtpk", "explore", "eckernas2022"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=120)
    except queue.Empty:
        proc.kill()
        pytest.fail("dmtpk explore printed no address within 120 s")
    match = re.search(r"(http://127\.0\.0\.1:\d+/)", first)
    assert match, f"dmtpk explore printed {first!r}"
    yield match.group(1)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
        proc.wait()
    proc.stdout.close()


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="browser tests need Playwright: pip install playwright")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium; or set "
                    "DMTPK_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, explorer_url):
    """A fresh page of the explorer, loaded (the metrics table shown)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    pg.goto(explorer_url)
    pg.locator(".metric-cmax").wait_for(timeout=60_000)
    yield pg
    context.close()
