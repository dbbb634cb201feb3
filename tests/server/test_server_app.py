"""The application, the CLI and shutdown: healthz, mounting, options, SIGTERM, logs, execers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from support.proc import wait_until_gone
from support.rawws import RawWebSocket
from support.wire import collect, header, run, start_bytes
from wsep_protocol import SUBPROTOCOL_V2

MakeServer = Callable[..., Awaitable[str]]
HERE = os.path.dirname(os.path.abspath(__file__))


async def test_healthz_and_plain_http(wsep_server: str) -> None:
    http_url = wsep_server.replace("ws://", "http://")
    async with aiohttp.ClientSession() as http:
        async with http.get(http_url + "healthz") as r:
            assert r.status == 200
            assert await r.json() == {"status": "ok"}
        async with http.get(http_url) as r:
            assert r.status == 426
            assert "WebSocket" in await r.text()


async def test_deflate_declined_by_default_accepted_with_compress(make_server: MakeServer) -> None:
    from wsep_server import ServerConfig

    offer = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"
    url = await make_server()
    ws = await RawWebSocket.connect(url, extensions=offer)
    assert "sec-websocket-extensions" not in ws.headers
    await ws.aclose()
    url = await make_server(config=ServerConfig(compress=True))
    ws = await RawWebSocket.connect(url, extensions=offer)
    assert "permessage-deflate" in ws.headers["sec-websocket-extensions"]
    await ws.aclose()
    async with aiohttp.ClientSession() as http, http.ws_connect(url, compress=15) as cws:
        await cws.send_bytes(start_bytes("echo", "compressed"))
        msgs = [(await cws.receive()).data for _ in range(3)]
    assert msgs[1] == b'{"type":"stdout"}\ncompressed\n'


async def test_mount_handler_in_own_app(make_server: MakeServer) -> None:
    from wsep_server import WsepHandler
    from wsep_server.local import LocalExecer

    def my_app(**kwargs: Any) -> web.Application:
        app = web.Application()
        handler = WsepHandler(execer=LocalExecer(), log_connections=False)
        app.router.add_get("/tools/exec", handler.handle)
        app.on_shutdown.append(handler.on_shutdown)
        return app

    url = await make_server(app_factory=my_app, path="/tools/exec")
    res = await run(url, "echo", "mounted")
    assert res.stdout == b"mounted\n"


async def test_custom_path(make_server: MakeServer) -> None:
    url = await make_server(path="/wsep")
    assert url.endswith("/wsep")
    assert (await run(url, "true")).exit is not None


async def test_pluggable_execer_from_python(make_server: MakeServer) -> None:
    from example_execer import ExampleExecer

    url = await make_server(execer=ExampleExecer(prefix="plugged"))
    res = await run(url, "sh", "-c", "echo $WSEP_EXECER; cat", input=b"in")
    assert res.stdout == b"plugged\nin"


def test_load_execer() -> None:
    from wsep_server import load_execer

    sys.path.insert(0, HERE)
    try:
        execer = load_execer("example_execer:ExampleExecer")
        assert type(execer).__name__ == "ExampleExecer"
        with pytest.raises(ValueError, match=r"package\.module:factory"):
            load_execer("example_execer")
        with pytest.raises(TypeError):
            load_execer("os:getcwd")
    finally:
        sys.path.remove(HERE)


def test_cli_options_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsep_server.cli import parse_args

    monkeypatch.setenv("WSEP_PORT", "9999")
    monkeypatch.setenv("WSEP_COMPRESS", "true")
    monkeypatch.setenv("WSEP_LOG_FORMAT", "json")
    monkeypatch.setenv("WSEP_GRACE_PERIOD", "1.5")
    opts = parse_args([])
    assert (opts.host, opts.port, opts.compress, opts.log_format) == (
        "127.0.0.1",
        9999,
        True,
        "json",
    )
    assert opts.grace_period == 1.5
    opts = parse_args(["--port", "1", "--no-compress", "--heartbeat", "0"])
    assert (opts.port, opts.compress, opts.heartbeat) == (1, False, None)
    with pytest.raises(SystemExit):
        parse_args(["--tls-cert", "x.pem"])


def test_cli_help_is_quick() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wsep_server", "--help"], capture_output=True, check=True, timeout=60
    )
    assert b"--unix-socket" in out.stdout
    assert b"WSEP_GRACE_PERIOD" in out.stdout


async def test_sigterm_ends_running_sessions(start_server_process: Any) -> None:
    srv = start_server_process("--log-format", "json", "--grace-period", "3")
    sockets = []
    pids = []
    for protos in ((), (SUBPROTOCOL_V2,)):
        ws = await RawWebSocket.connect(srv.url, subprotocols=protos)
        await ws.send_message(start_bytes("sh", "-c", "trap '' TERM HUP; sleep 60 & wait"))
        _, msg = await ws.recv_message()
        pids.append(int(header(msg)["pid"]))  # type: ignore[call-overload]
        sockets.append(ws)
    srv.proc.send_signal(signal.SIGTERM)
    for ws in sockets:
        res = await collect(ws, until_exit=False)
        assert res.close == (1001, "server shutting down")
    assert sockets[1] is not None
    code = await asyncio.to_thread(srv.proc.wait, 30)
    assert code == 0
    for pid in pids:
        assert await wait_until_gone(pid) == []
    records = [json.loads(line) for line in srv.output().splitlines() if line.startswith("{")]
    sessions = [r for r in records if r.get("msg") == "session"]
    assert len(sessions) == 2
    assert {r["end_reason"] for r in sessions} == {"server shutdown"}
    assert all(r["pid"] in pids and r["peer"].startswith("127.0.0.1:") for r in sessions)


async def test_session_timeout_flag(
    start_server_process: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--session-timeout (WSEP_SESSION_TIMEOUT) bounds how long a detached session lives."""
    from wsep_server.cli import parse_args

    assert parse_args([]).session_timeout == 300.0
    monkeypatch.setenv("WSEP_SESSION_TIMEOUT", "12")
    assert parse_args([]).session_timeout == 12.0
    assert parse_args(["--session-timeout", "7"]).session_timeout == 7.0
    monkeypatch.delenv("WSEP_SESSION_TIMEOUT")
    srv = start_server_process("--session-timeout", "0.5")
    ws = await RawWebSocket.connect(srv.url)
    await ws.send_message(start_bytes("sleep", "60", tty=True, id="detached"))
    _, msg = await ws.recv_message()
    pid = int(header(msg)["pid"])  # type: ignore[call-overload]
    await ws.aclose()  # detached: lives for the session timeout, then is hung up
    assert await wait_until_gone(pid, timeout=15.0) == []


async def test_session_log_record(start_server_process: Any) -> None:
    srv = start_server_process("--log-format", "json")
    res = await run(srv.url, "sh", "-c", "cat; exit 2", input=b"abc")
    assert res.exit is not None
    assert srv.stop() == 0
    records = [json.loads(line) for line in srv.output().splitlines() if line.startswith("{")]
    (rec,) = [r for r in records if r.get("msg") == "session"]
    assert rec["argv"] == ["sh", "-c", "cat; exit 2"]
    assert rec["pid"] == res.pid
    assert rec["exit_code"] == 2
    assert rec["exit"] == "exit status 2"
    assert (rec["bytes_in"], rec["bytes_out"]) == (3, 3)
    assert rec["duration"] >= 0
    assert rec["end_reason"] == "exited"


async def test_execer_flag(start_server_process: Any) -> None:
    srv = start_server_process("--execer", "example_execer:ExampleExecer", env={"PYTHONPATH": HERE})
    res = await run(srv.url, "sh", "-c", "echo $WSEP_EXECER")
    assert res.stdout == b"example\n"


def test_bad_execer_flag_fails_cleanly() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wsep_server", "--port", "0", "--execer", "no_such_mod:x"],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert b"no_such_mod" in out.stderr


async def test_unix_socket(socket_dir: Any, start_server_process: Any) -> None:
    path = str(socket_dir / "wsep.sock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsep_server", "--unix-socket", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        assert path.encode() in line
        conn = aiohttp.UnixConnector(path=path)
        async with (
            aiohttp.ClientSession(connector=conn) as http,
            http.ws_connect("http://localhost/") as ws,
        ):
            await ws.send_bytes(start_bytes("echo", "unix"))
            msgs = [(await ws.receive()).data for _ in range(3)]
        assert msgs[1] == b'{"type":"stdout"}\nunix\n'
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        for s in (proc.stdout, proc.stderr):
            if s is not None:
                s.close()


async def test_tls(tmp_path: Any, start_server_process: Any) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    srv = start_server_process(
        "--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem")
    )
    assert srv.url.startswith("wss://127.0.0.1:")
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    async with aiohttp.ClientSession() as http, http.ws_connect(srv.url, ssl=ctx) as ws:
        await ws.send_bytes(start_bytes("echo", "secure"))
        msgs = [(await ws.receive()).data for _ in range(3)]
    assert msgs[1] == b'{"type":"stdout"}\nsecure\n'
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(srv.http_url + "/healthz", timeout=5)  # untrusted certificate


async def test_sigint_ends_running_session(start_server_process: Any) -> None:
    srv = start_server_process()
    ws = await RawWebSocket.connect(srv.url)
    await ws.send_message(start_bytes("sleep", "60"))
    _, msg = await ws.recv_message()
    pid = int(header(msg)["pid"])  # type: ignore[call-overload]
    srv.proc.send_signal(signal.SIGINT)
    res = await collect(ws, until_exit=False)
    assert res.close == (1001, "server shutting down")
    assert await asyncio.to_thread(srv.proc.wait, 30) == 0
    assert await wait_until_gone(pid) == []
    http_down = srv.http_url + "/healthz"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(http_down, timeout=5)


def test_app_setup_raises_no_aiohttp_warnings() -> None:
    """No bare route handler, and the identity key is a RequestKey where aiohttp has it."""
    import warnings

    from wsep_server import IDENTITY_KEY, create_app
    from wsep_server.local import LocalExecer

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app = create_app(execer=LocalExecer(), log_connections=False)
    assert all(asyncio.iscoroutinefunction(route.handler) for route in app.router.routes()), (
        "a bare (non-async) route handler makes aiohttp warn"
    )
    if hasattr(web, "RequestKey"):
        assert isinstance(IDENTITY_KEY, web.RequestKey)


async def test_cleanup_closes_a_chained_remote_execer(wsep_server: str) -> None:
    """A server chaining to another through RemoteExecer closes it on cleanup."""
    from wsep_client import RemoteExecer
    from wsep_server import create_app

    execer = RemoteExecer(wsep_server)
    app = create_app(execer=execer, log_connections=False)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=10.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        res = await run(f"ws://127.0.0.1:{port}/", "echo", "chained")
        assert res.stdout == b"chained\n"
        session = execer._http_session
        assert session is not None
        assert not session.closed
    finally:
        await runner.cleanup()
    assert session.closed
    assert execer._http_session is None


def test_unix_socket_path_too_long_is_refused_by_name() -> None:
    path = "/tmp/" + "x" * 120 + ".sock"
    out = subprocess.run(
        [sys.executable, "-m", "wsep_server", "--unix-socket", path, "--insecure-no-auth"],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert path.encode() in out.stderr
    assert b"at most 107" in out.stderr
    assert b"Traceback" not in out.stderr
