"""How the web terminal fails, in Chromium against real servers: a wrong or missing
token prompts instead of retrying forever, a foreign origin is named, a server restart
is waited out with a countdown and a lost session is said to be lost. The status bar
only ever shows short human messages.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.web import (
    SHELL_PARAMS,
    TOKEN,
    WAIT_MS,
    WebServer,
    confirm_run,
    start_web_server,
    stop_web_server,
    wait_prompt,
    wait_state,
)
from support.wire import free_port

pytestmark = [pytest.mark.browser, pytest.mark.once]

#: What must never reach the status bar: exception names, errno text, tracebacks.
RAW = re.compile(r"Error\b|Errno|Traceback|Exception|\[\w+\]|errno", re.I)


def status(page: Any) -> str:
    text = str(page.inner_text("#status-text"))
    assert not RAW.search(text), f"raw error text in the status bar: {text!r}"
    return text


def shell_pid(page: Any) -> str:
    page.keyboard.type("echo pid=$$")
    page.keyboard.press("Enter")
    handle = page.wait_for_function(
        "() => { const m = /pid=(\\d+)/.exec(document.querySelector('.xterm-rows').innerText);"
        " return m ? m[1] : null; }",
        timeout=WAIT_MS,
    )
    return str(handle.json_value())


def test_wrong_token_prompts_and_does_not_retry(page: Any, token_server: WebServer) -> None:
    page.goto(token_server.page_url([*SHELL_PARAMS, ("token", "wrong-token-0123456789")]))
    wait_state(page, "token")
    assert status(page) == "token refused"
    assert page.is_visible("#token-input")
    # It asked over HTTP and stopped there: no WebSocket was opened, none is scheduled.
    assert page.evaluate("() => window.wsepApp.connections") == 0
    assert page.evaluate("() => window.wsepApp.retryAt") == 0
    page.fill("#token-input", TOKEN)
    page.press("#token-input", "Enter")
    confirm_run(page)
    wait_state(page, "running")
    wait_prompt(page)


def test_session_address_in_a_new_tab_prompts_then_reattaches(
    page: Any, token_server: WebServer
) -> None:
    page.goto(token_server.page_url([*SHELL_PARAMS, ("token", TOKEN)]))
    confirm_run(page)
    wait_state(page, "running")
    wait_prompt(page)
    pid = shell_pid(page)
    address = page.url
    assert TOKEN not in address

    tab = page.context.new_page()  # a new tab has its own sessionStorage: no token
    tab.goto(address)
    wait_state(tab, "token")
    assert status(tab) == "this server needs a token"
    assert tab.evaluate("() => window.wsepApp.connections") == 0
    tab.fill("#token-input", TOKEN)
    tab.press("#token-input", "Enter")
    # The session exists: reattaching starts nothing, so no confirmation is asked.
    wait_state(tab, "running")
    wait_prompt(tab)
    assert shell_pid(tab) == pid
    tab.keyboard.type("exit")
    tab.keyboard.press("Enter")
    wait_state(tab, "exited")


class HostRewritingProxy:
    """A reverse proxy that forwards plain HTTP with its own Host: a classic
    misconfiguration, which makes the browser's Origin differ from what the server sees."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)

    async def _start(self) -> str:
        import aiohttp
        from aiohttp import web

        self.client = aiohttp.ClientSession(auto_decompress=False)

        async def forward(request: web.Request) -> web.Response:
            headers = {
                k: v
                for k, v in request.headers.items()
                if k.lower() not in ("host", "content-length", "connection")
            }
            async with self.client.request(
                request.method,
                self.target + request.path_qs,
                headers=headers,
                data=await request.read(),
            ) as resp:
                body = await resp.read()
                keep = {
                    k: v
                    for k, v in resp.headers.items()
                    if k.lower() not in ("content-length", "transfer-encoding", "connection")
                }
                return web.Response(status=resp.status, body=body, headers=keep)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    def close(self) -> None:
        async def stop() -> None:
            await self.client.close()
            await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


def test_foreign_origin_is_named(page: Any, web_server: WebServer) -> None:
    proxy = HostRewritingProxy(web_server.http_url)
    try:
        page.goto(proxy.url + "/")
        wait_state(page, "failed")
        assert status(page) == "origin not allowed"
        assert page.evaluate("() => window.wsepApp.connections") == 0
        assert page.evaluate("() => window.wsepApp.retryAt") == 0
    finally:
        proxy.close()


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = free_port()
    handle: dict[str, Any] = {
        "port": port,
        "server": start_web_server(tmp_path, "--port", str(port)),
    }
    try:
        yield handle
    finally:
        if handle["server"] is not None:
            stop_web_server(handle["server"])


def test_server_restart_counts_down_then_says_the_session_is_gone(
    page: Any, restartable: dict[str, Any], tmp_path: Path
) -> None:
    server = restartable["server"]
    page.goto(server.page_url())
    confirm_run(page)
    wait_state(page, "running")
    wait_prompt(page)

    stop_web_server(server)
    restartable["server"] = None
    wait_state(page, "disconnected")
    page.wait_for_function(
        "() => /reconnecting in \\d+ s/.test(document.getElementById('status-text').textContent)",
        timeout=WAIT_MS,
    )
    text = status(page)
    assert text.split(" — ")[0] in (
        "the server is shutting down",
        "server unreachable",
        "the connection was lost",
    ), text
    # Wait until it has failed at least once against the stopped server, with a countdown.
    page.wait_for_function(
        "() => window.wsepApp.state === 'disconnected' &&"
        " window.wsepApp.message.startsWith('server unreachable')",
        timeout=WAIT_MS * 3,
    )
    status(page)

    restartable["server"] = start_web_server(tmp_path, "--port", str(restartable["port"]))
    page.wait_for_function("() => window.wsepApp.state === 'ended'", timeout=WAIT_MS * 3)
    assert status(page).startswith("the session has ended")
    assert page.is_visible("#status-action")
    page.click("#status-action")  # New session
    wait_state(page, "running")
    wait_prompt(page)
