"""Errors a script can act on: refused, handshake, auth, start failure, lost connection."""

from __future__ import annotations

import asyncio
import socket

import pytest
import wsep_client
from wsep_client import (
    AuthenticationError,
    ConnectError,
    ConnectionLost,
    NotSupported,
    StartFailed,
)
from wsep_protocol import LocalProtocolError, ProtocolVersion, StartErrorKind, WsepError

pytestmark = pytest.mark.usefixtures("no_leaked_children")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_connection_refused() -> None:
    url = f"ws://127.0.0.1:{_closed_port()}/"
    async with wsep_client.connect(url, check=False) as remote:
        with pytest.raises(ConnectError, match="connection refused") as info:
            await remote.run("true")
    assert info.value.status is None
    assert isinstance(info.value, WsepError)


async def test_handshake_failed_on_a_non_wsep_path(make_server) -> None:
    url = await make_server(path="/wsep")
    async with wsep_client.connect(url.replace("/wsep", "/elsewhere"), check=False) as remote:
        with pytest.raises(ConnectError, match="HTTP 404") as info:
            await remote.run("true")
    assert info.value.status == 404
    assert not isinstance(info.value, AuthenticationError)


@pytest.mark.parametrize(
    ("client", "server", "works"),
    [
        (ProtocolVersion.V2, (ProtocolVersion.V1,), True),  # offers wsep.v2 and wsep.v1
        (ProtocolVersion.V1, (ProtocolVersion.V2,), False),  # offers nothing, like Go
        (ProtocolVersion.V2, (ProtocolVersion.V2,), True),
    ],
)
async def test_version_offers_against_servers_of_one_version(
    make_server, client: ProtocolVersion, server: tuple[ProtocolVersion, ...], works: bool
) -> None:
    url = await make_server(versions=server)
    if works:
        async with wsep_client.connect(url, version=client) as remote:
            result = await remote.run("echo", "ok")
        assert result.stdout == b"ok\n"
        return
    # connect() opens one WebSocket to check the URL and credentials: the refusal comes there.
    with pytest.raises(ConnectError, match=r"HTTP 400.*speaks only wsep\.v2") as info:
        async with wsep_client.connect(url, version=client):
            pass
    assert info.value.status == 400


@pytest.fixture
async def auth_url(make_server) -> str:
    from wsep_server.auth import StaticTokenAuthenticator, security_middlewares

    auth = StaticTokenAuthenticator(plain=[("alice", "s3cret-token-0123456789")])
    return await make_server(middlewares=security_middlewares([auth]))


async def test_token_is_sent_as_bearer_header(auth_url: str) -> None:
    async with wsep_client.connect(auth_url, token="s3cret-token-0123456789") as remote:
        result = await remote.run("echo", "in")
    assert result.stdout == b"in\n"


async def test_authentication_rejected_carries_the_servers_message(auth_url: str) -> None:
    for token in (None, "wrong-token"):
        async with wsep_client.connect(auth_url, token=token, check=False) as remote:
            with pytest.raises(AuthenticationError) as info:
                await remote.run("true")
        err = info.value
        assert err.status == 401
        assert isinstance(err, ConnectError)
        assert err.detail, "the server's reason must be passed on"
        assert err.detail in str(err)


async def test_command_not_found_carries_the_reason(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        with pytest.raises(StartFailed) as info:
            await remote.create_process("/nonexistent/wsep-tool")
    assert info.value.kind is StartErrorKind.COMMAND_NOT_FOUND
    assert "/nonexistent/wsep-tool" in str(info.value)


async def test_bad_working_directory(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        with pytest.raises(StartFailed) as info:
            await remote.run("true", cwd="/nonexistent-dir-wsep")
    assert info.value.kind is StartErrorKind.NO_SUCH_DIRECTORY


async def test_connection_lost_mid_run_raises_promptly(proxy) -> None:
    url = f"ws://127.0.0.1:{proxy.port}/"
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("sh", "-c", "echo up; exec sleep 60")
        assert await proc.stdout.readline() == b"up\n"
        proxy.cut()
        with pytest.raises(ConnectionLost):
            await asyncio.wait_for(proc.wait(), 10)
        with pytest.raises(ConnectionLost):
            await asyncio.wait_for(proc.stdout.read(), 10)
        with pytest.raises((ConnectionLost, BrokenPipeError)):
            proc.stdin.write(b"x")
        await proc.close()


async def test_signals_against_v1_are_a_clear_error(v1_url: str) -> None:
    async with wsep_client.connect(v1_url) as remote:
        proc = await remote.create_process("sh", "-c", "echo up; exec sleep 60")
        assert proc.protocol_version == 1
        assert await proc.stdout.readline() == b"up\n"
        with pytest.raises(NotSupported, match="v2"):
            await proc.terminate()
        await proc.close()  # ends the process on any version
        with pytest.raises(ConnectionLost):
            await proc.wait()


async def test_stdin_not_enabled(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("true", stdin=False)
        with pytest.raises(LocalProtocolError):
            proc.stdin.write(b"x")
        assert await proc.wait() == 0
        await proc.close()


async def test_write_after_exit_is_a_broken_pipe(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        proc = await remote.create_process("true")
        await proc.wait()
        with pytest.raises(BrokenPipeError):
            proc.stdin.write(b"late")
        await proc.close()


async def test_connection_lost_while_output_is_unread(proxy) -> None:
    """Reading is paused on a full buffer; the loss still ends wait() (it never hangs)."""
    url = f"ws://127.0.0.1:{proxy.port}/"
    async with wsep_client.connect(url, limit=64 * 1024) as remote:
        proc = await remote.create_process("yes", stdin=False)
        await asyncio.wait_for(proc._gate.paused.wait(), 30)
        proxy.cut()
        with pytest.raises(ConnectionLost):
            await asyncio.wait_for(proc.wait(), 10)
        await proc.close()
