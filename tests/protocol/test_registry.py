"""Extensions register through an explicit registry handed to a ``Connection``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import wsep_protocol as wp
from support.typecheck import strict_mypy
from wsep_protocol import ConnectionState as S
from wsep_protocol import Extension, Phase, Registry
from wsep_protocol.flow import FLOW
from wsep_protocol.sessions import (
    SESSIONS,
    Attach,
    Attached,
    EndSession,
    Gap,
    GetSession,
    ListSessions,
    SessionDetails,
    SessionEnded,
    SessionList,
)

V2 = wp.ProtocolVersion.V2
CAT = wp.Command("cat", stdin=True)


@dataclass(frozen=True)
class Ping(wp.ExtensionMessage):
    """A client message about the running process (like ``stdin``)."""

    TYPE: ClassVar[str] = "test_ping"
    n: int = 0

    def encode(self) -> bytes:
        return wp.encode_json({"type": self.TYPE, "n": self.n}) + b"\n"

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> Ping:
        n = header.get("n", 0)
        if not isinstance(n, int):
            raise wp.MalformedMessage("test_ping.n must be an integer")
        return cls(n)


@dataclass(frozen=True)
class Hello(wp.ExtensionMessage):
    """A server message before any start (like ``sessions``)."""

    TYPE: ClassVar[str] = "test_hello"
    PHASE: ClassVar[Phase] = Phase.IDLE

    def encode(self) -> bytes:
        return b'{"type":"test_hello"}\n'

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> Hello:
        return cls()


@dataclass(frozen=True)
class Spawn(wp.StartingMessage):
    """A client message in place of ``start``."""

    TYPE: ClassVar[str] = "test_spawn"
    id: str = ""
    command: wp.Command | None = None
    read_only: bool = False

    def encode(self) -> bytes:
        return wp.encode_json({"type": self.TYPE, "id": self.id, "read_only": self.read_only})

    @classmethod
    def parse(cls, header: Mapping[str, object], body: memoryview | None) -> Spawn:
        session_id, read_only = header.get("id", ""), header.get("read_only", False)
        assert isinstance(session_id, str)
        assert isinstance(read_only, bool)
        return cls(session_id, None, read_only)


TEST = Extension("test", client=(Ping, Spawn), server=(Hello,))


def test_default_registry_is_todays_set_of_messages() -> None:
    registry = wp.DEFAULT_REGISTRY
    assert registry.extensions == (SESSIONS, FLOW) == wp.DEFAULT_EXTENSIONS
    assert registry.client_messages == (
        wp.Start,
        wp.Stdin,
        wp.CloseStdin,
        wp.Resize,
        wp.Signal,
        Attach,
        ListSessions,
        GetSession,
        EndSession,
        wp.Flow,
        wp.FlowAck,
    )
    assert registry.server_messages == (
        wp.Pid,
        wp.Stdout,
        wp.Stderr,
        wp.ExitCode,
        wp.Error,
        Attached,
        Gap,
        SessionList,
        SessionDetails,
        SessionEnded,
    )
    assert wp.Connection(wp.Role.SERVER).registry is registry


def test_an_empty_registry_knows_only_the_built_in_messages() -> None:
    conn = wp.Connection(wp.Role.SERVER, V2, registry=Registry())
    wire = wp.encode(Attach("s"))
    assert conn.receive(wire) is None  # an unknown type: ignored
    assert conn.state is S.AWAITING_START
    client = wp.Connection(wp.Role.CLIENT, V2, registry=Registry())
    with pytest.raises(wp.LocalProtocolError, match="cannot send attach"):
        client.send(Attach("s"))


def test_extended_registry_leaves_the_default_as_it_was() -> None:
    registry = wp.DEFAULT_REGISTRY.extended(TEST)
    assert registry.extensions == (SESSIONS, FLOW, TEST)
    assert Ping not in wp.DEFAULT_REGISTRY.client_messages
    assert wp.decode(Ping(1).encode()) == wp.UnknownMessage("test_ping")
    assert registry.decode(Ping(1).encode()) == Ping(1)


def test_extension_message_about_the_process_follows_the_start() -> None:
    registry = wp.DEFAULT_REGISTRY.extended(TEST)
    client = wp.Connection(wp.Role.CLIENT, V2, registry=registry)
    server = wp.Connection(wp.Role.SERVER, V2, registry=registry)
    with pytest.raises(wp.LocalProtocolError, match="test_ping before start"):
        client.send(Ping(1))
    with pytest.raises(wp.ProtocolViolation, match="test_ping before start"):
        server.receive(Ping(1).encode())
    server.receive(client.send(wp.Start(CAT)))
    assert server.receive(client.send(Ping(2))) == Ping(2)


def test_v1_connection_ignores_extension_messages() -> None:
    registry = wp.DEFAULT_REGISTRY.extended(TEST)
    server = wp.Connection(wp.Role.SERVER, registry=registry)
    server.receive(wp.encode(wp.Start(CAT)))
    assert server.receive(Ping(2).encode()) is None
    with pytest.raises(wp.LocalProtocolError, match="needs protocol v2"):
        wp.Connection(wp.Role.SERVER, registry=registry).send(Hello())


def test_idle_extension_message_only_before_a_start() -> None:
    registry = wp.DEFAULT_REGISTRY.extended(TEST)
    client = wp.Connection(wp.Role.CLIENT, V2, registry=registry)
    server = wp.Connection(wp.Role.SERVER, V2, registry=registry)
    assert client.receive(server.send(Hello())) == Hello()
    assert client.receive(server.send(Hello())) == Hello()
    assert client.state is S.AWAITING_START
    server.receive(client.send(wp.Start(CAT)))
    with pytest.raises(wp.LocalProtocolError, match="test_hello only before start"):
        server.send(Hello())


def test_starting_extension_message_takes_the_place_of_start() -> None:
    registry = wp.DEFAULT_REGISTRY.extended(TEST)
    client = wp.Connection(wp.Role.CLIENT, V2, registry=registry)
    server = wp.Connection(wp.Role.SERVER, V2, registry=registry)
    assert server.receive(client.send(Spawn("job", None, read_only=True))) == Spawn(
        "job", None, True
    )
    for conn in (client, server):
        assert conn.state is S.STARTING
        assert conn.session_id == "job"
        assert conn.command is None
        assert conn.read_only
    with pytest.raises(wp.LocalProtocolError, match="only once"):
        client.send(wp.Start(CAT))
    with pytest.raises(wp.ProtocolViolation, match="second start"):
        server.receive(wp.encode(wp.Start(CAT)))


def test_a_side_sends_only_its_own_extension_messages() -> None:
    registry = wp.DEFAULT_REGISTRY.extended(TEST)
    with pytest.raises(wp.LocalProtocolError, match="a server cannot send test_ping"):
        wp.Connection(wp.Role.SERVER, V2, registry=registry).send(Ping())
    with pytest.raises(wp.ProtocolViolation, match="test_hello is a server message"):
        wp.Connection(wp.Role.SERVER, V2, registry=registry).receive(Hello().encode())


def test_registry_refuses_what_is_not_an_extension_message() -> None:
    class Plain:
        TYPE: ClassVar[str] = "plain"

    with pytest.raises(TypeError, match="not an ExtensionMessage"):
        Registry([Extension("bad", client=(Plain,))])  # type: ignore[arg-type]


def test_registry_refuses_a_taken_wire_type() -> None:
    @dataclass(frozen=True)
    class FakeStdin(Ping):
        TYPE: ClassVar[str] = "stdin"

    with pytest.raises(ValueError, match="'stdin' is taken"):
        Registry([Extension("bad", client=(FakeStdin,))])
    with pytest.raises(ValueError, match="'test_ping' is taken"):
        Registry([TEST, Extension("again", server=(Ping,))])
    with pytest.raises(ValueError, match="'attach' is taken"):
        wp.DEFAULT_REGISTRY.extended(SESSIONS)


def test_registry_refuses_a_start_in_disguise() -> None:
    @dataclass(frozen=True)
    class Begin(Ping):
        PHASE: ClassVar[Phase] = Phase.START

    @dataclass(frozen=True)
    class IdleSpawn(Spawn):
        PHASE: ClassVar[Phase] = Phase.IDLE

    for cls in (Begin, IdleSpawn):
        with pytest.raises(TypeError, match="exactly when it is a StartingMessage"):
            Registry([Extension("bad", client=(cls,))])


def test_encode_refuses_unregistered_extension_messages() -> None:
    with pytest.raises(TypeError, match="not a registered extension message"):
        wp.DEFAULT_REGISTRY.encode(Ping())
    with pytest.raises(wp.LocalProtocolError, match="cannot send test_ping"):
        wp.Connection(wp.Role.CLIENT, V2).send(Ping())


def test_receive_is_a_closed_union(tmp_path: Path) -> None:
    """Under mypy --strict ``receive`` names every built-in class; look-alikes are refused."""
    out, errors, status = strict_mypy(
        tmp_path,
        "closed_union.py",
        "from typing import ClassVar\n"
        "from wsep_protocol import Connection, Role\n"
        "class LookAlike:\n"
        "    TYPE: ClassVar[str] = 'stdin'\n"
        "conn = Connection(Role.CLIENT)\n"
        "reveal_type(conn.receive(b''))\n"
        "conn.send(LookAlike())\n",
    )
    revealed = next(line for line in out.splitlines() if "Revealed type" in line)
    for name in ("Start", "Stdout", "ExitCode", "Error", "UnknownMessage", "ExtensionMessage"):
        assert f"wsep_protocol.messages.{name}" in revealed, revealed
    assert len(errors) == 1, out
    assert "closed_union.py:7:" in errors[0]
    assert status == 1


def test_registry_refuses_a_message_without_a_wire_type_or_phase() -> None:
    @dataclass(frozen=True)
    class Nameless(wp.ExtensionMessage):
        pass

    @dataclass(frozen=True)
    class Numbered(Ping):
        TYPE: ClassVar[str] = 5  # type: ignore[assignment]

    @dataclass(frozen=True)
    class Phaseless(Ping):
        TYPE: ClassVar[str] = "test_phaseless"
        PHASE: ClassVar[Phase] = "idle"  # type: ignore[assignment]

    for cls in (Nameless, Numbered):
        with pytest.raises(TypeError, match="has no wire TYPE"):
            Registry([Extension("bad", client=(cls,))])
    with pytest.raises(TypeError, match="PHASE is not a Phase"):
        Registry([Extension("bad", client=(Phaseless,))])


def test_a_registry_names_its_extensions_and_refuses_to_send_what_is_no_message() -> None:
    assert "test" in repr(wp.DEFAULT_REGISTRY.extended(TEST))
    with pytest.raises(wp.LocalProtocolError, match="a client cannot send object"):
        wp.Connection(wp.Role.CLIENT, V2).send(object())  # type: ignore[arg-type]
