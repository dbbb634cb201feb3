"""Real processes through the server: TTY, env, cwd, exit codes, stdin EOF, cleanup, hooks."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from support.proc import open_fds, wait_until_gone, zombies_of
from support.rawws import RawWebSocket
from support.wire import collect, header, run, start_bytes
from wsep_protocol import SUBPROTOCOL_V2, Command, PolicyViolation
from wsep_server import ConnectionRecord, Identity, RunLimits, StartDecision, StartRequest

MakeServer = Callable[..., Awaitable[str]]


async def test_tty_size_resize_and_merged_stderr(wsep_server: str) -> None:
    ws = await RawWebSocket.connect(wsep_server)
    script = "stty size; echo err >&2; read x; stty size"
    await ws.send_message(start_bytes("sh", "-c", script, tty=True, rows=30, cols=90))
    out = bytearray()
    while b"err\r\n" not in out:
        _, msg = await ws.recv_message()
        assert header(msg)["type"] in ("pid", "stdout")
        out += msg.partition(b"\n")[2] if header(msg)["type"] == "stdout" else b""
    assert bytes(out) == b"30 90\r\nerr\r\n"
    await ws.send_message(b'{"type":"resize","rows":40,"cols":100}')
    await ws.send_message(b'{"type":"stdin"}\ngo\n')
    res = await collect(ws)
    assert "stderr" not in res.types
    assert res.stdout.endswith(b"40 100\r\n")
    assert res.exit == {"type": "exit_code", "exit_code": 0, "error": ""}


async def test_tty_default_size_and_env(wsep_server: str) -> None:
    res = await run(wsep_server, "sh", "-c", "stty size; echo $WSEP_TTY", tty=True)
    assert res.stdout == b"24 80\r\ntrue\r\n"


async def test_env_and_working_dir(wsep_server: str, tmp_path: Any) -> None:
    res = await run(
        wsep_server,
        "sh",
        "-c",
        "pwd; echo $FOO; echo ${HOME:+home-inherited}",
        env=("FOO=bar",),
        working_dir=str(tmp_path),
    )
    assert res.stdout == f"{tmp_path}\nbar\nhome-inherited\n".encode()


@pytest.mark.parametrize(
    ("code", "error"), [(0, ""), (1, "exit status 1"), (255, "exit status 255")]
)
async def test_exit_codes(wsep_server: str, code: int, error: str) -> None:
    res = await run(wsep_server, "sh", "-c", f"exit {code}")
    assert res.exit == {"type": "exit_code", "exit_code": code, "error": error}
    assert res.types == ["pid", "exit_code"]


async def test_stdin_eof(wsep_server: str) -> None:
    res = await run(wsep_server, "sh", "-c", "cat; echo after-eof", input=b"line\n")
    assert res.stdout == b"line\nafter-eof\n"
    res = await run(wsep_server, "cat", input=b"")
    assert res.stdout == b""
    assert res.exit is not None
    assert res.exit["exit_code"] == 0


async def test_output_before_exit_even_from_fast_exit(wsep_server: str) -> None:
    for _ in range(20):
        res = await run(
            wsep_server, "sh", "-c", "head -c 300000 /dev/urandom | od -An | tail -c 5000"
        )
        assert len(res.stdout) == 5000
        assert res.types[-1] == "exit_code"


@pytest.mark.parametrize("how", ["close", "drop"])
async def test_disconnect_kills_grandchildren(wsep_server: str, how: str) -> None:
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_message(
        start_bytes("sh", "-c", "sh -c 'sleep 60 & sleep 60 & wait' & sleep 60 & echo up; wait")
    )
    _, msg = await ws.recv_message()
    pid = int(header(msg)["pid"])  # type: ignore[call-overload]
    _, up = await ws.recv_message()
    assert up.endswith(b"up\n")
    if how == "close":
        await ws.close(1000, "bye")
        await ws.recv_close()
    else:
        ws.abort()
    assert await wait_until_gone(pid) == []
    await ws.aclose()


async def test_many_sessions_no_zombies_no_fd_growth(wsep_server: str) -> None:
    async def one(i: int) -> None:
        res = await run(wsep_server, "sh", "-c", f"echo {i}; echo e >&2", input=b"x")
        assert res.stdout == f"{i}\n".encode()

    await one(-1)  # warm up lazily created fds
    fds_before = len(open_fds())
    for batch in range(20):
        await asyncio.gather(*(one(batch * 10 + i) for i in range(10)))
    assert zombies_of() == []
    assert len(open_fds()) <= fds_before + 2


# --- hooks: policy, limits, observers --------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.started: list[ConnectionRecord] = []
        self.ended: list[ConnectionRecord] = []
        self.done = asyncio.Event()

    def on_start(self, record: ConnectionRecord) -> None:
        self.started.append(record)

    async def on_end(self, record: ConnectionRecord) -> None:
        self.ended.append(record)
        self.done.set()


class Policy:
    def __init__(self, limits: RunLimits) -> None:
        self.limits = limits
        self.seen: list[StartRequest] = []

    async def decide(self, request: StartRequest) -> StartDecision:
        self.seen.append(request)
        if request.command.command == "forbidden":
            raise PolicyViolation("command 'forbidden' is not allowed")
        return StartDecision.allow(limits=self.limits)


async def test_observer_sees_session_record(make_server: MakeServer) -> None:
    rec = Recorder()
    url = await make_server(observers=[rec])
    res = await run(url, "sh", "-c", "cat; echo out; exit 4", input=b"12345")
    await asyncio.wait_for(rec.done.wait(), 30)
    assert len(rec.started) == 1
    (r,) = rec.ended
    assert r.argv == ("sh", "-c", "cat; echo out; exit 4")
    assert r.pid == res.pid
    assert r.bytes_in == 5
    assert r.bytes_out == len(b"12345out\n")
    assert r.exit_status is not None
    assert r.exit_status.code == 4
    assert r.end_reason == "exited"
    assert r.peer.startswith("127.0.0.1:")
    assert r.duration is not None
    assert r.duration >= 0


async def test_policy_refusal_spawns_nothing(make_server: MakeServer) -> None:
    rec = Recorder()
    policy = Policy(RunLimits())
    url = await make_server(policy=policy, observers=[rec])
    ws = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2])
    await ws.send_message(start_bytes("forbidden", id="abc"))
    res = await collect(ws)
    assert res.types == ["error"]
    assert res.errors[0]["code"] == "policy_violation"
    assert res.close == (1008, "command 'forbidden' is not allowed")
    await asyncio.wait_for(rec.done.wait(), 30)
    assert rec.started == []
    assert rec.ended[0].end_reason.startswith("policy:")
    assert rec.ended[0].pid is None
    assert policy.seen[0].command.command == "forbidden"
    assert policy.seen[0].session_id == "abc"
    assert policy.seen[0].record_id == rec.ended[0].id


async def test_deprecated_check_start_policy_gets_the_record_id(
    make_server: MakeServer,
) -> None:
    """The older ``check_start`` form still works, with a warning: one declaring
    ``record_id`` gets the server's unique id; four-argument ones work too."""

    class MatchingPolicy:
        def __init__(self) -> None:
            self.seen: list[tuple[str, str]] = []

        async def check_start(
            self,
            request: Any,
            identity: Identity | None,
            command: Command,
            session_id: str,
            *,
            record_id: str = "",
        ) -> RunLimits:
            self.seen.append((session_id, record_id))
            return RunLimits()

    class FourArguments:
        def __init__(self) -> None:
            self.seen: list[str] = []

        async def check_start(
            self, request: Any, identity: Identity | None, command: Command, session_id: str
        ) -> RunLimits:
            self.seen.append(session_id)
            return RunLimits()

    rec = Recorder()
    policy = MatchingPolicy()
    with pytest.warns(DeprecationWarning, match="check_start"):
        url = await make_server(policy=policy, observers=[rec])
    for _ in range(2):
        rec.done.clear()
        ws = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2])
        await ws.send_message(start_bytes("true", id="same"))
        await collect(ws)
        await asyncio.wait_for(rec.done.wait(), 30)
    assert [s for s, _ in policy.seen] == ["same", "same"]
    assert [r for _, r in policy.seen] == [r.id for r in rec.ended]
    assert len({r.id for r in rec.ended}) == 2
    legacy = FourArguments()
    with pytest.warns(DeprecationWarning, match="check_start"):
        url = await make_server(policy=legacy)
    await run(url, "true", id="four")
    assert legacy.seen == ["four"]


async def test_identity_from_middleware_reaches_policy(make_server: MakeServer) -> None:
    from aiohttp import web
    from wsep_server import IDENTITY_KEY

    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        request[IDENTITY_KEY] = Identity("alice", {"role": "dev"})
        return await handler(request)

    policy = Policy(RunLimits())
    url = await make_server(policy=policy, middlewares=[auth])
    await run(url, "true")
    assert policy.seen[0].identity == Identity("alice", {"role": "dev"})


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_max_duration_ends_process(make_server: MakeServer, version: str) -> None:
    rec = Recorder()
    url = await make_server(policy=Policy(RunLimits(max_duration=0.3)), observers=[rec])
    protos = (SUBPROTOCOL_V2,) if version == "v2" else ()
    ws = await RawWebSocket.connect(url, subprotocols=protos)
    await ws.send_message(start_bytes("sh", "-c", "echo started; sleep 60 & wait"))
    res = await collect(ws, until_exit=False)
    assert res.stdout == b"started\n"
    assert res.exit is not None
    assert res.exit["exit_code"] == -1
    assert res.close is not None
    assert res.close[0] == 1008
    assert "duration" in res.close[1]
    if version == "v2":
        assert res.errors[0]["code"] == "limit_exceeded"
    await asyncio.wait_for(rec.done.wait(), 30)
    assert rec.ended[0].end_reason.startswith("limit: maximum duration")
    assert res.pid is not None
    assert await wait_until_gone(res.pid) == []


async def test_max_output_bytes_ends_process(make_server: MakeServer) -> None:
    url = await make_server(policy=Policy(RunLimits(max_output_bytes=100_000)))
    ws = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2])
    await ws.send_message(start_bytes("cat", "/dev/zero"))
    res = await collect(ws, until_exit=False)
    assert res.stdout == bytes(100_000)
    assert res.errors[0]["code"] == "limit_exceeded"
    assert res.exit is not None
    assert res.close is not None
    assert res.close[0] == 1008
    assert "output limit" in res.close[1]


async def test_pid_stays_alive_while_client_keeps_reading(wsep_server: str) -> None:
    # Sanity check of wait_until_gone: a running session's process is alive.
    ws = await RawWebSocket.connect(wsep_server)
    await ws.send_message(start_bytes("sleep", "30"))
    _, msg = await ws.recv_message()
    pid = int(header(msg)["pid"])  # type: ignore[call-overload]
    assert os.path.exists(f"/proc/{pid}")
    assert await wait_until_gone(pid, timeout=0.2) == [pid]
    await ws.close()
    await ws.recv_close()
    assert await wait_until_gone(pid) == []


async def test_heartbeat_detects_dead_peer(make_server: MakeServer) -> None:
    from support.rawws import OP_PING
    from wsep_server import ServerConfig

    url = await make_server(config=ServerConfig(heartbeat=0.2))
    ws = await RawWebSocket.connect(url)
    await ws.send_message(start_bytes("sleep", "60"))
    _, msg = await ws.recv_message()
    pid = int(header(msg)["pid"])  # type: ignore[call-overload]
    # Read frames but never answer the pings: the server must give up on us.
    pings = 0
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while (await ws.recv_frame()).opcode == OP_PING:
            pings += 1
    assert pings >= 1
    assert await wait_until_gone(pid) == []
    await ws.aclose()


async def test_server_closes_after_exit_linger(make_server: MakeServer) -> None:
    from wsep_server import ServerConfig

    url = await make_server(config=ServerConfig(exit_linger=0.1))
    ws = await RawWebSocket.connect(url)
    await ws.send_message(start_bytes("true"))
    res = await collect(ws, until_exit=False)
    assert res.types == ["pid", "exit_code"]
    assert res.close == (1000, "exited")
