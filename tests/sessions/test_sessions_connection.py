"""The state machine with the session extension: attach, management requests, read-only."""

from __future__ import annotations

import pytest
from wsep_protocol import (
    CloseStdin,
    Command,
    Connection,
    ConnectionState,
    ExitCode,
    LocalProtocolError,
    Pid,
    ProtocolVersion,
    ProtocolViolation,
    Resize,
    Role,
    Signal,
    Start,
    Stdin,
    Stdout,
    encode,
)
from wsep_protocol.sessions import (
    Attach,
    Attached,
    EndSession,
    Gap,
    GetSession,
    ListSessions,
    SessionEnded,
    SessionList,
)

V2 = ProtocolVersion.V2
CMD = Command("sh", tty=True)


def pair(version: ProtocolVersion = V2) -> tuple[Connection, Connection]:
    return Connection(Role.CLIENT, version), Connection(Role.SERVER, version)


def deliver(sender: Connection, receiver: Connection, message: object) -> object:
    return receiver.receive(sender.send(message))  # type: ignore[arg-type]


def test_management_requests_come_before_start_any_number_of_times() -> None:
    client, server = pair()
    for request in (ListSessions(), GetSession("a"), EndSession("a"), ListSessions()):
        assert deliver(client, server, request) == request
        assert client.state is server.state is ConnectionState.AWAITING_START
    assert deliver(server, client, SessionList(())) == SessionList(())
    assert deliver(server, client, SessionEnded("a")) == SessionEnded("a")
    assert client.state is ConnectionState.AWAITING_START
    # A start may still follow; after it, requests and replies are out of place.
    deliver(client, server, Start(CMD, id="a"))
    with pytest.raises(LocalProtocolError, match="only before start"):
        client.send(ListSessions())
    with pytest.raises(ProtocolViolation, match="after start"):
        server.receive(encode(ListSessions()))
    with pytest.raises(LocalProtocolError, match="only before start"):
        server.send(SessionList(()))
    deliver(server, client, Pid(1))
    with pytest.raises(ProtocolViolation, match="after start"):
        client.receive(encode(SessionEnded("a")))


def test_attach_takes_the_place_of_start() -> None:
    client, server = pair()
    attach = Attach("s", rows=10, cols=20)
    assert deliver(client, server, attach) == attach
    assert server.state is ConnectionState.STARTING
    assert server.session_id == "s"
    assert server.command is None
    assert not server.read_only
    with pytest.raises(LocalProtocolError, match="only once"):
        client.send(Start(CMD))
    with pytest.raises(ProtocolViolation, match="second start"):
        server.receive(encode(Start(CMD)))
    with pytest.raises(ProtocolViolation, match="second start"):
        server.receive(encode(attach))
    deliver(server, client, Pid(7))
    deliver(server, client, Attached("s", created=False, tty=True))
    deliver(server, client, Gap("stdout", 0, 10))
    deliver(server, client, Stdout(b"x"))
    # Without a command the server knows best: input passes the state machine.
    assert deliver(client, server, Stdin(b"ls\n")) == Stdin(b"ls\n")
    assert deliver(client, server, Resize(5, 5)) == Resize(5, 5)
    deliver(server, client, ExitCode(0))


def test_a_read_only_attachment_sends_no_input() -> None:
    client, server = pair()
    deliver(client, server, Attach("s", read_only=True))
    assert client.read_only
    assert server.read_only
    deliver(server, client, Pid(7))
    for message in (Stdin(b"x"), CloseStdin(), Resize(1, 1), Signal("SIGINT")):
        with pytest.raises(LocalProtocolError, match="read-only"):
            client.send(message)
        with pytest.raises(ProtocolViolation, match="read-only") as info:
            server.receive(encode(message))
        assert info.value.close_code == 1008
    deliver(server, client, ExitCode(0))
    assert server.receive(encode(Stdin(b"late"))) is None  # after the exit: ignored


def test_attach_with_a_command_checks_input_like_start() -> None:
    client, server = pair()
    deliver(client, server, Attach("job", Command("cat"), resumable=True))
    assert server.command == Command("cat")
    deliver(server, client, Pid(7))
    with pytest.raises(ProtocolViolation, match="stdin was not enabled"):
        server.receive(encode(Stdin(b"x")))


def test_v1_knows_nothing_of_the_extension() -> None:
    client, server = pair(ProtocolVersion.V1)
    with pytest.raises(LocalProtocolError, match="needs protocol v2"):
        client.send(ListSessions())
    assert server.receive(encode(ListSessions())) is None
    assert server.receive(encode(Attach("s"))) is None
    assert server.state is ConnectionState.AWAITING_START
    with pytest.raises(LocalProtocolError, match="needs protocol v2"):
        server.send(SessionList(()))
