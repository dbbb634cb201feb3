"""v2 error codes become the client's exceptions by code, never by the message's words."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import wsep_client
from wsep_client import ConnectionLost, NoSuchSession, StartFailed, StartRefused
from wsep_client.remote_errors import connection_failure, start_failure
from wsep_protocol import (
    Command,
    Error,
    ErrorCode,
    PolicyViolation,
    ProtocolVersion,
    StartErrorKind,
    encode,
)

pytestmark = pytest.mark.usefixtures("no_leaked_children")

COMMAND = Command("tool")
# Words the old client read as a kind: none of them may decide it when a code is there.
MISLEADING = "not found: permission denied in working directory /x"


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_code_before_the_start_is_a_start_failure(code: ErrorCode) -> None:
    error = start_failure(COMMAND, Error(code.value, MISLEADING, 1011), 1011, "")
    assert isinstance(error, StartFailed)
    assert error.code == code.value
    assert error.kind is (code.start_error_kind or StartErrorKind.OTHER)
    assert isinstance(error, StartRefused) is (code is ErrorCode.POLICY_VIOLATION)
    assert isinstance(error, PolicyViolation) is (code is ErrorCode.POLICY_VIOLATION)
    assert error.error_code is code  # what a chaining server passes on
    assert "tool" in str(error)
    if code is not ErrorCode.COMMAND_NOT_FOUND:  # that one says "tool: command not found"
        assert MISLEADING in str(error)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_code_after_the_start_is_a_lost_connection(code: ErrorCode) -> None:
    error = connection_failure(Error(code.value, "why", 1008), 1008, "", what="lost")
    if code is ErrorCode.NO_SUCH_SESSION:
        assert isinstance(error, NoSuchSession)
        assert str(error) == "why"
    else:
        assert isinstance(error, ConnectionLost)
        assert str(error) == f"lost: {code.value}: why"
        assert error.remote_close_code == 1008


def test_a_code_from_a_newer_server_is_the_generic_error() -> None:
    error = start_failure(COMMAND, Error("quota_exhausted", MISLEADING), 1008, "")
    assert type(error) is StartFailed
    assert error.kind is StartErrorKind.OTHER
    assert error.code == "quota_exhausted"
    lost = connection_failure(Error("quota_exhausted", "later"), 1008, "", what="lost")
    assert type(lost) is ConnectionLost
    assert "quota_exhausted: later" in str(lost)


def test_a_v1_close_reason_is_still_read_for_the_kind() -> None:
    # v1 sends no error message: the close reason is all there is.
    error = start_failure(COMMAND, None, 1011, 'exec: "tool": executable file not found')
    assert error.kind is StartErrorKind.COMMAND_NOT_FOUND
    assert error.remote_close_code == 1011


# --- against real servers ------------------------------------------------------------------


async def test_a_policy_refusal_is_start_refused(make_server, tmp_path: Path) -> None:
    from wsep_server.policy import FilePolicy, parse_policy

    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    allowed.mkdir()
    elsewhere.mkdir()
    rules: dict[str, object] = {"working_dirs": [str(allowed)]}
    if os.geteuid() == 0:
        rules["uids"] = [0]  # the server's own user, when that is root
    policy = FilePolicy(parse_policy({"anonymous": rules}))
    url = await make_server(policy=policy)
    async with wsep_client.connect(url) as remote:
        assert (await remote.run("pwd", cwd=str(allowed))).stdout.strip() == str(allowed).encode()
        with pytest.raises(StartRefused) as info:
            await remote.run("pwd", cwd=str(elsewhere))
    error = info.value
    # The refusal says "working directory", which the words alone took for a missing one.
    assert "working directory" in str(error)
    assert error.kind is StartErrorKind.OTHER
    assert error.code == ErrorCode.POLICY_VIOLATION.value
    assert error.remote_close_code == 1008
    assert isinstance(error, PolicyViolation)


@pytest.mark.parametrize(
    ("argv", "cwd", "kind"),
    [
        (("wsep-no-such-command",), None, StartErrorKind.COMMAND_NOT_FOUND),
        (("true",), "/wsep-no-such-directory", StartErrorKind.NO_SUCH_DIRECTORY),
        (("/etc/hostname",), None, StartErrorKind.PERMISSION_DENIED),
    ],
)
async def test_a_bad_start_is_start_failed_with_the_kind_of_its_code(
    url: str, argv: tuple[str, ...], cwd: str | None, kind: StartErrorKind
) -> None:
    async with wsep_client.connect(url) as remote:
        with pytest.raises(StartFailed) as info:
            await remote.run(*argv, cwd=cwd)
    assert type(info.value) is StartFailed
    assert info.value.kind is kind
    assert info.value.code == kind.value


async def test_an_unknown_session_is_no_such_session(url: str) -> None:
    async with wsep_client.connect(url) as remote:
        with pytest.raises(NoSuchSession):
            await remote.session_info("wsep-no-such-session")


FakeServer = Callable[[bool, str], Awaitable[str]]


@pytest.fixture
async def newer_server() -> AsyncIterator[FakeServer]:
    """A v2 peer that answers every start with an error code this client does not know."""
    from aiohttp import web

    runners: list[web.AppRunner] = []

    async def factory(started: bool, code: str) -> str:
        async def handle(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(protocols=("wsep.v2",))
            await ws.prepare(request)
            await ws.receive()  # the start
            if started:
                await ws.send_bytes(b'{"type":"pid","pid":4242}\n')
            await ws.send_bytes(encode(Error(code, "come back tomorrow", 1008)))
            await ws.close(code=1008, message=b"come back tomorrow")
            return ws

        app = web.Application()
        app.router.add_get("/", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"ws://127.0.0.1:{runner.addresses[0][1]}/"

    yield factory
    for runner in runners:
        await runner.cleanup()


async def test_an_unknown_code_before_the_start_is_a_generic_start_failure(
    newer_server: FakeServer,
) -> None:
    url = await newer_server(False, "quota_exhausted")
    async with wsep_client.connect(url, check=False, version=ProtocolVersion.V2) as remote:
        with pytest.raises(StartFailed) as info:
            await remote.run("true")
    assert type(info.value) is StartFailed
    assert info.value.kind is StartErrorKind.OTHER
    assert info.value.code == "quota_exhausted"
    assert "come back tomorrow" in str(info.value)


async def test_an_unknown_code_after_the_start_is_a_lost_connection(
    newer_server: FakeServer,
) -> None:
    url = await newer_server(True, "quota_exhausted")
    async with wsep_client.connect(url, check=False, version=ProtocolVersion.V2) as remote:
        proc = await remote.create_process("true")
        with pytest.raises(ConnectionLost, match="quota_exhausted: come back tomorrow"):
            await proc.wait()
