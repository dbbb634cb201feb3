"""The SDK behaves like asyncio.subprocess (and asyncssh) where they overlap."""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Any

import pytest
import wsep_client
from wsep_client import (
    AuthenticationError,
    ClientError,
    CompletedProcess,
    ConnectError,
    InvalidURL,
    LocalProtocolError,
    NoSuchSession,
    ProcessError,
)
from wsep_protocol import ExitStatus
from wsep_server import RunLimits, StartDecision, StartRequest

pytestmark = pytest.mark.usefixtures("no_leaked_children")

TOKEN = "sdk-token-0123456789abcdef"


async def _secured(make_server) -> str:  # type: ignore[no-untyped-def]
    from wsep_server.auth import StaticTokenAuthenticator, security_middlewares

    auth = StaticTokenAuthenticator(plain=[("sdk", TOKEN)])
    return str(await make_server(middlewares=security_middlewares([auth])))


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_terminate_is_a_plain_call(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("sh", "-c", "echo ready; exec sleep 60")
        assert await proc.stdout.readline() == b"ready\n"
        proc.terminate()  # not awaited, as with asyncio.subprocess
        assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGTERM
        assert proc.returncode == -signal.SIGTERM
        assert proc.exit_status == ExitStatus(-1, signal.SIGTERM)
        await proc.close()


async def test_kill_and_send_signal_can_also_be_awaited(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("sh", "-c", "echo ready; exec sleep 60")
        assert await proc.stdout.readline() == b"ready\n"
        await proc.send_signal(signal.SIGUSR1)  # awaited: sent when this returns
        assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGUSR1
        await proc.close()
        proc = await remote.create_process("sh", "-c", "trap '' TERM; echo ready; exec sleep 60")
        assert await proc.stdout.readline() == b"ready\n"
        proc.terminate()  # ignored
        proc.kill()  # sent after it, in order
        assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGKILL
        await proc.close()


async def test_signals_after_the_exit_do_nothing(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("true")
        assert await proc.wait() == 0
        proc.terminate()
        await proc.kill()
        await proc.close()


async def test_wait_returns_the_returncode_and_run_an_int(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("sh", "-c", "exit 5", stdin=False)
        code = await proc.wait()
        assert type(code) is int
        assert code == 5
        assert proc.exit_status == ExitStatus(5)
        await proc.close()
        result = await remote.run("sh", "-c", "exit 3")
    assert isinstance(result, CompletedProcess)
    assert type(result.returncode) is int
    assert result.returncode == 3
    assert not result.timed_out


async def test_text_mode(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        result = await remote.run(
            "sh", "-c", "cat; printf 'caf\\303\\251' >&2", input="hé\n", text=True
        )
        assert (result.stdout, result.stderr) == ("hé\n", "café")
        latin = await remote.run("printf", "\\351", encoding="latin-1")
        assert latin.stdout == "é"
        replaced = await remote.run("printf", "\\377", errors="replace")
        assert replaced.stdout == "\ufffd"
        with pytest.raises(UnicodeDecodeError):
            await remote.run("printf", "\\377", text=True)
        with pytest.raises(TypeError, match="text=True"):
            await remote.run("cat", input="str without text mode")
        raw = await remote.run("printf", "\\377")
    assert raw.stdout == b"\xff"


async def test_text_mode_processes(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process(
            "sh", "-c", "cat; printf 'caf\\303\\251\\n' >&2", text=True
        )
        assert isinstance(proc, wsep_client.TextProcess)
        proc.stdin.write("é" * 40_000 + "\n")  # splits across messages, mid-character too
        await proc.stdin.drain()
        assert await proc.stdout.readline() == "é" * 40_000 + "\n"
        proc.stdin.close()
        assert await proc.stdout.read() == ""
        assert [line async for line in proc.stderr] == ["café\n"]
        assert await proc.wait() == 0
        await proc.close()
        async with await remote.create_process("cat", encoding="latin-1") as latin:
            assert await latin.communicate("é") == ("é", "")
            assert latin.returncode == 0
        binary = await remote.create_process("true")
        assert isinstance(binary, wsep_client.RemoteProcess)
        await binary.wait()
        await binary.close()


async def test_a_list_is_a_command_and_wrong_types_fail_at_once(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        assert (await remote.run(["echo", "hi"])).stdout == b"hi\n"
        proc = await remote.create_process(["sh", "-c", "exit 4"])
        assert await proc.wait() == 4
        await proc.close()
        bad: list[tuple[Any, ...]] = [(["echo"], "x"), ("echo", 5), (b"echo",), ([],), (None,)]
        for args in bad:
            with pytest.raises((TypeError, ValueError)):
                await asyncio.wait_for(remote.run(*args), 5)


async def test_connect_is_awaitable_and_a_context_manager(url: str) -> None:
    remote = await wsep_client.connect(url)
    try:
        assert (await remote.run("echo", "a")).stdout == b"a\n"
    finally:
        await remote.close()
    async with wsep_client.connect(url) as remote:
        assert (await remote.run("echo", "b")).stdout == b"b\n"


async def test_connect_reads_the_environment(make_server, monkeypatch) -> None:
    secured = await _secured(make_server)
    monkeypatch.setenv("WSEP_URL", secured)
    monkeypatch.setenv("WSEP_TOKEN", TOKEN)
    async with wsep_client.connect() as remote:
        assert remote.url == secured
        assert (await remote.run("echo", "env")).stdout == b"env\n"
    monkeypatch.delenv("WSEP_URL")
    with pytest.raises(InvalidURL, match="WSEP_URL"):
        wsep_client.connect()


async def test_connect_fails_fast(make_server) -> None:
    secured = await _secured(make_server)
    with pytest.raises(AuthenticationError):
        await wsep_client.connect(secured, token="wrong")
    with pytest.raises(AuthenticationError):
        async with wsep_client.connect(secured, token="wrong"):
            pytest.fail("entered with a refused token")
    with pytest.raises(ConnectError, match="refused"):
        await wsep_client.connect(f"ws://127.0.0.1:{_unused_port()}/")
    for url in ("127.0.0.1:8080", "host", "ftp://host/", "ws://"):
        with pytest.raises(InvalidURL, match="scheme") as info:
            wsep_client.connect(url)  # before any await
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, ClientError)


async def test_a_policy_limit_is_reported_as_the_reason(make_server) -> None:
    from support.cli import one_line, wsep

    class Limited:
        async def decide(self, request: StartRequest) -> StartDecision:
            return StartDecision.allow(limits=RunLimits(max_duration=0.5))

    url = await make_server(policy=Limited())
    async with wsep_client.connect(url) as remote:
        result = await remote.run("sleep", "60")
        assert result.termination_reason is not None
        assert "duration" in result.termination_reason
        with pytest.raises(ProcessError, match="ended by the server") as info:
            await remote.run("sleep", "60", check=True)
        assert info.value.termination_reason == result.termination_reason
        proc = await remote.create_process("sleep", "60")
        await proc.wait()
        assert proc.termination_reason == result.termination_reason
        await proc.close()
        ordinary = await remote.run("sh", "-c", "kill -TERM $$")
        assert ordinary.termination_reason is None
    code, _, err = await wsep("run", "--url", url, "--", "sleep", "60")
    assert code == 128 + signal.SIGTERM
    assert "maximum duration" in one_line(err)


def test_every_client_error_is_a_client_error() -> None:
    import wsep_protocol
    from wsep_protocol.sessions import NoSuchSession as ProtocolNoSuchSession

    for name in wsep_client.__all__:
        value = getattr(wsep_client, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, ClientError), name
    assert issubclass(NoSuchSession, ProtocolNoSuchSession)
    assert issubclass(LocalProtocolError, wsep_protocol.LocalProtocolError)


async def test_raised_errors_are_client_errors(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        with pytest.raises(ClientError) as info:
            await remote.session_info("no-such-session")
        assert isinstance(info.value, NoSuchSession)
        proc = await remote.create_process("cat")
        proc.stdin.close()
        with pytest.raises(ClientError) as closed:
            proc.stdin.write(b"late")
        assert isinstance(closed.value, LocalProtocolError)
        await proc.wait()
        await proc.close()
