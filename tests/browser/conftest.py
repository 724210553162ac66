"""The console in a real browser: the web process under uvicorn, Debian's chromium driven by
Playwright (its Python package ships the driver; the browser is the system's, through
``executable_path``), and a screenshot of every page into tests/artifacts/console/."""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.support.harness import ROOT, Harness, wait_until

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The worker applies a decision within milliseconds on an idle machine; a shared, busy one
# (two cores, several test runs) may take seconds.
expect.set_options(timeout=20_000)
ARTIFACTS = ROOT / "tests" / "artifacts" / "console"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# Module scope: Playwright's sync API keeps an event loop running on this thread while it is
# open, and tests elsewhere call asyncio.run, which refuses to start inside a running one.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: run `bash scripts/chromium.sh` (as root it installs "
            "Debian's chromium) or set CHROMIUM_PATH",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield browser
        browser.close()


@pytest.fixture
def console_url(harness: Harness) -> str:
    """The web process, started as the Procfile starts it, on a port of this test's own, with
    a worker and the relay that apply the reviewers' actions."""
    harness.start_worker()
    harness.start_relay()
    port = _free_port()
    web = harness.start(
        "web",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.app:app_factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if web.popen.poll() is not None:
            raise AssertionError(f"the web process exited:\n{web.log()[-4000:]}")
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, timeout=30, what="the web process to answer")
    return base


class Screens:
    """Screenshots named after the test and the step, for a person to look at."""

    def __init__(self, test_name: str) -> None:
        self.prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name)[:60]
        self.count = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(self, page: Page, step: str) -> Path:
        self.count += 1
        path = ARTIFACTS / f"{self.prefix}-{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screens(request: pytest.FixtureRequest) -> Screens:
    return Screens(request.node.name)


def new_context(chromium: Browser, base: str) -> BrowserContext:
    context = chromium.new_context(base_url=base, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(15_000)
    return context


def sign_in(page: Page, reviewer_id: str, *, role: str = "reviewer") -> None:
    page.goto("/console")
    page.get_by_test_id("reviewer-id").fill(reviewer_id)
    page.get_by_test_id("role").select_option(role)
    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("signed-in-as").wait_for()
