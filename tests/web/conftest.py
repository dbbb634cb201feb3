"""Browser fixtures: Debian's headless Chromium (driven by Playwright) and a ``--web`` server.

The browser is Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it); Playwright's
own browser downloads are never used. Browser tests are skipped only when Chromium is
missing and ``CI`` is not set: on CI they must run. Screenshots go to
``artifacts/web/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import REPO
from support.web import TOKEN, WebServer, start_web_server, stop_web_server

ARTIFACTS = REPO / "artifacts" / "web"
CHROMIUM = os.environ.get("WSEP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_available() -> bool:
    return shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _browser_available() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """``python -m wsep_server --web`` on a free port, for the whole module."""
    server = start_web_server(tmp_path_factory.mktemp("web-cwd"))
    try:
        yield server
    finally:
        stop_web_server(server)


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[WebServer]:
    """A ``--web`` server that wants the bearer token in ``WSEP_TOKEN`` (see TOKEN)."""
    server = start_web_server(tmp_path, env={"WSEP_TOKEN": TOKEN})
    try:
        yield server
    finally:
        stop_web_server(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 900, "height": 480})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
