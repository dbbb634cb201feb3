"""The start policy's contract end to end: one typed request in, one typed decision out.

Every test runs a real server on a real socket with real processes; the
policy is asked once per start, and what it decided is what happens.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from support import TIMEOUT
from support.rawws import RawWebSocket
from support.wire import collect, run, start_bytes
from wsep_protocol import SUBPROTOCOL_V2, Command, PolicyViolation, Process
from wsep_server import ConnectionRecord, Identity, RunLimits, StartDecision, StartRequest
from wsep_server.local import LocalExecer
from wsep_server.policy import EnvironmentPlan, RunAs

MakeServer = Callable[..., Awaitable[str]]


class Deciding:
    """Answers every start with ``decision`` and keeps what it was asked."""

    def __init__(self, decision: StartDecision) -> None:
        self.decision = decision
        self.requests: list[StartRequest] = []

    async def decide(self, request: StartRequest) -> StartDecision:
        self.requests.append(request)
        return self.decision


class Ended:
    """An observer that keeps the records of ended sessions."""

    def __init__(self) -> None:
        self.records: list[ConnectionRecord] = []
        self.done = asyncio.Event()

    def on_start(self, record: ConnectionRecord) -> None:
        pass

    def on_end(self, record: ConnectionRecord) -> None:
        self.records.append(record)
        self.done.set()


class PlainWrapper:
    """An execer that wraps another but knows nothing of decisions (only ``start``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.started: list[Command] = []

    async def start(self, command: Command) -> Process:
        self.started.append(command)
        process: Process = await self.inner.start(command)
        return process


class CountingExecer(PlainWrapper):
    """A wrapper that passes the decision on, as wrapping execers should."""

    async def start_decided(self, request: StartRequest, decision: StartDecision) -> Process:
        from wsep_server.policy import start_decided

        self.started.append(request.command)
        return await start_decided(self.inner, request, decision)


def _local() -> LocalExecer:
    return LocalExecer(grace_period=2.0, output_linger=0.5)


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_refusal_carries_reason_and_code_and_spawns_nothing(
    make_server: MakeServer, version: str
) -> None:
    execer = CountingExecer(_local())
    ended = Ended()
    policy = Deciding(StartDecision.refuse("quota used up", code="quota_exceeded"))
    url = await make_server(execer=execer, policy=policy, observers=[ended])
    ws = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2] if version == "v2" else [])
    await ws.send_message(start_bytes("true"))
    res = await collect(ws)
    assert res.close == (1008, "quota used up")
    if version == "v2":
        assert [e["code"] for e in res.errors] == ["quota_exceeded"]
    else:
        assert res.types == []
    await asyncio.wait_for(ended.done.wait(), TIMEOUT)
    assert execer.started == []
    (record,) = ended.records
    assert record.end_reason == "policy: quota used up"
    assert record.pid is None


async def test_the_request_is_what_the_server_knows(make_server: MakeServer) -> None:
    from aiohttp import web
    from wsep_server import IDENTITY_KEY

    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        request[IDENTITY_KEY] = Identity("alice", {"auth": "token"})
        return await handler(request)

    ended = Ended()
    policy = Deciding(StartDecision.allow())
    url = await make_server(policy=policy, middlewares=[auth], observers=[ended])
    res = await run(url, "sh", "-c", "exit 3", tty=True, id="job-1", subprotocols=(SUBPROTOCOL_V2,))
    assert res.exit is not None
    assert res.exit["exit_code"] == 3
    await asyncio.wait_for(ended.done.wait(), TIMEOUT)
    (request,) = policy.requests
    assert request.identity == Identity("alice", {"auth": "token"})
    assert request.identity_name == "alice"
    assert request.command.argv == ("sh", "-c", "exit 3")
    assert request.tty is True
    assert request.session_id == "job-1"
    assert request.record_id == ended.records[0].id
    assert request.reattach is False
    assert request.peer == ended.records[0].peer
    assert request.peer.startswith("127.0.0.1:")
    assert request.http is not None


async def test_policy_raising_refuses_like_before(make_server: MakeServer) -> None:
    class Raising:
        async def decide(self, request: StartRequest) -> StartDecision:
            raise PolicyViolation("not today")

    execer = CountingExecer(_local())
    url = await make_server(execer=execer, policy=Raising())
    ws = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2])
    await ws.send_message(start_bytes("true"))
    res = await collect(ws)
    assert [e["code"] for e in res.errors] == ["policy_violation"]
    assert res.close == (1008, "not today")
    assert execer.started == []


@pytest.mark.parametrize("record", [True, False])
async def test_recording_is_decided_once_and_honoured(
    make_server: MakeServer, tmp_path: Path, record: bool
) -> None:
    from wsep_server.recording import RecordingExecer

    casts = tmp_path / "casts"
    ended = Ended()
    policy = Deciding(StartDecision.allow(record=record))
    url = await make_server(
        execer=RecordingExecer(_local(), casts), policy=policy, observers=[ended]
    )
    res = await run(url, "sh", "-c", "echo recorded-or-not")
    assert res.stdout == b"recorded-or-not\n"
    await asyncio.wait_for(ended.done.wait(), TIMEOUT)
    assert len(policy.requests) == 1
    assert ended.records[0].recorded is record
    files = list(casts.iterdir())
    if record:
        (cast,) = files
        assert "recorded-or-not" in cast.read_text()
    else:
        assert files == []


async def test_a_reattached_session_is_recorded_once(
    make_server: MakeServer, tmp_path: Path, no_leaked_children: None
) -> None:
    """The decision of the start that created the session records it; a reattach asks
    the policy again (as a reattach) and starts no second recording."""
    from wsep_server.recording import RecordingExecer
    from wsep_server.sessions import SessionManager

    casts = tmp_path / "casts"
    execer = RecordingExecer(_local(), casts)
    policy = Deciding(StartDecision.allow(record=True))
    manager = SessionManager(execer)
    url = await make_server(execer=execer, policy=policy, session_manager=manager)
    first = await RawWebSocket.connect(url)
    await first.send_message(start_bytes("sh", "-c", "read x; echo got-$x", tty=True, id="rec"))
    await first.recv_message()  # pid
    await first.close()
    await first.recv_close()
    again = await RawWebSocket.connect(url)
    await again.send_message(start_bytes("sh", "-c", "ignored", tty=True, id="rec"))
    await again.recv_message()  # pid
    await again.send_message(b'{"type":"stdin"}\nyes\n')
    res = await collect(again)
    assert b"got-yes" in res.stdout
    assert [r.reattach for r in policy.requests] == [False, True]
    (cast,) = casts.iterdir()
    assert cast.read_text().count("got-yes") == 1


@pytest.mark.parametrize(
    ("plan", "inherited"),
    [(None, True), (EnvironmentPlan("inherit"), True), (EnvironmentPlan("clean"), False)],
)
async def test_the_environment_plan_is_applied(
    make_server: MakeServer,
    monkeypatch: pytest.MonkeyPatch,
    plan: EnvironmentPlan | None,
    inherited: bool,
) -> None:
    monkeypatch.setenv("POLICY_TEST_SERVER_ONLY", "server-value")
    url = await make_server(policy=Deciding(StartDecision.allow(environment=plan)))
    res = await run(url, "sh", "-c", 'echo "[$POLICY_TEST_SERVER_ONLY]"; echo "$LOGNAME"')
    marker, logname = res.stdout.decode().splitlines()
    assert marker == ("[server-value]" if inherited else "[]")
    if not inherited:  # a clean environment is the run-as user's login one
        import pwd

        assert logname == pwd.getpwuid(os.geteuid()).pw_name


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_the_run_as_user_is_applied(make_server: MakeServer) -> None:
    """The decision names the user, whatever the command asked for."""
    policy = Deciding(StartDecision.allow(run_as=RunAs(65534, 65534)))
    url = await make_server(policy=policy)
    res = await run(url, "sh", "-c", "id -u; id -g")
    assert res.stdout == b"65534\n65534\n"


@pytest.mark.parametrize(
    "decision",
    [
        StartDecision.allow(environment=EnvironmentPlan("clean")),
        StartDecision.allow(run_as=RunAs(65534, 65534)),
    ],
    ids=["clean-environment", "other-user"],
)
async def test_an_execer_that_cannot_carry_out_the_decision_refuses(
    make_server: MakeServer, decision: StartDecision
) -> None:
    """Fail closed: a wrapper without ``start_decided`` would drop the environment or the
    user; the start is refused before anything is spawned instead."""
    execer = PlainWrapper(_local())
    url = await make_server(execer=execer, policy=Deciding(decision))
    ws = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2])
    await ws.send_message(start_bytes("true"))
    res = await collect(ws)
    assert [e["code"] for e in res.errors] == ["policy_violation"]
    assert res.close is not None
    assert res.close[0] == 1008
    assert "cannot apply" in res.close[1]
    assert execer.started == []


async def test_a_plain_execer_serves_what_it_can_carry_out(make_server: MakeServer) -> None:
    execer = PlainWrapper(_local())
    policy = Deciding(StartDecision.allow(environment=EnvironmentPlan("inherit")))
    url = await make_server(execer=execer, policy=policy)
    res = await run(url, "echo", "served")
    assert res.stdout == b"served\n"
    assert len(execer.started) == 1


async def test_reattach_and_new_are_told_apart(
    make_server: MakeServer, no_leaked_children: None
) -> None:
    from wsep_protocol import Connection, ProtocolVersion, Role
    from wsep_protocol.sessions import Attach
    from wsep_server.sessions import SessionManager

    policy = Deciding(StartDecision.allow())
    url = await make_server(policy=policy, session_manager=SessionManager(_local()))
    first = await RawWebSocket.connect(url)
    await first.send_message(start_bytes("sh", "-c", "read x", tty=True, id="s1"))
    await first.recv_message()  # pid
    await first.close()
    await first.recv_close()
    await run(url, "true", tty=True, id="s2")  # another id: new
    client = await RawWebSocket.connect(url, subprotocols=[SUBPROTOCOL_V2])
    await client.send_message(Connection(Role.CLIENT, ProtocolVersion.V2).send(Attach(id="s1")))
    await client.send_message(b'{"type":"stdin"}\nbye\n')
    res = await collect(client)
    assert res.exit is not None
    assert [(r.session_id, r.reattach) for r in policy.requests] == [
        ("s1", False),
        ("s2", False),
        ("s1", True),
    ]


async def test_deprecated_policy_record_limit_still_records(
    make_server: MakeServer, tmp_path: Path
) -> None:
    """``RunLimits(record=True)`` from a ``check_start`` policy decides, with warnings."""
    from wsep_server.recording import RecordingExecer

    class Old:
        async def check_start(
            self, request: Any, identity: Any, command: Command, session_id: str
        ) -> RunLimits:
            with pytest.warns(DeprecationWarning, match="record"):
                return RunLimits(record=True)

    casts = tmp_path / "casts"
    with pytest.warns(DeprecationWarning, match="check_start"):
        url = await make_server(execer=RecordingExecer(_local(), casts), policy=Old())
    res = await run(url, "echo", "old-style")
    assert res.stdout == b"old-style\n"
    (cast,) = casts.iterdir()
    assert "old-style" in cast.read_text()


async def test_file_policy_session_slot_lasts_as_long_as_the_session(
    make_server: MakeServer, tmp_path: Path, no_leaked_children: None
) -> None:
    """``max_sessions`` counts a reattachable session until it ends, not until its
    connection does; a reattach takes no second slot."""
    from wsep_server.policy import FilePolicy, parse_policy
    from wsep_server.sessions import SessionManager

    rules = {"max_sessions": 1, "uids": [os.geteuid()], "gids": [os.getegid()]}
    policy = FilePolicy(parse_policy({"anonymous": rules}))
    url = await make_server(policy=policy, session_manager=SessionManager(_local()))
    first = await RawWebSocket.connect(url)
    await first.send_message(start_bytes("sh", "-c", "read x", tty=True, id="held"))
    await first.recv_message()  # pid
    await first.close()
    await first.recv_close()
    refused = await run(url, "true", subprotocols=(SUBPROTOCOL_V2,))
    assert refused.close is not None
    assert refused.close[0] == 1008
    assert "concurrent" in refused.close[1]
    again = await RawWebSocket.connect(url)
    await again.send_message(start_bytes("sh", "-c", "read x", tty=True, id="held"))
    await again.recv_message()  # pid: the reattach is allowed
    await again.send_message(b'{"type":"stdin"}\nbye\n')
    res = await collect(again)
    assert res.exit is not None

    async def slot_free() -> None:
        while policy._active:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(slot_free(), TIMEOUT)
    allowed = await run(url, "echo", "free again")
    assert allowed.stdout == b"free again\n"


async def test_file_policy_decides_everything_in_one_decision(tmp_path: Path) -> None:
    """What the policy file says arrives in the decision: limits, recording (TTY or not),
    the user it checked, the environment, and the command it resolved."""
    from wsep_server.policy import FilePolicy, parse_policy

    rules = {
        "uids": [os.geteuid()],
        "gids": [os.getegid()],
        "max_duration": 60,
        "max_output_bytes": 1000,
        "record": True,
        "environment": "clean",
        "env_passthrough": ["LANG"],
    }
    policy = FilePolicy(parse_policy({"anonymous": rules}))
    tty = await policy.decide(StartRequest(None, Command("sh", tty=True)))
    pipes = await policy.decide(StartRequest(None, Command("sh")))
    assert tty.allowed
    assert pipes.allowed
    assert tty.limits == RunLimits(max_duration=60.0, max_output_bytes=1000)
    assert (tty.record, pipes.record) == (True, False)
    assert tty.run_as == RunAs(os.geteuid(), os.getegid())
    assert tty.environment == EnvironmentPlan("clean", ("LANG",))
    assert os.path.isabs(tty.executable)
    assert os.path.basename(tty.executable) == "sh"
    no_tty = FilePolicy(parse_policy({"anonymous": {**rules, "tty": False}}))
    with pytest.raises(PolicyViolation, match="TTY"):
        await no_tty.decide(StartRequest(None, Command("sh", tty=True)))


async def test_deprecated_policy_still_gets_its_request_keys(
    make_server: MakeServer, no_leaked_children: None
) -> None:
    """A ``check_start`` policy that counts sessions itself finds ``REATTACH_KEY`` on a
    reattach, and ``SESSION_ENDED_KEY`` set once what it allowed has ended: at the end of
    the request for a process, at the end of the session for a session that outlives it."""
    from aiohttp import web
    from wsep_server.hooks import REATTACH_KEY, SESSION_ENDED_KEY
    from wsep_server.sessions import SessionManager

    seen: list[tuple[str, bool]] = []
    at_request_end: list[asyncio.Event] = []

    class Counting:
        async def check_start(
            self, request: web.Request, identity: Any, command: Command, session_id: str
        ) -> RunLimits:
            seen.append((session_id, bool(request.get(REATTACH_KEY))))
            return RunLimits()

    @web.middleware
    async def release(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            at_request_end.append(request[SESSION_ENDED_KEY])

    with pytest.warns(DeprecationWarning, match="check_start"):
        url = await make_server(
            policy=Counting(), middlewares=[release], session_manager=SessionManager(_local())
        )

    async def ended(count: int) -> None:
        while len(at_request_end) < count:
            await asyncio.sleep(0.05)

    await run(url, "true", id="plain")
    await asyncio.wait_for(ended(1), TIMEOUT)  # in order: the client may see its end first
    first = await RawWebSocket.connect(url)
    await first.send_message(start_bytes("sh", "-c", "read x", tty=True, id="kept"))
    await first.recv_message()  # pid
    await first.close()
    await first.recv_close()
    again = await RawWebSocket.connect(url)
    await again.send_message(start_bytes("sh", "-c", "read x", tty=True, id="kept"))
    await again.recv_message()  # pid
    await asyncio.wait_for(ended(2), TIMEOUT)
    plain, kept = at_request_end
    assert plain.is_set()  # a process: its slot ends with the request
    assert not kept.is_set()  # the session outlives its first connection
    await again.send_message(b'{"type":"stdin"}\nbye\n')
    await collect(again)
    await asyncio.wait_for(kept.wait(), TIMEOUT)
    assert seen == [("plain", False), ("kept", False), ("kept", True)]
